//! What the gateway remembers, in its `whatsapp` key-value store (entries
//! expire after the manifest's TTL, 30 days):
//!
//! | key | value |
//! |---|---|
//! | `conversation:<conversation id>` | [`Conversation`]: where replies go |
//! | `seen:<digest of wamid>` | a customer message already published |
//! | `status:<digest of wamid>:<status>` | a status already published |
//! | `sent:<digest of wamid>` | the conversation a message we sent belongs to |
//! | `message:<token>` | the wamid behind a message token, to quote it in a reply |
//! | `send:<event id>` | a `store.whatsapp.message.send` already delivered |
//!
//! Keys never hold a number: WhatsApp message ids encode the sender's, so
//! they are digested.

use agent_store_sdk::{Error, Result};
use serde::{Deserialize, Serialize};
use spin_sdk::key_value::Store;

use crate::privacy::digest;

/// The store's label in `spin.toml`.
pub const STORE: &str = "whatsapp";

/// Where a conversation's replies go. The only place the customer's number is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The customer's number, as WhatsApp gave it (`wa_id`).
    pub phone: String,
    /// The business number the customer wrote to, which answers.
    pub phone_number_id: String,
    pub brand: String,
    /// The WhatsApp profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The gateway's store, opened once per request.
pub struct Memory {
    store: Store,
}

fn failed(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::failed(format!("the `{STORE}` store failed {what}: {e:?}"))
}

impl Memory {
    pub fn open() -> Result<Self> {
        Store::open(STORE).map(|store| Self { store }).map_err(|e| failed("to open", e))
    }

    pub fn conversation(&self, id: &str) -> Result<Option<Conversation>> {
        let Some(bytes) = self.store.get(&format!("conversation:{id}")).map_err(|e| failed("to read", e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| failed("with a broken conversation record", e))
    }

    pub fn remember_conversation(&self, id: &str, conversation: &Conversation) -> Result<()> {
        let bytes = serde_json::to_vec(conversation).map_err(Error::failed)?;
        self.store.set(&format!("conversation:{id}"), &bytes).map_err(|e| failed("to write", e))
    }

    fn flag(&self, key: &str) -> Result<bool> {
        self.store.exists(key).map_err(|e| failed("to read", e))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.store.set(key, value).map_err(|e| failed("to write", e))
    }

    /// Whether a customer message was already published (a webhook redelivery).
    pub fn seen_message(&self, wamid: &str) -> Result<bool> {
        self.flag(&format!("seen:{}", digest(wamid)))
    }

    pub fn mark_message(&self, wamid: &str) -> Result<()> {
        self.set(&format!("seen:{}", digest(wamid)), b"1")
    }

    fn status_key(wamid: &str, status: &str) -> String {
        format!("status:{}:{status}", digest(wamid))
    }

    pub fn seen_status(&self, wamid: &str, status: &str) -> Result<bool> {
        self.flag(&Self::status_key(wamid, status))
    }

    pub fn mark_status(&self, wamid: &str, status: &str) -> Result<()> {
        self.set(&Self::status_key(wamid, status), b"1")
    }

    /// Remembers which conversation a message we sent belongs to.
    pub fn remember_sent(&self, wamid: &str, conversation: &str) -> Result<()> {
        self.set(&format!("sent:{}", digest(wamid)), conversation.as_bytes())
    }

    pub fn conversation_of_sent(&self, wamid: &str) -> Result<Option<String>> {
        let value = self.store.get(&format!("sent:{}", digest(wamid))).map_err(|e| failed("to read", e))?;
        Ok(value.and_then(|v| String::from_utf8(v).ok()))
    }

    /// Remembers the wamid behind a message token the agents were given.
    pub fn remember_token(&self, token: &str, wamid: &str) -> Result<()> {
        self.set(&format!("message:{token}"), wamid.as_bytes())
    }

    /// The wamid behind a message token, while it is remembered.
    pub fn wamid_of(&self, token: &str) -> Result<Option<String>> {
        let value = self.store.get(&format!("message:{token}")).map_err(|e| failed("to read", e))?;
        Ok(value.and_then(|v| String::from_utf8(v).ok()))
    }

    /// Whether a `store.whatsapp.message.send` event was already delivered to
    /// WhatsApp (the broker redelivers when an acknowledgement is lost).
    pub fn delivered_send(&self, event_id: &str) -> Result<bool> {
        self.flag(&format!("send:{event_id}"))
    }

    pub fn mark_send(&self, event_id: &str) -> Result<()> {
        self.set(&format!("send:{event_id}"), b"1")
    }
}
