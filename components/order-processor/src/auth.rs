//! Who may talk to the order processor over HTTP.
//!
//! - Payment and shipping hooks are signed: the header
//!   [`SIGNATURE_HEADER`]` = sha256=<hex>` carries the HMAC-SHA256 of the raw
//!   request body keyed with the `hook_secret` variable.
//! - The orders API takes `Authorization: Bearer <api_token>`.
//!
//! Both comparisons take the same time whatever the input, so that timing
//! reveals nothing about the secret. An empty secret accepts nothing.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The header of a hook's signature.
pub const SIGNATURE_HEADER: &str = "x-agent-store-signature";

const SCHEME: &str = "sha256=";

/// The header value that signs `body` with `secret`: what a payment provider or
/// carrier sends (and what the tests send).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("{SCHEME}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` with `secret`.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Some(hex_digest) = header.map(str::trim).and_then(|h| h.strip_prefix(SCHEME)) else {
        return false;
    };
    let Ok(claimed) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&claimed).is_ok()
}

/// Whether an `Authorization` header carries `token` as a bearer token.
pub fn verify_bearer(token: &str, header: Option<&str>) -> bool {
    if token.is_empty() {
        return false;
    }
    // The scheme name is case-insensitive (RFC 9110, section 11.1).
    let Some(given) = header
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return false;
    };
    // Comparing digests keeps the time independent of where the strings differ
    // and of their lengths.
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(token.as_bytes());
    given.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_and_the_exact_body() {
        let body = br#"{"order_id":"ord-1","status":"paid"}"#;
        let header = sign(b"s3cret", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert!(verify_signature(b"s3cret", body, Some(&header)));
        assert!(verify_signature(b"s3cret", body, Some(&format!(" {header} "))));
        assert!(!verify_signature(b"other", body, Some(&header)));
        assert!(!verify_signature(b"s3cret", b"{}", Some(&header)));
        assert!(!verify_signature(b"s3cret", body, Some(&header.replace("sha256=", "sha1="))));
        assert!(!verify_signature(b"s3cret", body, Some("sha256=zz")));
        assert!(!verify_signature(b"s3cret", body, None));
        assert!(!verify_signature(b"", body, Some(&sign(b"", body))), "an empty secret accepts nothing");
    }

    #[test]
    fn a_known_vector() {
        // RFC 4231 test case 2.
        let header = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(header, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn bearer_tokens() {
        assert!(verify_bearer("tok", Some("Bearer tok")));
        assert!(verify_bearer("tok", Some("bearer  tok ")));
        assert!(!verify_bearer("tok", Some("Bearertok")));
        assert!(!verify_bearer("tok", Some("tok")));
        assert!(!verify_bearer("tok", Some("Bearer tok2")));
        assert!(!verify_bearer("tok", Some("Basic tok")));
        assert!(!verify_bearer("tok", None));
        assert!(!verify_bearer("", Some("Bearer ")));
    }
}
