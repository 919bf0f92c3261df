//! What the sandbox keeps, in its `whatsapp-sandbox` key-value store:
//!
//! | key | value |
//! |---|---|
//! | `last:<phone>` | the number of messages sent to that phone (an atomic counter) |
//! | `message:<phone>:<seq>` | [`Sent`], the `seq`-th message to that phone |
//! | `media-count` | media uploaded so far (an atomic counter) |
//! | `media:<id>` / `media-info:<id>` | an uploaded file and its [`MediaInfo`] |
//!
//! Everything goes through the SDK's `wasi:keyvalue` bucket, whose atomic
//! counters make sure two messages sent at once never share a sequence number.

use agent_store_sdk::kv::{Bucket, KvError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The store's label in `spin.toml`.
pub const STORE: &str = "whatsapp-sandbox";

/// What keeping or reading messages failed with.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("the sandbox's store failed: {0}")]
    Store(#[from] KvError),
    #[error("the sandbox's store holds a broken record at {key}: {source}")]
    Broken { key: String, source: serde_json::Error },
}

/// One message the business sent, as the people's side reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sent {
    /// 1, 2, 3… per recipient.
    pub seq: u64,
    /// The id the sandbox answered with (`wamid.…`).
    pub id: String,
    /// The business number that sent it.
    pub phone_number_id: String,
    /// When the sandbox took it (RFC 3339).
    pub at: String,
    /// The request body, exactly as the Cloud API received it.
    pub message: Value,
}

/// An uploaded file's description, as `GET /{media_id}` gives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaInfo {
    pub mime_type: String,
    pub sha256: String,
    pub file_size: usize,
}

pub struct Mailbox {
    bucket: Bucket,
}

impl Mailbox {
    pub fn open() -> Result<Self, MailboxError> {
        Ok(Self { bucket: Bucket::open(STORE)? })
    }

    fn count(&self, key: &str, delta: i64) -> Result<u64, MailboxError> {
        let value = self.bucket.increment(key, delta)?;
        Ok(value.max(0) as u64)
    }

    fn get_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>, MailboxError> {
        match self.bucket.get(key)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| MailboxError::Broken { key: key.to_string(), source }),
            None => Ok(None),
        }
    }

    fn set_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), MailboxError> {
        let bytes =
            serde_json::to_vec(value).map_err(|source| MailboxError::Broken { key: key.to_string(), source })?;
        Ok(self.bucket.set(key, &bytes)?)
    }

    /// Keeps a message for `to`; returns its sequence number.
    pub fn keep(&self, to: &str, make: impl FnOnce(u64) -> Sent) -> Result<Sent, MailboxError> {
        let sent = make(self.count(&format!("last:{to}"), 1)?);
        self.set_json(&format!("message:{to}:{}", sent.seq), &sent)?;
        Ok(sent)
    }

    /// The highest sequence number sent to `to` (0 when none).
    pub fn last(&self, to: &str) -> Result<u64, MailboxError> {
        self.count(&format!("last:{to}"), 0)
    }

    /// Up to `limit` messages to `to` after `after`, oldest first.
    pub fn after(&self, to: &str, after: u64, limit: u64) -> Result<(Vec<Sent>, u64), MailboxError> {
        let last = self.last(to)?;
        let mut messages = Vec::new();
        for seq in (after + 1..=last).take(limit as usize) {
            // A message counted but not written yet (a send in flight) shows
            // up at the next poll.
            match self.get_json::<Sent>(&format!("message:{to}:{seq}"))? {
                Some(sent) => messages.push(sent),
                None => break,
            }
        }
        Ok((messages, last))
    }

    /// Keeps an uploaded file; returns its media id.
    pub fn upload(&self, bytes: &[u8], info: &MediaInfo) -> Result<String, MailboxError> {
        // Meta's media ids are long numbers; these look alike.
        let id = format!("7{:015}", self.count("media-count", 1)?);
        self.bucket.set(&format!("media:{id}"), bytes)?;
        self.set_json(&format!("media-info:{id}"), info)?;
        Ok(id)
    }

    pub fn media_info(&self, id: &str) -> Result<Option<MediaInfo>, MailboxError> {
        self.get_json(&format!("media-info:{id}"))
    }

    pub fn media(&self, id: &str) -> Result<Option<Vec<u8>>, MailboxError> {
        Ok(self.bucket.get(&format!("media:{id}"))?)
    }
}
