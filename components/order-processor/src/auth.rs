//! Who may talk to the order processor over HTTP.
//!
//! - Payment and shipping hooks are signed: the header
//!   [`SIGNATURE_HEADER`]` = sha256=<hex>` carries the HMAC-SHA256 of the raw
//!   request body keyed with the hook's own secret ([`Hook::variable`]), so
//!   that a carrier cannot sign a payment, nor a payment provider a shipment.
//! - The orders API takes `Authorization: Bearer <api_token>`.
//!
//! Both are checked by [`agent_store_sdk::auth`], in time that reveals
//! nothing about the secret. An empty secret accepts nothing.

use agent_store_sdk::auth;

/// What the tests, a payment provider or a carrier sign a hook with.
pub use agent_store_sdk::auth::sign;

/// The header of a hook's signature.
pub const SIGNATURE_HEADER: &str = "x-agent-store-signature";

/// Who signs a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `/orders/hooks/payment`: paid, or the payment cancelled.
    Payment,
    /// `/orders/hooks/shipping`: shipped, delivered.
    Shipping,
}

impl Hook {
    /// The component variable holding its secret.
    pub fn variable(self) -> &'static str {
        match self {
            Hook::Payment => "payment_hook_secret",
            Hook::Shipping => "shipping_hook_secret",
        }
    }
}

/// Whether two secrets are the same, in constant time.
pub use agent_store_sdk::auth::same_secret;

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
