//! The gateway's settings: the component variables of its `spin.toml` entry
//! (`SPIN_VARIABLE_WHATSAPP_…` overrides them), read when a request needs them.

use agent_store_sdk::{Error, Result};

/// Why a `brand_numbers` text is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrandNumbersError {
    #[error("brand_numbers item {0:?} is not phone_number_id=brand")]
    NotAPair(String),
    #[error("brand_numbers item {0:?} has an empty side")]
    EmptySide(String),
    #[error("brand_numbers lists phone_number_id {0} twice")]
    Twice(String),
}

/// Which brand owns which WhatsApp business number: Meta's
/// `phone_number_id` → brand id, from `"id=brand,id=brand"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandNumbers {
    pairs: Vec<(String, String)>,
}

impl BrandNumbers {
    /// Parses `"100000000000001=fashion,100000000000002=tech"`; spaces around
    /// items are ignored, an empty text is no brand at all.
    pub fn parse(text: &str) -> Result<Self, BrandNumbersError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((id, brand)) = item.split_once('=').map(|(i, b)| (i.trim(), b.trim())) else {
                return Err(BrandNumbersError::NotAPair(item.to_string()));
            };
            if id.is_empty() || brand.is_empty() {
                return Err(BrandNumbersError::EmptySide(item.to_string()));
            }
            if pairs.iter().any(|(known, _)| known == id) {
                return Err(BrandNumbersError::Twice(id.to_string()));
            }
            pairs.push((id.to_string(), brand.to_string()));
        }
        Ok(Self { pairs })
    }

    /// Whether the variable gives `brand` a number.
    pub fn has_brand(&self, brand: &str) -> bool {
        self.pairs.iter().any(|(_, b)| b == brand)
    }

    /// The brand that owns a business number.
    pub fn brand_of(&self, phone_number_id: &str) -> Option<&str> {
        self.pairs.iter().find(|(id, _)| id == phone_number_id).map(|(_, brand)| brand.as_str())
    }
}

fn variable(name: &str) -> Result<String> {
    spin_sdk::variables::get(name)
        .map_err(|e| Error::failed(format!("the gateway's `{name}` variable cannot be read: {e}")))
}

/// The brands of the `brand_numbers` variable.
pub fn brand_numbers() -> Result<BrandNumbers> {
    BrandNumbers::parse(&variable("brand_numbers")?).map_err(Error::failed)
}

/// What the webhook needs.
pub struct Inbound {
    pub app_secret: String,
    pub brands: BrandNumbers,
    pub hash_salt: String,
}

impl Inbound {
    pub fn load() -> Result<Self> {
        Ok(Self { app_secret: variable("app_secret")?, brands: brand_numbers()?, hash_salt: variable("hash_salt")? })
    }
}

/// What calls to the Cloud API need.
pub struct CloudApi {
    /// e.g. `https://graph.facebook.com/v21.0`, without a trailing slash.
    pub api_base: String,
    pub access_token: String,
}

impl CloudApi {
    pub fn load() -> Result<Self> {
        Ok(Self {
            api_base: variable("api_base")?.trim_end_matches('/').to_string(),
            access_token: variable("access_token")?,
        })
    }
}

/// The token Meta echoes in the verification handshake.
pub fn verify_token() -> Result<String> {
    variable("verify_token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_numbers_read_like_the_manifest_default() {
        let numbers = BrandNumbers::parse("100000000000001=fashion, 100000000000002 = tech,").unwrap();
        assert_eq!(numbers.brand_of("100000000000001"), Some("fashion"));
        assert_eq!(numbers.brand_of("100000000000002"), Some("tech"));
        assert_eq!(numbers.brand_of("100000000000003"), None);
        assert!(numbers.has_brand("tech") && !numbers.has_brand("sports"));
        assert_eq!(BrandNumbers::parse("").unwrap(), BrandNumbers::default());
    }

    #[test]
    fn bad_brand_numbers_say_what_is_wrong() {
        let error = |text: &str| BrandNumbers::parse(text).unwrap_err().to_string();
        assert!(error("100000000000001").contains("phone_number_id=brand"));
        assert!(error("=fashion").contains("empty"));
        assert!(error("1=a,1=b").contains("twice"));
        assert_eq!(BrandNumbers::parse("1=a,1=b"), Err(BrandNumbersError::Twice("1".into())));
    }
}
