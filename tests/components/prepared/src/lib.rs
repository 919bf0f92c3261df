//! Prepares itself once (the SDK's `init`), for the tests of the host's
//! pre-initialization. What `init` does is chosen by its environment,
//! `PREPARE`:
//!
//! - `read` (the default): reads `/data/note.txt`;
//! - `key-value`: tries to open the `default` store, which `init` must not reach;
//! - `trap`: panics;
//! - `loop`: never returns.
//!
//! `GET /state` answers what `init` left, how many calls this instance has
//! served (1 when every call has an instance of its own) and the note as it
//! reads now, which shows the files are still reachable after the snapshot.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use agent_store_sdk::spin_sdk::http::{Request, Response};
use agent_store_sdk::{Event, Incoming, Result};

static PREPARED: OnceLock<String> = OnceLock::new();
static CALLS: AtomicU32 = AtomicU32::new(0);

fn note() -> String {
    std::fs::read_to_string("/data/note.txt").unwrap_or_else(|e| format!("unreadable: {e}"))
}

fn prepare() {
    let prepared = match std::env::var("PREPARE").as_deref() {
        Ok("key-value") => match agent_store_sdk::spin_sdk::key_value::Store::open("default") {
            Ok(_) => "key-value: opened".to_string(),
            Err(e) => format!("key-value: refused ({e:?})"),
        },
        Ok("trap") => panic!("failing to prepare on purpose"),
        #[expect(clippy::empty_loop, reason = "the endless init the time limit must stop")]
        Ok("loop") => loop {},
        _ => note(),
    };
    let _ = PREPARED.set(prepared);
}

async fn handle(_event: Incoming) -> Result<Vec<Event>> {
    Ok(Vec::new())
}

async fn http(_request: Request) -> Response {
    let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    let state = serde_json::json!({ "prepared": PREPARED.get(), "calls": calls, "note": note() });
    Response::builder().status(200).header("content-type", "application/json").body(state.to_string()).build()
}

agent_store_sdk::export!(id: "prepared", events: handle, http: http, init: prepare);
