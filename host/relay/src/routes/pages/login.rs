//! `/login` and `/logout`: the password form of a hosted relay, the notice that replaces it on
//! the embedded one, and the login cookie both of them (and pairing) set.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{escape, page, page_with_script, safe_next};
use super::{Browser, SameOrigin, failure_page};
use crate::auth::cookie;
use crate::auth::extract::{self, ClientAddr};
use crate::auth::password;
use crate::auth::secret::{self, SecretKind};
use crate::body::Form;
use crate::error::ApiError;
use crate::state::Shared;
use crate::store::{self, accounts, logins};
use crate::throttle::{self, Refused, Window};

/// `?next=`: where to go once logged in.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_form(next: &str, message: Option<&str>) -> String {
    let message = message.map_or(String::new(), |m| {
        format!("<p class=\"error\">{}</p>", escape(m))
    });
    format!(
        "{message}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label for=\"username\">User name</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
         <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">Log in</button></form>",
        next = escape(next)
    )
}

/// The page around the password form, with the script that keeps the address's fragment on
/// the form's own (a link to a session carries its key there: `/code/<id>#k=…` →
/// `/login?next=…#k=…` → the post → `/code/<id>#k=…`).
fn form_page(status: StatusCode, body: &str) -> Response {
    page_with_script(status, "Log in", false, body, "/assets/login.js")
}

/// `GET /login`: the form, or straight on to `next` for a browser already logged in.
pub async fn login_page(Browser(account): Browser, Query(q): Query<NextQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if account.is_some() {
        return Redirect::to(&next).into_response();
    }
    form_page(StatusCode::OK, &login_form(&next, None))
}

/// The password form as posted.
#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: check the password (throttled per account and per address) and set the
/// login cookie.
pub async fn login(
    State(state): State<Shared>,
    ClientAddr(address): ClientAddr,
    _origin: SameOrigin,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let address = address.to_string();
    let name = form.username.trim().to_owned();
    // The attempt takes its place in both windows before the (deliberately slow) password check
    // and keeps it if it fails: a burst of guesses is counted exactly as a sequence is, and
    // what the throttle refuses costs no hashing at all.
    let places = [
        (Window::LoginByAccount, name.as_str()),
        (Window::LoginByAddress, address.as_str()),
    ];
    let reservation = match throttle::reserve(&state, &places).await {
        Ok(reservation) => reservation,
        Err(Refused::Wait(wait)) => {
            let body = login_form(
                &next,
                Some(&format!("Too many failed attempts. Try again in {wait} s.")),
            );
            let mut response = form_page(StatusCode::TOO_MANY_REQUESTS, &body);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return response;
        }
        Err(Refused::Store(e)) => return failure_page("Log in", false, e.into()),
    };
    let lookup = name.clone();
    let found = match state
        .store
        .read(move |c| accounts::credentials(c, &lookup))
        .await
    {
        Ok(found) => found,
        Err(e) => {
            // Not decided (the relay's fault, not the visitor's): it does not count.
            reservation.undecided(&state).await;
            return failure_page("Log in", false, e.into());
        }
    };
    let (account, hash) = match found {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let password = form.password;
    let st = state.clone();
    let checked = state
        .passwords
        .run(move || {
            st.metrics.password_checks.inc();
            password::verify(&password, hash.as_deref())
        })
        .await;
    let Ok(ok) = checked else {
        reservation.undecided(&state).await;
        state.metrics.password_checks_refused.inc();
        let body = login_form(
            &next,
            Some("The relay is busy checking other logins. Try again in a moment."),
        );
        let mut response = form_page(StatusCode::SERVICE_UNAVAILABLE, &body);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
        return response;
    };
    let (true, Some(account)) = (ok, account) else {
        reservation.keep();
        state.metrics.logins_failed.inc();
        tracing::warn!(user = %name.escape_debug(), %address, "failed login");
        return form_page(
            StatusCode::UNAUTHORIZED,
            &login_form(&next, Some("Wrong user name or password.")),
        );
    };
    reservation.succeeded(&state).await;
    tracing::info!(user = %name, %address, "browser login");
    state.metrics.logins_ok.inc();
    match with_login_cookie(&state, account, Redirect::to(&next).into_response()).await {
        Ok(response) => response,
        Err(e) => failure_page("Log in", false, e),
    }
}

/// The embedded relay has no password logins (its one account has no password): a browser
/// logs in by opening the terminal's QR link, and `/login` says so instead of offering a form
/// nobody can use and anyone could brute-force.
pub async fn no_password_login(Browser(account): Browser, Query(q): Query<NextQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if account.is_some() {
        return Redirect::to(&next).into_response();
    }
    page(StatusCode::OK, "Log in", false, NO_PASSWORD_LOGIN)
}

/// `POST /login` on the embedded relay: there is no password to check.
pub async fn password_login_off() -> Response {
    page(StatusCode::NOT_FOUND, "Log in", false, NO_PASSWORD_LOGIN)
}

const NO_PASSWORD_LOGIN: &str = "<p>This relay belongs to a terminal session. Open the link \
    from its QR code to log in; <code>/session</code> in the terminal shows a fresh one.</p>";

/// Log the browser in as `account`: store a new login and set its cookie on `response`.
pub(super) async fn with_login_cookie(
    state: &Shared,
    account: i64,
    mut response: Response,
) -> Result<Response, ApiError> {
    let token = secret::generate(SecretKind::BrowserLogin);
    let hash = secret::digest(SecretKind::BrowserLogin, &token).expect("fresh secret");
    let now_s = store::now();
    let lifetime = state.config.lifetimes.browser_login.as_secs();
    state
        .store
        .write(move |c| logins::create(c, &hash, account, now_s, now_s + lifetime))
        .await?;
    let set = cookie::set_cookie(
        &state.cookie_name,
        Some(&token),
        lifetime,
        state.cookie_secure,
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&set).expect("cookie is ASCII"),
    );
    Ok(response)
}

/// `POST /logout`: forget the login (and end the streams it opened) and clear its cookie.
pub async fn logout(
    State(state): State<Shared>,
    _origin: SameOrigin,
    headers: HeaderMap,
) -> Response {
    let token = extract::cookie_in(&headers, &state.cookie_name).map(str::to_owned);
    if let Some(hash) = token.and_then(|t| secret::digest(SecretKind::BrowserLogin, &t)) {
        let deleted = state.store.write(move |c| logins::delete(c, &hash)).await;
        if let Err(e) = deleted {
            // Clearing the cookie alone would leave a login the user believes is gone.
            return failure_page("Log out", true, e.into());
        }
        // Its open streams were authorised by the cookie just deleted.
        state.hub.revocations.revoke(
            crate::revocation::Login::Browser(hash),
            crate::revocation::keep(&state),
        );
    }
    let mut response = Redirect::to("/login").into_response();
    let clear = cookie::set_cookie(&state.cookie_name, None, 0, state.cookie_secure);
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear).expect("ASCII"),
    );
    response
}
