//! Who is calling the API: `Authorization: Bearer <token>`, mapped to a
//! human seller through the `api_tokens` variable (`token=seller_id,…`).
//!
//! Tokens are compared as SHA-256 digests in constant time, and every
//! configured token is compared on every request, so neither the time a
//! check takes nor the length of a guess tells anything about a token.

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The human sellers allowed to use the API.
#[derive(Clone)]
pub struct Sellers {
    /// (SHA-256 of the token, seller id)
    entries: Vec<([u8; 32], String)>,
}

impl std::fmt::Debug for Sellers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.entries.iter().map(|(_, id)| id.as_str()).collect();
        f.debug_struct("Sellers").field("ids", &ids).finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
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
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries: Vec<([u8; 32], String)> = Vec::new();
        for (n, pair) in text.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let Some((token, seller)) = pair.split_once('=') else {
                return Err(format!("api_tokens entry {}: expected token=seller_id", n + 1));
            };
            let (token, seller) = (token.trim(), seller.trim());
            if token.is_empty() {
                return Err(format!("api_tokens entry {}: the token is empty", n + 1));
            }
            if !valid_seller_id(seller) {
                return Err(format!(
                    "api_tokens entry {}: `{seller}` is not a seller id (letters, digits, . _ - @; at most 64)",
                    n + 1
                ));
            }
            let hash = digest(token);
            if entries.iter().any(|(h, _)| *h == hash) {
                return Err(format!("api_tokens entry {}: the same token is given twice", n + 1));
            }
            entries.push((hash, seller.to_string()));
        }
        if entries.is_empty() {
            return Err("api_tokens lists no seller".into());
        }
        Ok(Self { entries })
    }

    /// The seller an `Authorization` header belongs to.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&str> {
        let header = authorization?.trim();
        let (scheme, token) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let given = digest(token.trim());
        // Index of the match, or u32::MAX; every entry is compared.
        let mut found = u32::MAX;
        for (index, (hash, _)) in self.entries.iter().enumerate() {
            found.conditional_assign(&(index as u32), hash[..].ct_eq(&given[..]));
        }
        self.entries.get(found as usize).map(|(_, seller)| seller.as_str())
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
            let error = Sellers::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("secret-token"), "{error}");
        }
        assert!(!format!("{:?}", Sellers::parse("secret-token=ana").unwrap()).contains("secret"));
    }
}
