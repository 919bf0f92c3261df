//! The loopback default is not a browser's way in. A page on any web site
//! can make a browser send requests to `127.0.0.1:3000`, and with a DNS
//! name that resolves to 127.0.0.1 (DNS rebinding) even read the answers.
//! Such requests carry the attacker's name in `Host`, so while the host
//! listens on loopback it serves only requests that name this machine.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::ServerState;

/// The names a request to a loopback listener may use for it.
const LOCAL_NAMES: &[&str] = &["localhost", "127.0.0.1", "[::1]", "::1"];

/// The host part of a `Host` header value, without its port.
fn host_name(value: &str) -> &str {
    if value.starts_with('[') {
        return value.split_once(']').map(|(h, _)| &value[..=h.len()]).unwrap_or(value);
    }
    value.rsplit_once(':').map(|(h, _)| h).unwrap_or(value)
}

pub(super) fn is_local(host: &str) -> bool {
    let name = host_name(host.trim()).to_ascii_lowercase();
    LOCAL_NAMES.contains(&name.as_str()) || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) async fn host_header(State(state): State<ServerState>, request: Request, next: Next) -> Response {
    if state.loopback
        && let Some(host) = request.headers().get(axum::http::header::HOST)
    {
        let allowed = host.to_str().is_ok_and(is_local);
        if !allowed {
            tracing::warn!(host = ?host, path = request.uri().path(), "refused a request that names another host");
            return (
                StatusCode::FORBIDDEN,
                Json(json!({
                    "error": "this host listens on loopback and answers only requests to localhost or 127.0.0.1 \
                              (a DNS rebinding guard); listen on another address to serve other names"
                })),
            )
                .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_s_names_pass() {
        for ok in ["127.0.0.1:3000", "localhost:3000", "LOCALHOST", "[::1]:3000", "127.0.0.1", "127.0.0.2:80"] {
            assert!(is_local(ok), "{ok}");
        }
        for bad in ["evil.example:3000", "127.0.0.1.evil.example", "localhost.evil.example:3000", "[::2]:3000", ""] {
            assert!(!is_local(bad), "{bad}");
        }
    }
}
