//! Checking who calls a component's HTTP routes: signed bodies and secret
//! tokens, compared so that timing reveals nothing about the secret.
//!
//! - [`verify_signature`] checks a `sha256=<hex>` header, the HMAC-SHA256 of
//!   the raw body keyed with a shared secret: Meta's `X-Hub-Signature-256`,
//!   and the payment and shipping hooks of the order processor. [`sign`]
//!   makes one.
//! - [`same_secret`] compares a presented token with the configured one;
//!   [`Tokens`] finds which of several configured tokens was presented (and
//!   what it stands for); [`bearer`] takes the token out of an
//!   `Authorization: Bearer` header.
//!
//! Tokens are compared as SHA-256 digests, so neither where two tokens
//! differ nor their lengths change the time a comparison takes. An empty
//! secret accepts nothing: a variable left blank locks the door rather than
//! opening it.
//!
//! ```
//! use agent_store_sdk::auth::{self, SignatureError, Tokens};
//!
//! let body = br#"{"order_id":"ord-1","status":"paid"}"#;
//! let header = auth::sign(b"s3cret", body);
//! assert_eq!(auth::verify_signature(b"s3cret", body, Some(&header)), Ok(()));
//! assert_eq!(auth::verify_signature(b"other", body, Some(&header)), Err(SignatureError::Mismatch));
//!
//! assert!(auth::same_secret("tok", "tok"));
//! let mut sellers = Tokens::default();
//! sellers.insert("tok-ana", "ana");
//! assert_eq!(auth::bearer(Some("Bearer tok-ana")).and_then(|t| sellers.get(t)), Some(&"ana"));
//! ```

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// The scheme of a signature header's value.
pub const SIGNATURE_SCHEME: &str = "sha256=";

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No secret is configured to check against.
    #[error("no secret is configured to check the signature with")]
    NoSecret,
    /// The request carries no signature header.
    #[error("the signature header is missing")]
    Missing,
    /// The header is not `sha256=` and 64 hex digits.
    #[error("the signature is not `sha256=<64 hex digits>`")]
    Malformed,
    /// A well-formed signature of something else, or with another secret.
    #[error("the signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// The HMAC-SHA256 of `body` keyed with `secret` (RFC 2104).
pub fn hmac_sha256(secret: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = mac(secret);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value that signs `body` with `secret`, `sha256=<hex>`: what a
/// payment provider, a carrier or Meta sends.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("{SIGNATURE_SCHEME}{}", hex::encode(hmac_sha256(secret, body)))
}

/// Checks that `header` (surrounding spaces allowed) is the signature of
/// `body` with `secret`. The comparison is constant-time (`Mac::verify_slice`),
/// so the time taken says nothing about how much of a forged signature was right.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header.trim().strip_prefix(SIGNATURE_SCHEME).ok_or(SignatureError::Malformed)?;
    let claimed = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    if claimed.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&claimed).map_err(|_| SignatureError::Mismatch)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `given` is the secret `expected`, in time independent of both
/// (their lengths included). An empty `expected` matches nothing.
pub fn same_secret(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(digest(given).ct_eq(&digest(expected)))
}

/// The token of an `Authorization: Bearer <token>` header (the scheme name
/// is case-insensitive, RFC 9110 section 11.1), trimmed.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Configured tokens and what each stands for (a user, a seller), kept as
/// digests. [`Tokens::get`] compares the presented token with every entry,
/// so the time it takes does not say which one matched, or how nearly.
#[derive(Clone)]
pub struct Tokens<T> {
    entries: Vec<([u8; 32], T)>,
}

impl<T> Default for Tokens<T> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

/// Shows what the tokens stand for, never the tokens or their digests.
impl<T: std::fmt::Debug> std::fmt::Debug for Tokens<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(_, value)| value)).finish()
    }
}

impl<T> Tokens<T> {
    /// Adds `token` for `value`; `false` (and nothing added) if the token is
    /// empty or already there.
    pub fn insert(&mut self, token: &str, value: T) -> bool {
        let hash = digest(token);
        if token.is_empty() || self.entries.iter().any(|(known, _)| *known == hash) {
            return false;
        }
        self.entries.push((hash, value));
        true
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What `given` stands for, if it is one of the tokens.
    pub fn get(&self, given: &str) -> Option<&T> {
        let given = digest(given);
        // The index of the match, or u32::MAX; every entry is compared.
        let mut found = u32::MAX;
        for (index, (hash, _)) in self.entries.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            found.conditional_assign(&index, hash.ct_eq(&given));
        }
        self.entries.get(found as usize).map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_and_the_exact_body() {
        let body = br#"{"order_id":"ord-1","status":"paid"}"#;
        let header = sign(b"s3cret", body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64);
        assert_eq!(verify_signature(b"s3cret", body, Some(&header)), Ok(()));
        assert_eq!(verify_signature(b"s3cret", body, Some(&format!(" {header} "))), Ok(()));
        assert_eq!(verify_signature(b"other", body, Some(&header)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"s3cret", b"{}", Some(&header)), Err(SignatureError::Mismatch));
        let sha1 = header.replace("sha256=", "sha1=");
        assert_eq!(verify_signature(b"s3cret", body, Some(&sha1)), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(b"s3cret", body, Some("sha256=zz")), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(b"s3cret", body, Some("sha256=abcd")), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(b"s3cret", body, None), Err(SignatureError::Missing));
        assert_eq!(verify_signature(b"", body, Some(&sign(b"", body))), Err(SignatureError::NoSecret));
    }

    #[test]
    fn known_hmac_vectors() {
        // RFC 4231 test case 2.
        let header = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(header, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // RFC 4231 test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("token", "token"));
        assert!(!same_secret("token", "tokens"));
        assert!(!same_secret("", "token"));
        assert!(!same_secret("", ""), "an empty secret matches nothing");
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(Some("Bearer tok")), Some("tok"));
        assert_eq!(bearer(Some(" bearer  tok ")), Some("tok"));
        assert_eq!(bearer(Some("Bearertok")), None);
        assert_eq!(bearer(Some("tok")), None);
        assert_eq!(bearer(Some("Basic tok")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn tokens_find_what_they_stand_for() {
        let mut tokens = Tokens::default();
        assert!(tokens.insert("tok-ana", "ana"));
        assert!(tokens.insert("tok-bruno", "bruno"));
        assert!(!tokens.insert("tok-ana", "someone else"), "a token is given once");
        assert!(!tokens.insert("", "nobody"), "an empty token is no token");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.get("tok-ana"), Some(&"ana"));
        assert_eq!(tokens.get("tok-bruno"), Some(&"bruno"));
        for given in ["", "tok", "tok-ana2", "TOK-ANA"] {
            assert_eq!(tokens.get(given), None, "{given}");
        }
        assert_eq!(format!("{tokens:?}"), r#"["ana", "bruno"]"#);
    }
}
