//! The format of a `brands/<brand>/catalog.json` file, as serde reads it.

use std::collections::BTreeMap;

use agent_store_events::{Money, Variants};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One `brands/<brand>/catalog.json` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogFile {
    pub brand: String,
    pub display_name: String,
    pub currency: String,
    pub products: Vec<CatalogProduct>,
    #[serde(default)]
    pub promotions: Vec<Promotion>,
}

/// A product as written in a catalog file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: String,
    pub name: String,
    /// The name in Spanish and Portuguese (`es`, `pt`): customers name a
    /// product in their language, so these are searched like the name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
    pub description: String,
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Search words customers type, in English, Spanish and Portuguese.
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The list price, before promotions.
    pub price: Money,
    pub stock: u32,
    #[serde(default)]
    pub image_url: String,
    /// Similar alternatives, in the same brand.
    #[serde(default)]
    pub related: Vec<String>,
    /// Items that go with this one, in the same brand.
    #[serde(default)]
    pub complements: Vec<String>,
    /// 0-100; breaks ties in search ranking.
    #[serde(default)]
    pub popularity: u8,
    /// What a customer chooses (sizes, colours, shades, storage), each option
    /// with its own stock; the options' stocks add up to `stock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Variants>,
}

impl CatalogProduct {
    pub fn in_stock(&self) -> bool {
        self.stock > 0
    }
}

/// A percentage discount on some products or categories of one brand, for a time window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub id: String,
    pub label: String,
    pub percent_off: u8,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The promotion behind an effective price, as a seller would quote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPromotion {
    pub id: String,
    pub label: String,
    pub percent_off: u8,
}
