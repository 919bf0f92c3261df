//! Who is calling the API: `Authorization: Bearer <token>`, mapped to a
//! human seller and the brands they work for through the `api_tokens`
//! variable: `token=seller_id:brand+brand,…`.
//!
//! A token without brands (`token=seller_id`, the form before brands were
//! scoped) stands for every brand, so existing configurations keep working;
//! `token=seller_id:*` says so explicitly. A seller sees and acts on the
//! escalations of their brands only: to them another brand's escalation does
//! not exist (404, as one that never did), so that a token tells nothing
//! about the brands it was not given.
//!
//! Tokens are compared as [`agent_store_sdk::auth::Tokens`] compares them:
//! as SHA-256 digests in constant time, every configured token on every
//! request, so neither the time a check takes nor the length of a guess
//! tells anything about a token.

use std::collections::BTreeSet;

use agent_store_sdk::auth::{self, Tokens};

/// The brands a seller works for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Brands {
    /// Every brand, present and future.
    All,
    /// These brands only.
    Only(BTreeSet<String>),
}

impl Brands {
    /// Whether `brand` is one of them.
    pub fn covers(&self, brand: &str) -> bool {
        match self {
            Brands::All => true,
            Brands::Only(brands) => brands.contains(brand),
        }
    }
}

/// A human seller, as their token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seller {
    pub id: String,
    pub brands: Brands,
}

impl Seller {
    /// Whether this seller works for `brand`.
    pub fn covers(&self, brand: &str) -> bool {
        self.brands.covers(brand)
    }
}

/// The human sellers allowed to use the API: what each token stands for.
/// Its `Debug` shows seller ids and brands, never tokens.
#[derive(Debug, Clone)]
pub struct Sellers {
    tokens: Tokens<Seller>,
}

/// Why an `api_tokens` text was refused; never quotes a token. Entries are
/// numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SellersError {
    #[error("api_tokens entry {0}: expected token=seller_id or token=seller_id:brand+brand")]
    NotAPair(usize),
    #[error("api_tokens entry {0}: the token is empty")]
    EmptyToken(usize),
    #[error("api_tokens entry {entry}: `{seller}` is not a seller id (letters, digits, . _ - @; at most 64)")]
    BadSellerId { entry: usize, seller: String },
    #[error("api_tokens entry {entry}: `{brand}` is not a brand id (a-z, 0-9, - _; at most 64), nor `*`")]
    BadBrand { entry: usize, brand: String },
    #[error("api_tokens entry {0}: the token is given twice")]
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

/// Brand ids as `spin.toml` and the brands' folders spell them.
fn valid_brand(brand: &str) -> bool {
    !brand.is_empty()
        && brand.len() <= 64
        && brand.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

fn brands(entry: usize, text: Option<&str>) -> Result<Brands, SellersError> {
    let Some(text) = text.map(str::trim) else { return Ok(Brands::All) };
    if text == "*" {
        return Ok(Brands::All);
    }
    let mut brands = BTreeSet::new();
    for brand in text.split('+').map(str::trim) {
        if !valid_brand(brand) {
            return Err(SellersError::BadBrand { entry, brand: brand.to_string() });
        }
        brands.insert(brand.to_string());
    }
    Ok(Brands::Only(brands))
}

impl Sellers {
    /// Parses `token=seller_id[:brand+brand…]` entries separated by commas.
    /// Errors never quote a token.
    pub fn parse(text: &str) -> Result<Self, SellersError> {
        let mut tokens = Tokens::default();
        for (n, pair) in text.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let entry = n + 1;
            let (token, who) = pair.split_once('=').ok_or(SellersError::NotAPair(entry))?;
            let token = token.trim();
            if token.is_empty() {
                return Err(SellersError::EmptyToken(entry));
            }
            let (seller, scope) = match who.split_once(':') {
                Some((seller, scope)) => (seller.trim(), Some(scope)),
                None => (who.trim(), None),
            };
            if !valid_seller_id(seller) {
                return Err(SellersError::BadSellerId { entry, seller: seller.to_string() });
            }
            let seller = Seller { id: seller.to_string(), brands: brands(entry, scope)? };
            if !tokens.insert(token, seller) {
                return Err(SellersError::Twice(entry));
            }
        }
        if tokens.is_empty() {
            return Err(SellersError::NoSeller);
        }
        Ok(Self { tokens })
    }

    /// The seller an `Authorization` header belongs to.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&Seller> {
        self.tokens.get(auth::bearer(authorization)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id<'a>(sellers: &'a Sellers, header: &str) -> Option<&'a str> {
        sellers.authenticate(Some(header)).map(|s| s.id.as_str())
    }

    #[test]
    fn tokens_map_to_sellers() {
        let sellers = Sellers::parse(" tok-ana = ana.lima , tok-bruno=bruno,").unwrap();
        assert_eq!(id(&sellers, "Bearer tok-ana"), Some("ana.lima"));
        assert_eq!(id(&sellers, "bearer  tok-bruno "), Some("bruno"));
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
    fn tokens_are_scoped_to_brands_and_the_old_form_means_all() {
        let sellers =
            Sellers::parse("tok-fi=fiona:fashion, tok-to=tomas: tech + gaming ,tok-ana=ana,tok-sup=sup:*").unwrap();
        let fiona = sellers.authenticate(Some("Bearer tok-fi")).unwrap();
        assert_eq!(fiona.id, "fiona");
        assert!(fiona.covers("fashion") && !fiona.covers("tech") && !fiona.covers("fashion-outlet"));
        let tomas = sellers.authenticate(Some("Bearer tok-to")).unwrap();
        assert!(tomas.covers("tech") && tomas.covers("gaming") && !tomas.covers("home"));
        for all in ["tok-ana", "tok-sup"] {
            let seller = sellers.authenticate(Some(&format!("Bearer {all}"))).unwrap();
            assert_eq!(seller.brands, Brands::All, "{all}");
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
            ("secret-token=ana:", "not a brand id"),
            ("secret-token=ana:fashion+", "not a brand id"),
            ("secret-token=ana:Fashion", "not a brand id"),
            ("secret-token=ana:fashion,tech", "expected token=seller_id"),
        ] {
            let error = Sellers::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("secret-token"), "{error}");
        }
        assert!(!format!("{:?}", Sellers::parse("secret-token=ana").unwrap()).contains("secret"));
    }
}
