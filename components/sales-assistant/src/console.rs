//! The sellers' console: the web page human sellers work in, at
//! `/sales/console` (see `docs/console.md`).
//!
//! Three files, built into the component (no CDN, no build step, no other
//! server): `console/index.html`, `console/console.css` and
//! `console/console.js`. They are public, as any login page is; the page
//! asks for the seller's token and sends it with every API call, which is
//! where access is decided. The token lives in the tab's `sessionStorage`
//! only.
//!
//! The page never turns customer text into markup (it builds the DOM with
//! `textContent`), and its Content-Security-Policy allows scripts from this
//! origin only, inline ones none: a customer who calls themselves
//! `<img src=x onerror=…>` is shown by that name and runs nothing.

use spin_sdk::http::{Method, Response};

const INDEX: &str = include_str!("../console/index.html");
const CSS: &str = include_str!("../console/console.css");
const JS: &str = include_str!("../console/console.js");

/// Scripts and styles from this origin only, nothing inline, no frames;
/// product pictures come from the catalog's `https` image hosts.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's page or asset for `path`, or `None` when the path is the
/// API's.
pub fn serve(method: &Method, path: &str) -> Option<Response> {
    let (body, content_type) = match path {
        "/sales/console" | "/sales/console/" => (INDEX, "text/html; charset=utf-8"),
        "/sales/console/console.css" => (CSS, "text/css; charset=utf-8"),
        "/sales/console/console.js" => (JS, "text/javascript; charset=utf-8"),
        _ if path.starts_with("/sales/console/") => {
            return Some(plain(404, "no such file in the console"));
        }
        _ => return None,
    };
    if !matches!(method, Method::Get | Method::Head) {
        return Some(plain(405, "the console is read with GET"));
    }
    let body = if matches!(method, Method::Head) { "" } else { body };
    Some(
        Response::builder()
            .status(200)
            .header("content-type", content_type)
            .header("content-security-policy", CSP)
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            .header("x-frame-options", "DENY")
            // Small files that change with the component: always revalidate.
            .header("cache-control", "no-cache")
            .body(body)
            .build(),
    )
}

fn plain(status: u16, message: &str) -> Response {
    Response::builder().status(status).header("content-type", "text/plain; charset=utf-8").body(message).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.header(name).and_then(|v| v.as_str())
    }

    /// Whether `html` has an inline event handler attribute (` onclick=`…).
    fn has_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(at, _)| {
            let name: String = html[at + 3..].chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
        })
    }

    #[test]
    fn the_page_and_its_assets_are_served_and_the_api_is_not_touched() {
        for (path, kind) in [
            ("/sales/console", "text/html"),
            ("/sales/console/", "text/html"),
            ("/sales/console/console.js", "text/javascript"),
            ("/sales/console/console.css", "text/css"),
        ] {
            let response = serve(&Method::Get, path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(*response.status(), 200, "{path}");
            assert!(header(&response, "content-type").is_some_and(|t| t.starts_with(kind)), "{path}");
            assert_eq!(header(&response, "content-security-policy"), Some(CSP), "{path}");
            assert!(!response.body().is_empty(), "{path}");
        }
        assert_eq!(*serve(&Method::Get, "/sales/console/../escalations").unwrap().status(), 404);
        assert_eq!(*serve(&Method::Post, "/sales/console").unwrap().status(), 405);
        for api in ["/sales/escalations", "/sales/analytics", "/sales/consoles", "/sales"] {
            assert!(serve(&Method::Get, api).is_none(), "{api}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_writes_no_markup_from_data() {
        assert!(INDEX.contains(r#"src="/sales/console/console.js""#));
        assert!(INDEX.contains(r#"href="/sales/console/console.css""#));
        for text in [INDEX, CSS, JS] {
            // The SVG namespace is a name, not an address.
            let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(!text.contains("http://") && !text.contains("https://"), "no CDN, no remote asset");
        }
        // Customer text reaches the page through textContent only.
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!JS.contains(sink), "console.js uses {sink}");
        }
        assert!(!INDEX.contains("<script>") && !has_handler(INDEX), "no inline script or handler");
        assert!(has_handler(r#"<img src=x onerror=alert(1)>"#) && !has_handler("one only"));
        // The token stays in the tab.
        assert!(JS.contains("sessionStorage") && !JS.contains("localStorage") && !JS.contains("document.cookie"));
    }
}
