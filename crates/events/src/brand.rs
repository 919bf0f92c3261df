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
