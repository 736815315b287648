//! The web client's page (`GET /code/{id}` for the session's owner): the shell in
//! `host/relay/web/app.html` with its holes filled, under a policy that lets only the client's
//! own scripts run. It carries nothing of the conversation: that is end-to-end encrypted and
//! only the page's script, holding the key, can read it (docs/protocol.md §4.7).

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::Response;

use super::render::{document, escape};
use crate::routes::assets::version;

/// The web client's policy: its own script and styles only, no inline anything, connections
/// back to this relay only.
pub const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The shell of the app page, with `{{name}}` holes filled by [`app_page`].
pub const APP_HTML: &str = include_str!("../../../web/app.html");

/// Fill the `{{name}}` holes of `template` in one pass, so that a value can never open a hole
/// of its own.
fn fill<'a>(template: &str, value: impl Fn(&str) -> Cow<'a, str>) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&value(&after[..end]));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the app page shows before its script runs.
pub struct AppPage<'a> {
    /// The session's title, unescaped.
    pub title: &'a str,
    /// `idle`, `running` or `requires_action`.
    pub state: &'a str,
    /// Whether the session's worker (the terminal) is connected.
    pub worker_online: bool,
    /// The session's last `seq` as the page is made: the replay the script waits for before it
    /// sends again what an earlier load left pending.
    pub last_seq: u64,
}

/// The state as the page words it.
pub fn state_text(state: &str) -> &'static str {
    match state {
        "running" => "running",
        "requires_action" => "waiting for approval",
        _ => "idle",
    }
}

/// `GET /code/{id}` for the session's owner: the web client.
pub fn app_page(page: &AppPage<'_>) -> Response {
    let html = fill(APP_HTML, |key| match key {
        "title" => Cow::Owned(escape(page.title)),
        "state" => Cow::Borrowed(match page.state {
            "running" => "running",
            "requires_action" => "requires_action",
            _ => "idle",
        }),
        "state_text" => Cow::Borrowed(state_text(page.state)),
        "worker" => Cow::Borrowed(if page.worker_online {
            "online"
        } else {
            "offline"
        }),
        "last_seq" => Cow::Owned(page.last_seq.to_string()),
        "css_version" => Cow::Borrowed(version("/assets/app.css")),
        "js_version" => Cow::Borrowed(version("/assets/app.js")),
        "seal_version" => Cow::Borrowed(version("/assets/seal.js")),
        "notify_version" => Cow::Borrowed(version("/assets/notify.js")),
        _ => Cow::Borrowed(""),
    });
    document(StatusCode::OK, html, APP_CSP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_filled_once() {
        let out = fill("<t>{{title}}</t>{{x}}{{open", |k| match k {
            "title" => Cow::Borrowed("{{x}}"),
            "x" => Cow::Borrowed("X"),
            _ => Cow::Borrowed("?"),
        });
        assert_eq!(out, "<t>{{x}}</t>X{{open");
    }

    #[test]
    fn the_shell_has_every_hole_it_needs() {
        for hole in [
            "{{title}}",
            "{{state}}",
            "{{state_text}}",
            "{{worker}}",
            "{{last_seq}}",
            "{{css_version}}",
            "{{js_version}}",
            "{{seal_version}}",
        ] {
            assert!(APP_HTML.contains(hole), "{hole}");
        }
    }
}
