//! `/device`: the page where a logged-in browser approves or denies a CLI's device login
//! (RFC 8628) by its user code.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::render::{encode_query, escape, page};
use super::{Browser, SameOrigin, failure_page, to_login, too_many};
use crate::auth::device_flow::normalise_user_code;
use crate::body::Form;
use crate::state::Shared;
use crate::store::{self, oauth};
use crate::throttle::{self, Refused, Window};

/// `?user_code=`, filled in from the terminal's verification link.
#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

fn device_form(code: &str, message: Option<(&str, &str)>) -> String {
    let message = message.map_or(String::new(), |(class, m)| {
        format!("<p class=\"{class}\">{}</p>", escape(m))
    });
    format!(
        "{message}<p>A terminal asked to log in to this account. Check that the code below is the one it shows, then approve it.</p>\
         <form method=\"post\" action=\"/device\">\
         <label for=\"user_code\">Code</label><input class=\"code\" type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" autocapitalize=\"characters\" required>\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
         <button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        code = escape(code)
    )
}

/// `GET /device`: the approval form (after logging in).
pub async fn device_page(Browser(account): Browser, Query(q): Query<DeviceQuery>) -> Response {
    let code = q.user_code.unwrap_or_default();
    if account.is_none() {
        let next = if code.is_empty() {
            "/device".to_owned()
        } else {
            format!("/device?user_code={}", encode_query(&code))
        };
        return to_login(&next);
    }
    page(
        StatusCode::OK,
        "Approve a terminal",
        true,
        &device_form(&code, None),
    )
}

/// The approval form as posted.
#[derive(Deserialize)]
pub struct DeviceForm {
    user_code: String,
    decision: String,
}

/// `POST /device`: approve or deny the login waiting for the code (wrong codes throttled per
/// account).
pub async fn device_decide(
    State(state): State<Shared>,
    _origin: SameOrigin,
    Browser(account): Browser,
    Form(form): Form<DeviceForm>,
) -> Response {
    let Some(account) = account else {
        return to_login("/device");
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Approve a terminal",
                true,
                &device_form(&form.user_code, Some(("error", "Choose Approve or Deny."))),
            );
        }
    };
    let key = account.to_string();
    // Reserved before the lookup and kept if the code is wrong, as for passwords.
    let reservation = match throttle::reserve(&state, &[(Window::UserCodesByAccount, &key)]).await {
        Ok(reservation) => reservation,
        Err(Refused::Wait(wait)) => {
            let message = format!("Too many wrong codes. Try again in {wait} s.");
            let body = device_form(&form.user_code, Some(("error", &message)));
            return too_many("Approve a terminal", true, &body, wait);
        }
        Err(Refused::Store(e)) => return failure_page("Approve a terminal", true, e.into()),
    };
    let decided = match normalise_user_code(&form.user_code) {
        Some(code) => {
            let now_s = store::now();
            match state
                .store
                .write(move |c| oauth::decide(c, &code, account, approve, now_s))
                .await
            {
                Ok(decided) => decided,
                Err(e) => {
                    reservation.undecided(&state).await;
                    return failure_page("Approve a terminal", true, e.into());
                }
            }
        }
        None => false,
    };
    if !decided {
        reservation.keep();
        return page(
            StatusCode::NOT_FOUND,
            "Approve a terminal",
            true,
            &device_form(
                &form.user_code,
                Some((
                    "error",
                    "No login is waiting for that code. It may have expired: start again in the terminal.",
                )),
            ),
        );
    }
    reservation.succeeded(&state).await;
    tracing::info!(account, approve, "device login decided");
    let message = if approve {
        "<p class=\"ok\">Approved. The terminal is now logged in; you can close this page.</p>"
    } else {
        "<p class=\"ok\">Denied. The terminal was not logged in.</p>"
    };
    page(
        StatusCode::OK,
        "Approve a terminal",
        true,
        &format!("{message}<p><a href=\"/code\">Your sessions</a></p>"),
    )
}
