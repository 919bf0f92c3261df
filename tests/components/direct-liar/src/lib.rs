//! Answers on the direct `agent-store:platform/handler` export with what the
//! SDK would never send, as a hostile brand component could: the host must
//! check a direct answer as it checks an HTTP reply. Chosen by the event's
//! type:
//!
//! - `test.liar.extension`: an event with an extension named `Brand`;
//! - `test.liar.not-json`: data declared JSON that is not;
//! - `test.liar.no-id`: an event without an id;
//! - `test.liar.huge`: 17 MiB of data, more than a reply may carry;
//! - anything else: one good `test.reply`.

#![cfg(target_arch = "wasm32")]

use agent_store_sdk::fast_path::{Error, Event, Guest};
use spin_sdk::http::{Request, Response};

struct Liar;

fn good() -> Event {
    Event {
        id: "reply-1".into(),
        source: "/agent-store/liar".into(),
        type_: "test.reply".into(),
        subject: None,
        time: None,
        datacontenttype: Some("application/json".into()),
        dataschema: None,
        extensions: vec![("brand".into(), "fashion".into())],
        data: Some(br#"{"ok":true}"#.to_vec()),
    }
}

impl Guest for Liar {
    fn handle(event: Event) -> Result<Vec<Event>, Error> {
        let reply = match event.type_.as_str() {
            "test.liar.extension" => Event { extensions: vec![("Brand".into(), "tech".into())], ..good() },
            "test.liar.not-json" => Event { data: Some(b"{not json".to_vec()), ..good() },
            "test.liar.no-id" => Event { id: String::new(), ..good() },
            "test.liar.huge" => Event {
                datacontenttype: Some("application/octet-stream".into()),
                data: Some(vec![b'x'; 17 << 20]),
                ..good()
            },
            _ => good(),
        };
        Ok(vec![reply])
    }
}

agent_store_sdk::fast_path::export_handler!(Liar);

#[spin_sdk::http_component]
fn entry(_request: Request) -> Response {
    Response::new(200, "liar")
}
