//! What the hosts of the whole suite logged holds no customer's phone number
//! and no message a customer wrote. Every test host's log lines and every
//! test customer's phone and text are kept under `AGENT_STORE_TEST_LOG_DIR`;
//! `cargo xtask test` runs this check after the suite.

use std::collections::BTreeSet;
use std::path::Path;

use agent_store_tests::{CUSTOMERS_FILE, LOG_DIR_ENV, log_dir};
use anyhow::{Context, Result, ensure};
use serde_json::Value;

/// Shorter texts ("hi", "yes", a size) are words a seller says too.
const SHORTEST_TEXT: usize = 12;

/// What customers sent: phone numbers (digits only) and texts.
fn customers(dir: &Path) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let recorded = std::fs::read_to_string(dir.join(CUSTOMERS_FILE))
        .with_context(|| format!("no {CUSTOMERS_FILE} in {}: did the suite run?", dir.display()))?;
    let (mut phones, mut texts) = (BTreeSet::new(), BTreeSet::new());
    for line in recorded.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(phone) = record["phone"].as_str() {
            phones.insert(phone.chars().filter(char::is_ascii_digit).collect::<String>());
        }
        if let Some(text) = record["text"].as_str().map(str::trim).filter(|t| t.chars().count() >= SHORTEST_TEXT) {
            texts.insert(text.to_string());
        }
    }
    Ok((phones, texts))
}

/// Every line that names one of `phones` or `texts` (as written, or as a
/// JSON string escapes it), with what it names.
fn leaks(lines: &[String], phones: &BTreeSet<String>, texts: &BTreeSet<String>) -> Vec<String> {
    let escaped: Vec<(String, &String)> =
        texts.iter().map(|t| (serde_json::to_string(t).unwrap_or_default().trim_matches('"').to_string(), t)).collect();
    let mut found = Vec::new();
    for line in lines {
        for phone in phones.iter().filter(|p| p.len() >= 8) {
            if line.contains(phone.as_str()) {
                found.push(format!("phone {phone}: {line}"));
            }
        }
        for (escaped, text) in &escaped {
            if line.contains(text.as_str()) || line.contains(escaped.as_str()) {
                found.push(format!("text {text:?}: {line}"));
            }
        }
    }
    found
}

#[test]
fn a_logged_phone_or_message_is_found() {
    let phones = BTreeSet::from(["34600001000".to_string()]);
    let texts = BTreeSet::from(["¿tienen juegos de fútbol?".to_string()]);
    let lines = vec![
        r#"{"message":"sent to 34600001000"}"#.to_string(),
        r#"{"message":"guest: ¿tienen juegos de fútbol?"}"#.to_string(),
        r#"{"message":"ok","conversation":"c-9f2a"}"#.to_string(),
    ];
    let found = leaks(&lines, &phones, &texts);
    assert_eq!(found.len(), 2, "{found:#?}");
}

#[test]
#[ignore = "run by `cargo xtask test` after the whole suite, over the logs it kept"]
fn the_suite_logs_hold_no_phone_number_and_no_message_text() -> Result<()> {
    let dir = log_dir().with_context(|| format!("{LOG_DIR_ENV} is not set: run `cargo xtask test`"))?;
    let (phones, texts) = customers(&dir)?;
    let mut lines = Vec::new();
    let mut hosts = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            hosts += 1;
            lines.extend(std::fs::read_to_string(&path)?.lines().map(str::to_string));
        }
    }
    // A check over nothing passes whatever the hosts log.
    ensure!(
        hosts >= 20 && lines.len() >= 1_000,
        "only {hosts} host logs with {} lines in {}",
        lines.len(),
        dir.display()
    );
    ensure!(phones.len() >= 10 && texts.len() >= 15, "only {} phones and {} texts recorded", phones.len(), texts.len());
    let found = leaks(&lines, &phones, &texts);
    eprintln!(
        "{} log lines of {hosts} hosts checked for {} phone numbers and {} messages",
        lines.len(),
        phones.len(),
        texts.len()
    );
    assert!(found.is_empty(), "{} log lines name a customer:\n{}", found.len(), found.join("\n"));
    Ok(())
}
