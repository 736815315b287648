//! `/code`: the list of the account's sessions, and `/`, which leads there.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};

use super::app::state_text;
use super::render::{escape, page};
use super::{Browser, failure_page, to_login};
use crate::state::Shared;
use crate::store::{self, sessions};

/// `GET /`: the sessions are the home page.
pub async fn root() -> Redirect {
    Redirect::to("/code")
}

/// "5 min ago": how long before `now` the unix time `then` was.
fn ago(now: u64, then: u64) -> String {
    let s = now.saturating_sub(then);
    match s {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86400 => format!("{} h ago", s / 3600),
        86400..172800 => "yesterday".to_owned(),
        _ => format!("{} days ago", s / 86400),
    }
}

/// `GET /code`: every session of the account, newest first, with its state and its worker's
/// presence.
pub async fn sessions_page(State(state): State<Shared>, Browser(account): Browser) -> Response {
    let Some(account) = account else {
        return to_login("/code");
    };
    let rows = match state.store.read(move |c| sessions::list(c, account)).await {
        Ok(rows) => rows,
        Err(e) => return failure_page("Your sessions", true, e.into()),
    };
    let body = if rows.is_empty() {
        "<p class=\"empty\">No sessions yet. Start one with <code>tether --remote</code> and scan its QR code.</p>".to_owned()
    } else {
        let now = store::now();
        let mut list = String::from("<ul class=\"sessions\">");
        for s in rows {
            let online = s.worker_online;
            let st = s.state.as_str();
            list.push_str(&format!(
                "<li><a href=\"/code/{id}\"><span class=\"s-title\">{title}</span>\
                 <span class=\"s-meta\"><span class=\"pill\" data-value=\"{st}\">{state}</span>\
                 <span class=\"terminal\"><span class=\"dot{dot}\"></span>terminal {online}</span>\
                 <time datetime=\"{updated}\">{ago}</time></span></a></li>",
                id = s.id,
                title = escape(&s.title),
                state = state_text(st),
                dot = if online { " online" } else { "" },
                online = if online { "online" } else { "offline" },
                updated = store::rfc3339(s.updated_at),
                ago = ago(now, s.updated_at),
            ));
        }
        list + "</ul>"
    };
    let body = body
        + "<p class=\"hint\">On a phone, your browser's <em>Add to Home Screen</em> keeps tether one tap away.</p>";
    page(StatusCode::OK, "Your sessions", true, &body)
}
