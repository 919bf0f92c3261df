//! The real brand files and a fixed moment, for the catalog's unit tests.

use chrono::{DateTime, Utc};

use super::Catalog;

pub const FASHION: &str = include_str!("../../../../brands/fashion/catalog.json");
const TECH: &str = include_str!("../../../../brands/tech/catalog.json");
const HOME: &str = include_str!("../../../../brands/home/catalog.json");
const BEAUTY: &str = include_str!("../../../../brands/beauty/catalog.json");
const GAMING: &str = include_str!("../../../../brands/gaming/catalog.json");

const FILES: [(&str, &str); 5] =
    [("fashion", FASHION), ("tech", TECH), ("home", HOME), ("beauty", BEAUTY), ("gaming", GAMING)];

pub fn catalog() -> Catalog {
    Catalog::from_files(FILES).unwrap_or_else(|e| panic!("{e}"))
}

/// Inside every brand's active promotions and after every expired one.
pub fn now() -> DateTime<Utc> {
    at("2026-12-01T12:00:00Z")
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}
