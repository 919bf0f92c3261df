//! Who is calling the API: `Authorization: Bearer <token>`, mapped to a
//! human seller through the `api_tokens` variable (`token=seller_id,…`).
//!
//! Tokens are compared as [`agent_store_sdk::auth::Tokens`] compares them:
//! as SHA-256 digests in constant time, every configured token on every
//! request, so neither the time a check takes nor the length of a guess
//! tells anything about a token.

use agent_store_sdk::auth::{self, Tokens};

/// The human sellers allowed to use the API: what each token stands for.
/// Its `Debug` shows seller ids, never tokens.
#[derive(Debug, Clone)]
pub struct Sellers {
    tokens: Tokens<String>,
}

/// Why an `api_tokens` text was refused; never quotes a token. Entries are
/// numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SellersError {
    #[error("api_tokens entry {0}: expected token=seller_id")]
    NotAPair(usize),
    #[error("api_tokens entry {0}: the token is empty")]
    EmptyToken(usize),
    #[error("api_tokens entry {entry}: `{seller}` is not a seller id (letters, digits, . _ - @; at most 64)")]
    BadSellerId { entry: usize, seller: String },
    #[error("api_tokens entry {0}: the same token is given twice")]
    Twice(usize),
    #[error("api_tokens lists no seller")]
    NoSeller,
}

/// Seller ids become parts of store keys and of events: plain ids only.
fn valid_seller_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

impl Sellers {
    /// Parses `token=seller_id` pairs separated by commas. Errors never
    /// quote a token.
    pub fn parse(text: &str) -> Result<Self, SellersError> {
        let mut tokens = Tokens::default();
        for (n, pair) in text.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let entry = n + 1;
            let (token, seller) = pair.split_once('=').ok_or(SellersError::NotAPair(entry))?;
            let (token, seller) = (token.trim(), seller.trim());
            if token.is_empty() {
                return Err(SellersError::EmptyToken(entry));
            }
            if !valid_seller_id(seller) {
                return Err(SellersError::BadSellerId { entry, seller: seller.to_string() });
            }
            if !tokens.insert(token, seller.to_string()) {
                return Err(SellersError::Twice(entry));
            }
        }
        if tokens.is_empty() {
            return Err(SellersError::NoSeller);
        }
        Ok(Self { tokens })
    }

    /// The seller an `Authorization` header belongs to.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&str> {
        self.tokens.get(auth::bearer(authorization)?).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_sellers() {
        let sellers = Sellers::parse(" tok-ana = ana.lima , tok-bruno=bruno,").unwrap();
        assert_eq!(sellers.authenticate(Some("Bearer tok-ana")), Some("ana.lima"));
        assert_eq!(sellers.authenticate(Some("bearer  tok-bruno ")), Some("bruno"));
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer tok"),
            Some("Basic tok-ana"),
            Some("tok-ana"),
            Some("Bearer tok-ana2"),
        ] {
            assert_eq!(sellers.authenticate(header), None, "{header:?}");
        }
    }

    #[test]
    fn bad_configurations_are_refused_without_quoting_tokens() {
        for (text, expected) in [
            ("", "no seller"),
            ("secret-token", "expected token=seller_id"),
            ("=ana", "token is empty"),
            ("secret-token=", "not a seller id"),
            ("secret-token=ana/lima", "not a seller id"),
            ("secret-token=ana,secret-token=bruno", "twice"),
        ] {
            let error = Sellers::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("secret-token"), "{error}");
        }
        assert!(!format!("{:?}", Sellers::parse("secret-token=ana").unwrap()).contains("secret"));
    }
}
