//! Server-rendered pages: plain HTML forms that work without scripts (and that tests and scripts
//! can drive), under a strict Content-Security-Policy.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every page's policy: no script at all, styles and images from this relay only.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page with a script of this relay's own (a file, never inline): the login
/// form's, which keeps the link's fragment across the post.
pub const SCRIPT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every page's `<head>` carries: viewport, themes, the manifest (so that any page can be
/// added to a home screen), icons and the stylesheet.
pub fn head(title: &str) -> String {
    format!(
        "<meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1, viewport-fit=cover\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <meta name=\"theme-color\" content=\"#f7f7f8\" media=\"(prefers-color-scheme: light)\">\
         <meta name=\"theme-color\" content=\"#17181c\" media=\"(prefers-color-scheme: dark)\">\
         <meta name=\"mobile-web-app-capable\" content=\"yes\">\
         <meta name=\"apple-mobile-web-app-capable\" content=\"yes\">\
         <meta name=\"apple-mobile-web-app-title\" content=\"tether\">\
         <title>{title} · tether</title>\
         <link rel=\"manifest\" href=\"/manifest.webmanifest\">\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\
         <link rel=\"apple-touch-icon\" href=\"/assets/icon-192.png\">\
         <link rel=\"stylesheet\" href=\"/assets/app.css?v={css}\">",
        title = escape(title),
        css = crate::routes::assets::version("/assets/app.css"),
    )
}

/// `text` made safe to put in HTML text and attribute values.
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
    page_with(status, title, logged_in, body, None)
}

/// A whole page that runs the asset at `script` (an [`crate::routes::assets`] path), under
/// [`SCRIPT_CSP`].
pub fn page_with_script(
    status: StatusCode,
    title: &str,
    logged_in: bool,
    body: &str,
    script: &'static str,
) -> Response {
    page_with(status, title, logged_in, body, Some(script))
}

fn page_with(
    status: StatusCode,
    title: &str,
    logged_in: bool,
    body: &str,
    script: Option<&'static str>,
) -> Response {
    let logout = if logged_in {
        r#"<form method="post" action="/logout"><button class="secondary" type="submit">Log out</button></form>"#
    } else {
        ""
    };
    let script_tag = script.map_or(String::new(), |path| {
        format!(
            "<script src=\"{path}?v={}\" defer></script>",
            crate::routes::assets::version(path)
        )
    });
    let html = format!(
        "<!doctype html><html lang=\"en\"><head>{head}{script_tag}</head>\
         <body class=\"page\"><header><a class=\"brand\" href=\"/code\"><img src=\"/assets/icon.svg\" alt=\"\">tether</a>{logout}</header>\
         <main><h1>{title}</h1>{body}</main></body></html>",
        head = head(title),
        title = escape(title),
    );
    document(
        status,
        html,
        if script.is_some() { SCRIPT_CSP } else { CSP },
    )
}

/// An HTML document with the headers every page carries: its Content-Security-Policy,
/// `nosniff`, `no-store`, and `Referrer-Policy: same-origin` (not `no-referrer`: under
/// `no-referrer` browsers send `Origin: null` with form posts, which the Origin check rightly
/// refuses; other sites still get nothing).
pub fn document(status: StatusCode, html: String, csp: &'static str) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
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
