//! Exports `agent-store:platform/handler` with a `handle` of another
//! signature than the platform's: the host must refuse it when it loads, not
//! fail every event.

#![cfg(target_arch = "wasm32")]

use spin_sdk::http::{Request, Response};

mod mismatch {
    spin_sdk::wit_bindgen::generate!({
        inline: "package agent-store:platform@0.1.0;
                 interface handler { handle: func(event: string) -> string; }
                 world mismatch { export handler; }",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });

    struct Mismatch;

    impl exports::agent_store::platform::handler::Guest for Mismatch {
        fn handle(event: String) -> String {
            event
        }
    }

    export!(Mismatch);
}

#[spin_sdk::http_component]
fn entry(_request: Request) -> Response {
    Response::new(200, "mismatch")
}
