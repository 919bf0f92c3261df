//! Tunable settings from component variables: limits and lifetimes an
//! operator may change in `spin.toml` (or with `SPIN_VARIABLE_<NAME>`), each
//! with a documented default.
//!
//! A variable the component's manifest entry does not declare takes the
//! default (a test sandbox set up by hand, an older manifest); one that is
//! declared but does not read as its kind is an error that names it, never a
//! silent default.
//!
//! ```
//! use std::time::Duration;
//! use agent_store_sdk::settings::{self, SettingError};
//!
//! assert_eq!(settings::duration("ttl", "24h"), Ok(Duration::from_secs(24 * 3600)));
//! assert_eq!(settings::duration("window", "90s"), Ok(Duration::from_secs(90)));
//! assert!(matches!(settings::duration("ttl", "soon"), Err(SettingError::Invalid { .. })));
//! assert_eq!(settings::count("max_queued", "500"), Ok(500));
//! ```

use std::time::Duration;

/// Why a setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// The variable could not be read.
    #[error("the `{name}` variable cannot be read: {message}")]
    Unreadable {
        /// The component variable.
        name: String,
        /// What the host said.
        message: String,
    },
    /// Its value is not one of its kind.
    #[error("the `{name}` variable is {value:?}, not {expected}")]
    Invalid {
        /// The component variable.
        name: String,
        /// What it holds.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
}

/// The value of the component variable `name`, or `default` when the
/// manifest entry does not declare it.
pub fn variable_or(name: &str, default: &str) -> Result<String, SettingError> {
    match spin_sdk::variables::get(name) {
        Ok(value) => Ok(value),
        Err(spin_sdk::variables::Error::Undefined(_)) => Ok(default.to_string()),
        Err(e) => Err(SettingError::Unreadable { name: name.to_string(), message: e.to_string() }),
    }
}

/// A positive duration written as a number and a unit: `90s`, `15m`,
/// `24h`, `7d`.
pub fn duration(name: &str, text: &str) -> Result<Duration, SettingError> {
    let invalid = || SettingError::Invalid {
        name: name.to_string(),
        value: text.to_string(),
        expected: "a duration such as 90s, 15m, 24h or 7d",
    };
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let unit = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    match number.checked_mul(unit) {
        Some(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(invalid()),
    }
}

/// A positive whole number.
pub fn count(name: &str, text: &str) -> Result<u64, SettingError> {
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(SettingError::Invalid {
            name: name.to_string(),
            value: text.to_string(),
            expected: "a whole number above 0",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("d", "1s"), Ok(Duration::from_secs(1)));
        assert_eq!(duration("d", " 15m "), Ok(Duration::from_secs(900)));
        assert_eq!(duration("d", "7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["", "24", "h", "0h", "-1h", "1.5h", "1w", "1 h x", "99999999999999999999d"] {
            let error = duration("escalation_ttl", bad).unwrap_err().to_string();
            assert!(error.contains("escalation_ttl") && error.contains("24h"), "{bad}: {error}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(count("n", "20"), Ok(20));
        for bad in ["0", "-3", "many", ""] {
            assert!(count("max_queued", bad).unwrap_err().to_string().contains("max_queued"), "{bad}");
        }
    }
}
