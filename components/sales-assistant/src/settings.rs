//! The bounds an operator may tune, from the component's variables (in
//! `spin.toml`, `sales_escalation_ttl`, `sales_conversation_ttl` and
//! `sales_max_queued`), each with the default below when not declared.

use agent_store_sdk::Result;
use agent_store_sdk::settings::{self, SettingError};
use chrono::Duration;

/// How long a queued escalation waits for a human seller before the AI
/// seller takes the conversation back: a whole day covers a night and a
/// shift, and a customer nobody answered in that time is better served by
/// the AI seller than by a queue.
pub const ESCALATION_TTL: &str = "24h";

/// How long a conversation nobody wrote in is kept (unless its escalation is
/// open): long enough that the transcript exists when an escalation arrives,
/// short enough that the store holds only the last hour of chats.
pub const CONVERSATION_TTL: &str = "1h";

/// The most escalations waiting at once. Human sellers work through tens a
/// shift, not thousands; past this, a flood of escalations (customers asking
/// for a person from many numbers) is handed back to the AI sellers at once
/// instead of growing a queue nobody reaches.
pub const MAX_QUEUED: &str = "500";

/// The assistant's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub escalation_ttl: Duration,
    pub conversation_ttl: Duration,
    pub max_queued: usize,
}

fn duration(name: &str, default: &str) -> Result<Duration> {
    let text = settings::variable_or(name, default)?;
    let duration = settings::duration(name, &text)?;
    Duration::from_std(duration).map_err(|_| {
        SettingError::Invalid { name: name.to_string(), value: text, expected: "a shorter duration" }.into()
    })
}

impl Settings {
    /// From the variables `escalation_ttl`, `conversation_ttl` and
    /// `max_queued`; a value that does not read is an error naming it.
    pub fn load() -> Result<Self> {
        let max_queued = settings::variable_or("max_queued", MAX_QUEUED)?;
        Ok(Self {
            escalation_ttl: duration("escalation_ttl", ESCALATION_TTL)?,
            conversation_ttl: duration("conversation_ttl", CONVERSATION_TTL)?,
            max_queued: usize::try_from(settings::count("max_queued", &max_queued)?).unwrap_or(usize::MAX),
        })
    }
}
