//! The sellers of brands that joined the store while it runs: their name
//! signs the brand's order notices, as Luna's signs fashion's. Learned from
//! `store.brand.onboarded` (the persona's `agent`), kept in the `orders`
//! store under `brand-voice:<brand>`.
//!
//! `store.brand.removed` is not read: orders placed before a brand left still
//! get their payment, shipping and delivery notices, in the same voice.

use agent_store_events::BrandOnboarded;
use agent_store_sdk::kv::{Bucket, KvError};
use agent_store_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::voice;

/// Longest seller name kept: it ends every notice.
const MAX_AGENT: usize = 64;

fn key(brand: &str) -> String {
    format!("brand-voice:{brand}")
}

/// What a notice needs of a learned brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedVoice {
    pub version: String,
    /// The seller's name, which signs the notices.
    pub agent: String,
}

/// The part of `persona.toml` read here; the rest is the seller's.
#[derive(Deserialize)]
struct PersonaHead {
    brand: String,
    agent: String,
}

fn store_failed(e: KvError) -> Error {
    Error::failed(e.to_string())
}

/// The seller's name from a persona file, checked.
pub fn agent_of(brand: &str, persona: &str) -> Result<String, String> {
    let head: PersonaHead = toml::from_str(persona).map_err(|e| format!("persona.toml of {brand}: {e}"))?;
    if head.brand != brand {
        return Err(format!("persona.toml says brand {:?}, the package is {brand:?}", head.brand));
    }
    let agent = head.agent.trim();
    if agent.is_empty() || agent.chars().count() > MAX_AGENT || agent.chars().any(char::is_control) {
        return Err(format!("persona.toml of {brand}: agent must be a name of 1 to {MAX_AGENT} characters"));
    }
    Ok(agent.to_string())
}

/// Keeps an onboarded brand's seller name; what it did, for the log.
pub fn onboard(bucket: &Bucket, data: &BrandOnboarded) -> Result<String> {
    let brand = data.brand.as_str();
    if voice::seller(brand).is_some() {
        return Err(Error::bad_event(format!("brand {brand} has a built-in voice: a package cannot replace it")));
    }
    let agent = agent_of(brand, &data.persona).map_err(Error::bad_event)?;
    let record = LearnedVoice { version: data.version.clone(), agent };
    if learned(bucket, brand)?.as_ref() == Some(&record) {
        return Ok(format!("{brand} {} is already known: nothing to do", data.version));
    }
    bucket.set(&key(brand), &serde_json::to_vec(&record).map_err(Error::failed)?).map_err(store_failed)?;
    Ok(format!("{brand}'s order notices are signed by {}", record.agent))
}

fn learned(bucket: &Bucket, brand: &str) -> Result<Option<LearnedVoice>> {
    let key = key(brand);
    match bucket.get(&key).map_err(store_failed)? {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::failed(format!("{key} is unreadable: {e}")))
        }
    }
}

/// Who signs `brand`'s notices: its built-in seller, else the one learned,
/// else nobody (the neutral voice).
pub fn signer(bucket: &Bucket, brand: &str) -> Result<Option<String>> {
    if let Some(seller) = voice::seller(brand) {
        return Ok(Some(seller.to_string()));
    }
    Ok(learned(bucket, brand)?.map(|v| v.agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seller_comes_from_the_persona() {
        let persona = "# Leo\nbrand = \"sports\"\nagent = \" Leo \"\nstyle = \"a coach\"\n[text.en]\nthanks = \"x\"\n";
        assert_eq!(agent_of("sports", persona).unwrap(), "Leo");
        assert!(agent_of("sports", "brand = \"evil\"\nagent = \"Leo\"").unwrap_err().contains("evil"));
        assert!(agent_of("sports", "brand = \"sports\"\nagent = \"\"").unwrap_err().contains("agent"));
        assert!(agent_of("sports", "brand = \"sports\"").unwrap_err().contains("agent"));
        assert!(agent_of("sports", "not toml [").is_err());
        assert!(agent_of("sports", "brand = \"sports\"\nagent = \"L\\neo\"").is_err());
    }
}
