//! `GET /media/<media_id>`: the file behind a media id a customer sent, for
//! the other components, which have no access token.
//!
//! Only service chaining reaches this route
//! (`http://whatsapp-gateway.spin.internal/media/<media_id>`, the caller
//! allowing that host): the public route is exactly `/webhooks/whatsapp`.
//! The Cloud API hands media out in two steps: `GET {api_base}/{media_id}`
//! answers with a short-lived download `url`, which is fetched with the same
//! bearer token. On the real API that URL is on `lookaside.fbsbx.com`, which
//! is why the gateway's `allowed_outbound_hosts` in `spin.toml` lists
//! `https://lookaside.fbsbx.com` next to the API's origin.

use serde::Deserialize;
use spin_sdk::http::{Request, Response};

use crate::config::CloudApi;
use crate::json_response;

/// Meta's media ids are digits; anything that could change the URL's path or
/// query is refused before it gets near one.
fn valid_media_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Deserialize)]
struct MediaUrl {
    url: String,
    #[serde(default)]
    mime_type: Option<String>,
}

pub async fn serve(media_id: &str) -> Response {
    if !valid_media_id(media_id) {
        return json_response(400, "a media id is letters, digits, `-` and `_` only");
    }
    let api = match CloudApi::load() {
        Ok(api) => api,
        Err(e) => return json_response(500, &e.to_string()),
    };
    let bearer = format!("Bearer {}", api.access_token);
    let lookup = Request::get(format!("{}/{media_id}", api.api_base)).header("authorization", bearer.as_str()).build();
    let found: Response = match spin_sdk::http::send(lookup).await {
        Ok(response) => response,
        Err(e) => return json_response(502, &format!("the Cloud API cannot be reached: {e}")),
    };
    match *found.status() {
        200..=299 => {}
        404 | 400 => {
            return json_response(404, &format!("the Cloud API knows no media {media_id}"));
        }
        status => {
            return json_response(502, &format!("the Cloud API answered {status} for media {media_id}"));
        }
    }
    let Ok(media) = serde_json::from_slice::<MediaUrl>(found.body()) else {
        return json_response(502, "the Cloud API's media answer has no url");
    };
    if !(media.url.starts_with("https://") || media.url.starts_with("http://")) {
        return json_response(502, "the Cloud API's media url is not http(s)");
    }
    let download = Request::get(media.url.as_str()).header("authorization", bearer.as_str()).build();
    let file: Response = match spin_sdk::http::send(download).await {
        Ok(response) => response,
        // Not the URL: it is a signed, short-lived link.
        Err(e) => return json_response(502, &format!("downloading media {media_id} failed: {e}")),
    };
    if !(200..300).contains(file.status()) {
        return json_response(502, &format!("downloading media {media_id} answered {}", file.status()));
    }
    let content_type = media
        .mime_type
        .or_else(|| file.header("content-type").and_then(|v| v.as_str()).map(str::to_string))
        .unwrap_or_else(|| "application/octet-stream".to_string());
    Response::builder().status(200).header("content-type", content_type).body(file.into_body()).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_cannot_steer_the_url() {
        assert!(valid_media_id("1027384756102938"));
        for bad in ["", "../phone_numbers", "1?fields=x", "1/2", "1%2F2", &"9".repeat(129)] {
            assert!(!valid_media_id(bad), "{bad}");
        }
    }
}
