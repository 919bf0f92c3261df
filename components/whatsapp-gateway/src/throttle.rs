//! A rate limit per customer on the webhook: at most `messages` per
//! `window` (the `rate_limit` variable, [`DEFAULT`] unless set) are
//! forwarded to the sellers. Past it, a customer's messages are acknowledged
//! to Meta (so that it does not retry them) and dropped, and the customer is
//! told once per window to slow down: one customer sending a hundred
//! messages a second costs a hundred counter increments, not a hundred turns
//! of a seller that many other customers are waiting for.
//!
//! Each customer has one counter per window, `rate:<customer id>:<window>`
//! in the gateway's store, moved only by atomic increments
//! (`wasi:keyvalue/atomics`), so concurrent webhooks count exactly. Windows
//! are fixed (aligned to the epoch): simple and exact, at the price of up to
//! twice the limit in the seconds around a window's edge. The customer id is
//! the salted hash of the number, never the number.

use std::time::Duration;

use agent_store_sdk::kv::Bucket;
use agent_store_sdk::settings::{self, SettingError};
use agent_store_sdk::{Error, Result};
use agent_store_text::Language;
use chrono::{DateTime, Utc};

/// Messages a customer may send per window before the rest are dropped: a
/// person typing fast, or sharing a dozen photos at once, stays well inside
/// twenty a minute; a script does not.
pub const DEFAULT: &str = "20/1m";

/// The component variable that overrides [`DEFAULT`].
const VARIABLE: &str = "rate_limit";

/// The store the counters live in (the gateway's own).
const STORE: &str = "whatsapp";

/// `messages` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub messages: u64,
    pub window: Duration,
}

impl RateLimit {
    /// Reads `20/1m`: a count, a slash, a duration (`90s`, `15m`, `1h`, `1d`).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let invalid = || SettingError::Invalid {
            name: VARIABLE.to_string(),
            value: text.to_string(),
            expected: "messages per window, such as 20/1m",
        };
        let (messages, window) = text.split_once('/').ok_or_else(invalid)?;
        Ok(Self {
            messages: settings::count(VARIABLE, messages).map_err(|_| invalid())?,
            window: settings::duration(VARIABLE, window).map_err(|_| invalid())?,
        })
    }

    /// From the `rate_limit` variable, [`DEFAULT`] when it is not declared.
    pub fn load() -> Result<Self> {
        Ok(Self::parse(&settings::variable_or(VARIABLE, DEFAULT)?)?)
    }

    /// The window `at` falls in.
    pub fn window_of(&self, at: DateTime<Utc>) -> u64 {
        u64::try_from(at.timestamp()).unwrap_or(0) / self.window.as_secs().max(1)
    }
}

/// What the limit says about one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: forward it.
    Pass,
    /// Over it: drop it. `first` for the first message over it in `window`,
    /// which gets the customer a note to slow down.
    Throttled { first: bool, window: u64 },
}

/// The counters.
pub struct Meter {
    bucket: Bucket,
}

impl Meter {
    pub fn open() -> Result<Self> {
        Ok(Self { bucket: Bucket::open(STORE)? })
    }

    /// Counts one message from `customer` (a customer id, never a number).
    pub fn count(&self, limit: &RateLimit, customer: &str, now: DateTime<Utc>) -> Result<Verdict> {
        let window = limit.window_of(now);
        let seen = self.bucket.increment(&key(customer, window), 1)?;
        let seen = u64::try_from(seen).map_err(|_| Error::failed("a rate counter went below zero"))?;
        if seen == 1
            && let Some(previous) = window.checked_sub(1)
            && let Err(e) = self.bucket.delete(&key(customer, previous))
        {
            // Only tidiness: a stale counter is never read again.
            eprintln!("the rate counter of a past window stays: {e}");
        }
        Ok(match seen {
            n if n <= limit.messages => Verdict::Pass,
            n => Verdict::Throttled { first: n == limit.messages + 1, window },
        })
    }
}

fn key(customer: &str, window: u64) -> String {
    format!("rate:{customer}:{window}")
}

/// What a throttled customer is told, once per window, in the language of
/// the message that crossed the limit.
pub fn slow_down(text: &str) -> &'static str {
    match agent_store_text::detect(text).unwrap_or_default() {
        Language::En => {
            "You're sending messages faster than we can read them, so we skipped some. \
             Please wait a moment and send again what matters."
        }
        Language::Es => {
            "Estás enviando mensajes más rápido de lo que podemos leerlos, así que algunos no los leímos. \
             Espera un momento y vuelve a enviar lo importante."
        }
        Language::Pt => {
            "Você está enviando mensagens mais rápido do que conseguimos ler, então algumas ficaram sem leitura. \
             Espere um momento e envie de novo o que for importante."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_messages_per_window() {
        assert_eq!(RateLimit::parse(DEFAULT).unwrap(), RateLimit { messages: 20, window: Duration::from_secs(60) });
        assert_eq!(RateLimit::parse("5/10s").unwrap().window, Duration::from_secs(10));
        for bad in ["20", "0/1m", "20/0s", "x/1m", "20/soon", ""] {
            let error = RateLimit::parse(bad).unwrap_err().to_string();
            assert!(error.contains("rate_limit") && error.contains("20/1m"), "{bad}: {error}");
        }
    }

    #[test]
    fn windows_are_fixed_spans_of_time() {
        let limit = RateLimit::parse("20/1m").unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(limit.window_of(at("2026-06-01T10:00:00Z")), limit.window_of(at("2026-06-01T10:00:59Z")));
        assert_eq!(limit.window_of(at("2026-06-01T10:00:59Z")) + 1, limit.window_of(at("2026-06-01T10:01:00Z")));
    }

    #[test]
    fn the_note_speaks_the_customers_language() {
        assert!(slow_down("hola, ¿tienen camisas?").starts_with("Estás"));
        assert!(slow_down("olá, vocês têm camisas? obrigado").starts_with("Você"));
        assert!(slow_down("hi, do you have shirts?").starts_with("You're"));
        assert!(slow_down("").starts_with("You're"));
    }
}
