//! Brands that join or leave the store while it runs (`docs/hot-swap.md`).
//!
//! A brand's package (`brands/<brand>/spin.toml`) carries what the shared
//! components need to serve it: its WhatsApp number, its catalog and its
//! seller's persona. When the package is deployed the host publishes
//! [`BrandOnboarded`] with all of it; the gateway, the catalog, the order
//! processor and the sales assistant keep what they need in their own
//! key-value stores. Removing the package publishes [`BrandRemoved`].
//!
//! Both carry the `brand` extension, so a brand's own seller could subscribe
//! too; only the host may publish them.

use serde::{Deserialize, Serialize};

use crate::common::BrandId;

/// Longest brand id: the manifest's `[application.tool.agent-store.brand]`
/// allows no more, and readers use it in key-value keys.
pub const MAX_BRAND: usize = 32;

/// Longest WhatsApp `phone_number_id`.
pub const MAX_WHATSAPP_NUMBER: usize = 32;

/// Longest package version (a digest, in practice 71 characters).
pub const MAX_VERSION: usize = 128;

/// Largest `persona.toml`: the five shipped ones are under 4 KiB, and every
/// reader keeps a copy of what it needs.
pub const MAX_PERSONA: usize = 64 * 1024;

/// Whether `brand` is a brand id a package may bring: 1 to [`MAX_BRAND`] of
/// `a-z`, `0-9` and `-`, as the manifest checks it.
pub fn is_valid_brand(brand: &str) -> bool {
    !brand.is_empty()
        && brand.len() <= MAX_BRAND
        && brand.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_number(number: &str) -> Result<(), String> {
    if number.is_empty() || number.len() > MAX_WHATSAPP_NUMBER || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("whatsapp_number {number:?} is not a phone_number_id (1 to {MAX_WHATSAPP_NUMBER} digits)"));
    }
    Ok(())
}

fn check_brand(brand: &BrandId) -> Result<(), String> {
    if !is_valid_brand(brand.as_str()) {
        return Err(format!("brand {:?} is not 1 to {MAX_BRAND} of a-z, 0-9 and `-`", brand.as_str()));
    }
    Ok(())
}

/// A brand's package was deployed: serve it from now on. Deploying the same
/// brand again (an upgrade) publishes this again with the new data; readers
/// replace what they had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandOnboarded {
    /// The brand, as its events' `brand` extension names it.
    pub brand: BrandId,
    /// The WhatsApp Cloud API `phone_number_id` its customers write to.
    pub whatsapp_number: String,
    /// The brand's `catalog.json`, as the catalog validates it.
    pub catalog: serde_json::Value,
    /// The seller's `persona.toml` text (name, voice, the order messages'
    /// words).
    pub persona: String,
    /// The digest of the package that carried this data: a reader that
    /// already has this version may skip the work.
    pub version: String,
}

impl BrandOnboarded {
    /// Checks what every reader relies on before it keeps anything: the
    /// brand id, the number, the version and the persona's size, and that
    /// the catalog is an object. The catalog's contents are the catalog's to
    /// judge, and the persona's the readers' that parse it.
    pub fn validate(&self) -> Result<(), String> {
        check_brand(&self.brand)?;
        check_number(&self.whatsapp_number)?;
        if self.version.is_empty()
            || self.version.len() > MAX_VERSION
            || !self.version.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!("version must be 1 to {MAX_VERSION} printable ASCII characters"));
        }
        if self.persona.trim().is_empty() || self.persona.len() > MAX_PERSONA {
            return Err(format!("persona must be 1 to {MAX_PERSONA} bytes of persona.toml"));
        }
        if !self.catalog.is_object() {
            return Err("catalog must be the catalog.json object".into());
        }
        Ok(())
    }
}

/// A brand's package was removed: its number is no longer in service and
/// its products are no longer sold. What readers kept of it (orders, stock
/// counters) stays, for a later deploy of the same brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandRemoved {
    /// The brand.
    pub brand: BrandId,
    /// The number that stops being answered (with a polite reply, not silence).
    pub whatsapp_number: String,
}

impl BrandRemoved {
    /// Checks the brand id and the number.
    pub fn validate(&self) -> Result<(), String> {
        check_brand(&self.brand)?;
        check_number(&self.whatsapp_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sports() -> BrandOnboarded {
        BrandOnboarded {
            brand: "sports".into(),
            whatsapp_number: "100000000000006".into(),
            catalog: serde_json::json!({ "brand": "sports" }),
            persona: "brand = \"sports\"\nagent = \"Leo\"".into(),
            version: "sha256:1f2e".into(),
        }
    }

    #[test]
    fn a_package_event_is_checked_before_anyone_keeps_it() {
        assert_eq!(sports().validate(), Ok(()));
        let refused = |change: fn(&mut BrandOnboarded)| {
            let mut event = sports();
            change(&mut event);
            event.validate().unwrap_err()
        };
        assert!(refused(|e| e.brand = "Sports".into()).contains("brand"));
        assert!(refused(|e| e.brand = "../fashion".into()).contains("brand"));
        assert!(refused(|e| e.brand = "x".repeat(33).into()).contains("brand"));
        assert!(refused(|e| e.whatsapp_number = "+1 555".into()).contains("whatsapp_number"));
        assert!(refused(|e| e.whatsapp_number = String::new()).contains("whatsapp_number"));
        assert!(refused(|e| e.version = String::new()).contains("version"));
        assert!(refused(|e| e.version = "a b".into()).contains("version"));
        assert!(refused(|e| e.persona = " ".into()).contains("persona"));
        assert!(refused(|e| e.persona = "#".repeat(MAX_PERSONA + 1)).contains("persona"));
        assert!(refused(|e| e.catalog = serde_json::json!([])).contains("catalog"));
    }

    #[test]
    fn a_removal_names_a_brand_and_a_number() {
        let removed = BrandRemoved { brand: "sports".into(), whatsapp_number: "100000000000006".into() };
        assert_eq!(removed.validate(), Ok(()));
        assert!(BrandRemoved { brand: "".into(), ..removed.clone() }.validate().is_err());
        assert!(BrandRemoved { whatsapp_number: "abc".into(), ..removed }.validate().is_err());
    }
}
