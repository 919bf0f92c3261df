//! Reading `store.brand.onboarded` and `store.brand.removed` the same way in
//! every component that learns brands at runtime.
//!
//! A component keeps what it learns in its own key-value store, so an event it
//! accepts changes state that outlives the call: the checks here run before
//! anything is kept, and a refusal is a bad event (dead-lettered at once, not
//! retried), which leaves what the component knew untouched.

use agent_store_events::{BrandOnboarded, BrandRemoved, EventData};

use crate::{Error, Incoming, Result};

/// The data of a `store.brand.onboarded`, checked: well-formed, and its
/// `brand` extension names the same brand (subscriptions and logs go by the
/// extension, what is kept by the data; they must not disagree).
pub fn onboarded(event: &Incoming) -> Result<BrandOnboarded> {
    let data: BrandOnboarded = event.data()?;
    data.validate().map_err(|e| refused(event, &e))?;
    same_brand(event, data.brand.as_str())?;
    Ok(data)
}

/// The data of a `store.brand.removed`, checked like [`onboarded`].
pub fn removed(event: &Incoming) -> Result<BrandRemoved> {
    let data: BrandRemoved = event.data()?;
    data.validate().map_err(|e| refused(event, &e))?;
    same_brand(event, data.brand.as_str())?;
    Ok(data)
}

/// Whether `event` is one of the two brand events.
pub fn is_brand_event(event: &Incoming) -> bool {
    matches!(event.ty(), BrandOnboarded::TYPE | BrandRemoved::TYPE)
}

fn same_brand(event: &Incoming, brand: &str) -> Result<()> {
    match event.brand() {
        Some(extension) if extension == brand => Ok(()),
        Some(extension) => {
            Err(refused(event, &format!("the brand extension is {extension:?} but the data's brand {brand:?}")))
        }
        None => Err(refused(event, "it has no brand extension")),
    }
}

/// A refusal that names the event, for the dead letter.
pub fn refused(event: &Incoming, reason: &str) -> Error {
    Error::bad_event(format!("{} {} refused: {reason}", event.ty(), event.id()))
}
