//! Who may talk to the order processor over HTTP.
//!
//! - Payment and shipping hooks are signed: the header
//!   [`SIGNATURE_HEADER`]` = sha256=<hex>` carries the HMAC-SHA256 of the raw
//!   request body keyed with the `hook_secret` variable.
//! - The orders API takes `Authorization: Bearer <api_token>`.
//!
//! Both are checked by [`agent_store_sdk::auth`], in time that reveals
//! nothing about the secret. An empty secret accepts nothing.

use agent_store_sdk::auth;

/// What the tests, a payment provider or a carrier sign a hook with.
pub use agent_store_sdk::auth::sign;

/// The header of a hook's signature.
pub const SIGNATURE_HEADER: &str = "x-agent-store-signature";

/// Whether `header` is the signature of `body` with `secret`.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    auth::verify_signature(secret, body, header).is_ok()
}

/// Whether an `Authorization` header carries `token` as a bearer token.
pub fn verify_bearer(token: &str, header: Option<&str>) -> bool {
    auth::bearer(header).is_some_and(|given| auth::same_secret(given, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_signed_with_the_secret() {
        let body = br#"{"order_id":"ord-1","status":"paid"}"#;
        assert!(verify_signature(b"s3cret", body, Some(&sign(b"s3cret", body))));
        assert!(!verify_signature(b"other", body, Some(&sign(b"s3cret", body))));
        assert!(!verify_signature(b"", body, Some(&sign(b"", body))), "an empty secret accepts nothing");
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
