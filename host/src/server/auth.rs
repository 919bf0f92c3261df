//! Tokens: the admin token, which the live tail and the admin API ask for
//! (and which may publish anything), and the producer tokens of `POST
//! /events`, each limited to the event types it may publish. Both come as
//! `Authorization: Bearer <token>` (the tail also takes `?token=`, since a
//! browser's EventSource cannot set headers). Compared in constant time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::http::{HeaderMap, StatusCode};
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::app::{Producers, Publisher};

/// The file in the data directory that holds a generated token, so that
/// `agent-store tail` on the same machine finds it.
pub const TOKEN_FILE: &str = "admin-token";

#[derive(Clone)]
pub struct AdminToken(Arc<String>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(Arc::new(token.into()))
    }

    /// The configured token, or the one in the data directory, or a new one
    /// written there (readable by the owner only).
    pub fn load_or_create(configured: Option<String>, data_dir: &Path) -> Result<Self> {
        if let Some(token) = configured.filter(|t| !t.is_empty()) {
            return Ok(Self::new(token));
        }
        let path = token_path(data_dir);
        if let Ok(token) = std::fs::read_to_string(&path)
            && !token.trim().is_empty()
        {
            return Ok(Self::new(token.trim()));
        }
        let token: String = {
            let mut rng = rand::rng();
            (0..32).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
        };
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        write_private(&path, &token)?;
        tracing::info!(path = %path.display(), "admin token generated (pass --admin-token to choose one)");
        Ok(Self::new(token))
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// `Ok` when the request carries the token.
    pub fn check(&self, headers: &HeaderMap, query_token: Option<&str>) -> Result<(), (StatusCode, &'static str)> {
        match bearer(headers).or(query_token) {
            Some(token) if self.matches(token) => Ok(()),
            Some(_) => Err((StatusCode::UNAUTHORIZED, "the admin token is wrong")),
            None => {
                Err((StatusCode::UNAUTHORIZED, "this endpoint needs the admin token: Authorization: Bearer <token>"))
            }
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Every token the host knows.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub admin: AdminToken,
    pub producers: Producers,
    /// Teams that may deploy their own components (`--deployer`).
    pub deployers: super::admin::Deployers,
}

/// The bearer token of a request, if it has one.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

impl Credentials {
    /// Who is publishing, by the request's bearer token.
    pub fn publisher(&self, headers: &HeaderMap) -> Result<Publisher, (StatusCode, &'static str)> {
        let Some(token) = bearer(headers) else {
            return Err((
                StatusCode::UNAUTHORIZED,
                "publishing needs a token: Authorization: Bearer <token> (a producer token from --producer, \
                 or the admin token)",
            ));
        };
        // Both checks always run, so the time taken does not tell an admin
        // token from a producer's.
        let producer = self.producers.find(token);
        let admin = self.admin.matches(token);
        match (admin, producer) {
            (true, _) => Ok(Publisher::Admin),
            (false, Some(producer)) => Ok(Publisher::Producer(producer)),
            (false, None) => Err((StatusCode::UNAUTHORIZED, "the token is not a producer's or the admin's")),
        }
    }
}

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

fn write_private(path: &Path, token: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(token.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_is_reused_and_checked() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let first = AdminToken::load_or_create(None, dir.path())?;
        let again = AdminToken::load_or_create(None, dir.path())?;
        assert!(again.matches(first.expose()));
        assert!(!first.matches("nope"));
        let mut headers = HeaderMap::new();
        assert!(first.check(&headers, None).is_err());
        headers.insert("authorization", format!("Bearer {}", first.expose()).parse()?);
        assert!(first.check(&headers, None).is_ok());
        assert!(first.check(&HeaderMap::new(), Some(first.expose())).is_ok());
        assert!(!format!("{first:?}").contains(first.expose()));
        Ok(())
    }
}
