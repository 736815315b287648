//! Server-rendered pages: plain HTML forms that work without scripts (and that tests and scripts
//! can drive), under a strict Content-Security-Policy.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub const CSS: &str = r#"
:root { color-scheme: light dark; --accent: #4f6df5; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
header { display: flex; justify-content: space-between; align-items: center; gap: 1rem; }
header form { margin: 0; }
h1 { font-size: 1.4rem; }
label { display: block; margin: .8rem 0 .2rem; }
input[type=text], input[type=password] { width: 100%; font-size: 1.1rem; padding: .5rem; box-sizing: border-box; }
button { font-size: 1rem; padding: .5rem 1.1rem; margin: .8rem .5rem 0 0; border-radius: .4rem; border: 1px solid var(--accent); background: var(--accent); color: white; }
button.secondary { background: transparent; color: inherit; }
.error { color: #c62828; } .ok { color: #2e7d32; }
.code { font: 1.6rem/1.2 ui-monospace, monospace; letter-spacing: .15em; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .4rem; border-bottom: 1px solid #8884; }
.event { border-left: 3px solid #8886; padding: .2rem .7rem; margin: .6rem 0; white-space: pre-wrap; }
.event.client { border-color: var(--accent); } .meta { opacity: .65; font-size: .85rem; }
"#;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page. `logged_in` adds the log-out button.
pub fn page(status: StatusCode, title: &str, logged_in: bool, body: &str) -> Response {
    let logout = if logged_in {
        r#"<form method="post" action="/logout"><button class="secondary" type="submit">Log out</button></form>"#
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · tether</title><link rel=\"stylesheet\" href=\"/assets/relay.css\"></head>\
         <body><header><strong>tether</strong>{logout}</header><main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Where to go after logging in: only a path on this relay, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_owned()
        }
        _ => "/code".to_owned(),
    }
}

/// Percent-encode a query value.
pub fn encode_query(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn next_never_leaves_the_relay() {
        assert_eq!(
            safe_next(Some("/device?user_code=BCDF-GHJK")),
            "/device?user_code=BCDF-GHJK"
        );
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "",
            "/x\r\nSet-Cookie: a=b",
            "/x\\y",
        ] {
            assert_eq!(safe_next(Some(evil)), "/code", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/code");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query("/device?user_code=A B&x"),
            "%2Fdevice%3Fuser_code%3DA+B%26x"
        );
    }
}
