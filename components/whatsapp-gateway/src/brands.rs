//! Brands the gateway learns while it runs (`store.brand.onboarded` and
//! `store.brand.removed`), next to the ones the `brand_numbers` variable
//! names at start.
//!
//! They live in a store of their own, `whatsapp-brands`, because the
//! `whatsapp` store's entries expire after 30 days and a number must not
//! stop being served because nobody wrote to it for a month:
//!
//! | key | value |
//! |---|---|
//! | `number:<phone_number_id>` | [`NumberRecord`]: the brand a learned number belongs to, and whether it still serves it |
//! | `brand:<brand>` | [`BrandRecord`]: the brand's number and the package version that set it |
//!
//! The variable's numbers and brands always win: an event can neither take a
//! configured number nor rename a configured brand. A removed brand's number
//! is kept, marked out of service, so its customers are told so instead of
//! meeting silence.

use agent_store_events::{BrandOnboarded, BrandRemoved};
use agent_store_sdk::kv::{Bucket, KvError, Update};
use agent_store_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::config::BrandNumbers;

/// The store's label in `spin.toml`.
pub const STORE: &str = "whatsapp-brands";

/// Who a learned number belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberRecord {
    pub brand: String,
    /// `false` once the brand was removed (or moved to another number).
    pub in_service: bool,
}

/// A learned brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandRecord {
    pub whatsapp_number: String,
    pub version: String,
}

/// What a business number leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A brand serves it: its messages go to the brand's seller.
    Serving(String),
    /// A brand that was removed had it: its customers are told it is not in
    /// service.
    Retired(String),
    /// Nobody's.
    Unknown,
}

fn number_key(number: &str) -> String {
    format!("number:{number}")
}

fn brand_key(brand: &str) -> String {
    format!("brand:{brand}")
}

fn store_failed(e: KvError) -> Error {
    Error::failed(e.to_string())
}

/// The learned brands' store; `None` when this deployment grants none, which
/// leaves the gateway with the variable's brands only.
pub fn open() -> Result<Option<Bucket>> {
    match Bucket::open(STORE) {
        Ok(bucket) => Ok(Some(bucket)),
        Err(KvError::NoSuchStore { .. } | KvError::AccessDenied { .. }) => Ok(None),
        Err(e) => Err(store_failed(e)),
    }
}

fn read<T: for<'de> Deserialize<'de>>(bytes: &[u8], key: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::failed(format!("`{STORE}` {key} is unreadable: {e}")))
}

fn write<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(Error::failed)
}

/// Who owns `number`: the variable first, then what was learned.
pub fn owner(configured: &BrandNumbers, learned: Option<&Bucket>, number: &str) -> Result<Owner> {
    if let Some(brand) = configured.brand_of(number) {
        return Ok(Owner::Serving(brand.to_string()));
    }
    let Some(bucket) = learned else { return Ok(Owner::Unknown) };
    let key = number_key(number);
    let Some(bytes) = bucket.get(&key).map_err(store_failed)? else { return Ok(Owner::Unknown) };
    let record: NumberRecord = read(&bytes, &key)?;
    Ok(if record.in_service { Owner::Serving(record.brand) } else { Owner::Retired(record.brand) })
}

