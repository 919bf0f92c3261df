//! What one call's requests to `*.spin.internal` reach, given to each
//! instance when its store is built (as Spin's outbound interceptor is):
//! the event router publishes through the ingress as the calling component,
//! continuing the chain of the event being handled; any other id is local
//! service chaining to that component, which carries the same chain on.

use std::sync::{Arc, Weak};

use agent_store_events::binding::DELIVERY_PATH;
use agent_store_runtime::capabilities::key_value::staged::Transaction;
use agent_store_runtime::capabilities::outbound_http::{INTERNAL_SUFFIX, InternalRequests};
use anyhow::Result;
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;

use super::ingress::Publisher;
use super::trace::Cause;
use super::{AppInner, EVENT_ROUTER, json_response, log_output};

pub(crate) struct Chained {
    app: Weak<AppInner>,
    caller: Arc<str>,
    cause: Option<Cause>,
    /// The delivery the caller runs in, if any: a component it calls
    /// stages its writes in the same transaction, so that a crash cannot
    /// leave the callee's half (a stock reservation) without the caller's.
    transaction: Option<Arc<Transaction>>,
}

impl Chained {
    pub(crate) fn new(
        app: Weak<AppInner>,
        caller: Arc<str>,
        cause: Option<Cause>,
        transaction: Option<Arc<Transaction>>,
    ) -> Self {
        Self { app, caller, cause, transaction }
    }
}

#[async_trait]
impl InternalRequests for Chained {
    async fn handle(
        &self,
        _caller: &str,
        target: &str,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>> {
        let Some(app) = self.app.upgrade() else {
            return Ok(json_response(503, &json!({ "error": "the host is shutting down" })));
        };
        if target == EVENT_ROUTER {
            let publisher = Publisher::Component { id: self.caller.clone(), cause: self.cause.clone() };
            let (parts, body) = request.into_parts();
            return Ok(match app.ingest(&publisher, &parts.headers, body.to_vec()).await {
                Ok(ids) => json_response(202, &json!({ "accepted": ids.len() })),
                Err(error) => {
                    tracing::warn!(component = %self.caller, error = %error, "a component's publication was refused");
                    json_response(error.status(), &json!({ "error": error.to_string() }))
                }
            });
        }
        // Only the host's own delivery path delivers events: one component
        // must not hand another a forged event by calling it directly.
        if request.uri().path() == DELIVERY_PATH {
            return Ok(json_response(
                403,
                &json!({ "error": format!("events reach `{target}` through the broker, not by a direct call") }),
            ));
        }
        let Some(component) = app.component(target) else {
            return Ok(json_response(404, &json!({ "error": format!("no component `{target}{INTERNAL_SUFFIX}`") })));
        };
        let ctx = app.call_context(target, self.cause.clone(), None, self.transaction.clone());
        let outcome = component.pre.call(request, &ctx).await;
        log_output(target, &outcome.output);
        outcome.result.map_err(|e| anyhow::anyhow!("component `{target}` {e}"))
    }
}