/// Serves `data.whatsapp_number` for `data.brand` from now on; what it did,
/// for the log. Refuses (a bad event, nothing changed) a number another
/// brand serves and a brand the variable configures with another number.
pub fn onboard(configured: &BrandNumbers, data: &BrandOnboarded) -> Result<String> {
    let (brand, number) = (data.brand.as_str(), data.whatsapp_number.as_str());
    if let Some(owner) = configured.brand_of(number) {
        if owner == brand {
            return Ok(format!("{brand} already has {number} through the brand_numbers variable"));
        }
        return Err(Error::bad_event(format!(
            "number {number} belongs to brand {owner} (the brand_numbers variable): {brand} cannot take it"
        )));
    }
    if configured.has_brand(brand) {
        return Err(Error::bad_event(format!(
            "brand {brand} is configured by the brand_numbers variable: a package cannot change its number"
        )));
    }
    let bucket = open()?.ok_or_else(|| {
        Error::bad_event(format!("this deployment grants the gateway no `{STORE}` store: it cannot learn brands"))
    })?;

    // The number first: two brands racing for one number must not both win.
    let key = number_key(number);
    bucket.update::<_, Error>(&key, |current| {
        let serving = NumberRecord { brand: brand.to_string(), in_service: true };
        match current {
            Some(bytes) => {
                let record: NumberRecord = read(&bytes, &key)?;
                if record == serving {
                    Ok(Update::Keep(()))
                } else if record.in_service {
                    Err(Error::bad_event(format!(
                        "number {number} belongs to brand {}: {brand} cannot take it",
                        record.brand
                    )))
                } else {
                    // A removed brand's number may be given to the next one.
                    Ok(Update::Write(write(&serving)?, ()))
                }
            }
            None => Ok(Update::Write(write(&serving)?, ())),
        }
    })?;

    let key = brand_key(brand);
    let record = BrandRecord { whatsapp_number: number.to_string(), version: data.version.clone() };
    let before = bucket.update::<_, Error>(&key, |current| match current {
        Some(bytes) => {
            let before: BrandRecord = read(&bytes, &key)?;
            if before == record {
                Ok(Update::Keep(Some(before)))
            } else {
                Ok(Update::Write(write(&record)?, Some(before)))
            }
        }
        None => Ok(Update::Write(write(&record)?, None)),
    })?;

    match before {
        Some(before) if before == record => Ok(format!("{brand} {} is already known: nothing to do", data.version)),
        Some(before) if before.whatsapp_number != number => {
            retire(&bucket, brand, &before.whatsapp_number)?;
            Ok(format!("{brand} moved from number {} to {number}", before.whatsapp_number))
        }
        Some(_) => Ok(format!("{brand} upgraded to {} on number {number}", data.version)),
        None => Ok(format!("{brand} onboarded on number {number}")),
    }
}

/// Marks `number` out of service if it is `brand`'s.
fn retire(bucket: &Bucket, brand: &str, number: &str) -> Result<bool> {
    let key = number_key(number);
    bucket.update::<_, Error>(&key, |current| {
        let Some(bytes) = current else { return Ok(Update::Keep(false)) };
        let record: NumberRecord = read(&bytes, &key)?;
        if record.brand != brand || !record.in_service {
            return Ok(Update::Keep(false));
        }
        Ok(Update::Write(write(&NumberRecord { in_service: false, ..record })?, true))
    })
}

/// Stops serving `data.brand`: its numbers answer that they are not in
/// service. A brand the variable configures is refused; one never learned is
/// nothing to do.
pub fn remove(configured: &BrandNumbers, data: &BrandRemoved) -> Result<String> {
    let brand = data.brand.as_str();
    if configured.has_brand(brand) {
        return Err(Error::bad_event(format!(
            "brand {brand} is configured by the brand_numbers variable: remove it there"
        )));
    }
    let Some(bucket) = open()? else {
        return Ok(format!("no `{STORE}` store: {brand} was never learned here"));
    };
    let key = brand_key(brand);
    let record: Option<BrandRecord> =
        bucket.get(&key).map_err(store_failed)?.map(|bytes| read(&bytes, &key)).transpose()?;
    let mut numbers = vec![data.whatsapp_number.clone()];
    if let Some(record) = &record
        && record.whatsapp_number != data.whatsapp_number
    {
        numbers.push(record.whatsapp_number.clone());
    }
    let mut retired = Vec::new();
    for number in &numbers {
        if retire(&bucket, brand, number)? {
            retired.push(number.as_str());
        }
    }
    bucket.delete(&key).map_err(store_failed)?;
    Ok(match (record, retired.is_empty()) {
        (None, true) => format!("{brand} was not onboarded here (or was already removed): nothing to do"),
        _ => format!(
            "{brand} removed; out of service: {}",
            if retired.is_empty() { "nothing new".to_string() } else { retired.join(", ") }
        ),
    })
}

/// The answer a customer of a removed brand's number gets, in their language.
pub fn not_in_service(text: &str) -> &'static str {
    use agent_store_text::Language;
    match agent_store_text::detect(text).unwrap_or_default() {
        Language::En => {
            "Sorry, this number is no longer in service and messages to it are not read. \
             Thank you for having been our customer."
        }
        Language::Es => {
            "Lo sentimos, este número ya no está en servicio y los mensajes que recibe no se leen. \
             Gracias por haber sido nuestro cliente."
        }
        Language::Pt => {
            "Desculpe, este número não está mais em serviço e as mensagens enviadas a ele não são lidas. \
             Obrigado por ter sido nosso cliente."
        }
    }
}
