//! The browser pages of PROTOCOL.md: log in and out, approve a CLI login, list sessions.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tether_protocol::{RelayKind, SessionId};

use super::html::{self, escape, page};
use super::web;
use crate::auth::cookie;
use crate::auth::device_flow::normalise_user_code;
use crate::auth::extract::{self, ClientAddr};
use crate::auth::password;
use crate::auth::rate_limit::reserve_all;
use crate::auth::secret::{self, SecretKind};
use crate::body::Form;
use crate::error::ApiError;
use crate::state::Shared;
use crate::store::{self, accounts, events, logins, oauth, sessions};

/// The login cookie's account, for pages (which redirect to `/login` rather than answer 401).
pub struct Browser(pub Option<i64>);

impl FromRequestParts<Shared> for Browser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        extract::browser_account(parts, state)
            .await
            .map(Browser)
            .map_err(|e| failure_page("Error", false, e))
    }
}

/// Cookie-authenticated form posts must come from our own pages.
pub struct SameOrigin;

impl FromRequestParts<Shared> for SameOrigin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        extract::check_origin(parts, state)
            .map(|()| SameOrigin)
            .map_err(|e| {
                page(
                    StatusCode::FORBIDDEN,
                    "Refused",
                    false,
                    &format!("<p class=\"error\">{}</p>", escape(&e.message)),
                )
            })
    }
}

/// A `429` page with `Retry-After`, counted in the metrics.
fn too_many(state: &Shared, title: &str, logged_in: bool, body: &str, wait: u64) -> Response {
    state.metrics.rate_limited.fetch_add(1, Relaxed);
    let mut response = page(StatusCode::TOO_MANY_REQUESTS, title, logged_in, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// A page for an error that is the relay's, not the visitor's (the database refused a write,
/// say, because the disk is full): browsers get a page, never the API's JSON.
fn failure_page(title: &str, logged_in: bool, error: ApiError) -> Response {
    let body = format!(
        "<p class=\"error\">{}</p><p>Nothing was changed. Try again in a moment.</p>",
        escape(&error.message)
    );
    page(error.status, title, logged_in, &body)
}

fn to_login(next: &str) -> Response {
    Redirect::to(&format!("/login?next={}", html::encode_query(next))).into_response()
}

pub async fn root() -> Redirect {
    Redirect::to("/code")
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let sessions = state.hub.all();
    let online = sessions
        .iter()
        .filter(|(_, live)| live.worker_online())
        .count();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(sessions.len(), online),
    )
}

/// `/metrics` on the public listener, for scrapers that present `--metrics-token`.
pub async fn metrics_with_token(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let expected = state.config.metrics_token.as_deref().unwrap_or_default();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if expected.is_empty() || !crate::auth::secret::same(presented, expected) {
        return ApiError::unauthorized("/metrics needs `Authorization: Bearer <metrics token>`.")
            .into_response();
    }
    metrics(State(state)).await.into_response()
}

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

pub async fn login_page(Browser(account): Browser, Query(q): Query<NextQuery>) -> Response {
    let next = html::safe_next(q.next.as_deref());
    if account.is_some() {
        return Redirect::to(&next).into_response();
    }
    page(StatusCode::OK, "Log in", false, &login_form(&next, None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<Shared>,
    ClientAddr(address): ClientAddr,
    _origin: SameOrigin,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = html::safe_next(form.next.as_deref());
    let address = address.to_string();
    let name = form.username.trim().to_owned();
    let now = Instant::now();
    // The attempt takes its place in both windows before the (deliberately slow) password check
    // and keeps it if it fails: a burst of guesses is counted exactly as a sequence is, and
    // what the throttle refuses costs no hashing at all.
    let reserved = {
        let mut t = state.throttles();
        t.prune(now);
        let t = &mut *t;
        reserve_all(
            &mut [
                (&mut t.login_by_account, &name),
                (&mut t.login_by_address, &address),
            ],
            now,
        )
    };
    if let Err(wait) = reserved {
        let body = login_form(
            &next,
            Some(&format!("Too many failed attempts. Try again in {wait} s.")),
        );
        return too_many(&state, "Log in", false, &body, wait);
    }
    // An attempt that was not decided (the relay's fault, not the visitor's) does not count.
    let release = || {
        let mut t = state.throttles();
        t.login_by_account.release(&name, now);
        t.login_by_address.release(&address, now);
    };
    let lookup = name.clone();
    let found = match state
        .store
        .read(move |c| accounts::credentials(c, &lookup))
        .await
    {
        Ok(found) => found,
        Err(e) => {
            release();
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
            st.metrics.password_checks.fetch_add(1, Relaxed);
            password::verify(&password, hash.as_deref())
        })
        .await;
    let Ok(ok) = checked else {
        release();
        state.metrics.password_checks_refused.fetch_add(1, Relaxed);
        let body = login_form(
            &next,
            Some("The relay is busy checking other logins. Try again in a moment."),
        );
        let mut response = page(StatusCode::SERVICE_UNAVAILABLE, "Log in", false, &body);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
        return response;
    };
    let (true, Some(account)) = (ok, account) else {
        state.metrics.logins_failed.fetch_add(1, Relaxed);
        tracing::warn!(user = %name.escape_debug(), %address, "failed login");
        return page(
            StatusCode::UNAUTHORIZED,
            "Log in",
            false,
            &login_form(&next, Some("Wrong user name or password.")),
        );
    };
    {
        let mut t = state.throttles();
        t.login_by_account.clear(&name);
        t.login_by_address.release(&address, now);
    }
    tracing::info!(user = %name, %address, "browser login");
    state.metrics.logins_ok.fetch_add(1, Relaxed);
    match with_login_cookie(&state, account, Redirect::to(&next).into_response()).await {
        Ok(response) => response,
        Err(e) => failure_page("Log in", false, e),
    }
}

/// The embedded relay has no password logins (its one account has no password): a browser
/// logs in by opening the terminal's QR link, and `/login` says so instead of offering a form
/// nobody can use and anyone could brute-force.
pub async fn no_password_login(Browser(account): Browser, Query(q): Query<NextQuery>) -> Response {
    let next = html::safe_next(q.next.as_deref());
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
async fn with_login_cookie(
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

pub async fn device_page(Browser(account): Browser, Query(q): Query<DeviceQuery>) -> Response {
    let code = q.user_code.unwrap_or_default();
    if account.is_none() {
        let next = if code.is_empty() {
            "/device".to_owned()
        } else {
            format!("/device?user_code={}", html::encode_query(&code))
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

#[derive(Deserialize)]
pub struct DeviceForm {
    user_code: String,
    decision: String,
}

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
    let key = format!("account:{account}");
    let now = Instant::now();
    // Reserved before the lookup and kept if the code is wrong, as for passwords.
    if let Err(wait) = state.throttles().user_code_attempts.reserve(&key, now) {
        let message = format!("Too many wrong codes. Try again in {wait} s.");
        let body = device_form(&form.user_code, Some(("error", &message)));
        return too_many(&state, "Approve a terminal", true, &body, wait);
    }
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
                    state.throttles().user_code_attempts.release(&key, now);
                    return failure_page("Approve a terminal", true, e.into());
                }
            }
        }
        None => false,
    };
    if !decided {
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
    state.throttles().user_code_attempts.release(&key, now);
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
            let online = state.hub.get(&s.id).is_some_and(|l| l.worker_online());
            let st = s.state.as_str();
            list.push_str(&format!(
                "<li><a href=\"/code/{id}\"><span class=\"s-title\">{title}</span>\
                 <span class=\"s-meta\"><span class=\"pill\" data-value=\"{st}\">{state}</span>\
                 <span class=\"terminal\"><span class=\"dot{dot}\"></span>terminal {online}</span>\
                 <time datetime=\"{updated}\">{ago}</time></span></a></li>",
                id = s.id,
                title = escape(&s.title),
                state = web::state_text(st),
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

#[derive(Deserialize)]
pub struct PairQuery {
    pair: Option<String>,
}

/// `GET /code/{id}?pair=SECRET` (the embedded relay's QR code): spend the one-time secret, log
/// the browser in, and come back without the secret in the address bar or the history.
///
/// Guesses are throttled per address in a window of their own: a bad link never locks anyone
/// out of password logins.
async fn pair(state: &Shared, address: IpAddr, id: &str, secret: &str) -> Response {
    let address = address.to_string();
    let now = Instant::now();
    if let Err(wait) = state.throttles().pairing_by_address.reserve(&address, now) {
        let body = format!("<p class=\"error\">Too many attempts. Try again in {wait} s.</p>");
        return too_many(state, "Pairing refused", false, &body, wait);
    }
    let redeemed = state.pairings().redeem(secret, now);
    let Some(account) = redeemed else {
        return page(
            StatusCode::FORBIDDEN,
            "Pairing refused",
            false,
            "<p class=\"error\">This link was already used or has expired.</p><p>Run <code>/session</code> in the terminal for a new QR code.</p>",
        );
    };
    state.throttles().pairing_by_address.release(&address, now);
    tracing::info!(%address, "browser paired");
    let target = format!("/code/{}", html::encode_query(id));
    match with_login_cookie(state, account, Redirect::to(&target).into_response()).await {
        Ok(r) => r,
        Err(e) => failure_page("Pairing failed", false, e),
    }
}

pub async fn session_page(
    State(state): State<Shared>,
    ClientAddr(address): ClientAddr,
    Browser(account): Browser,
    Path(id): Path<String>,
    Query(q): Query<PairQuery>,
) -> Response {
    // Only the embedded relay issues pairing secrets; a hosted one has none to look up, and
    // treats the parameter as the noise it is.
    if let Some(secret) = q
        .pair
        .as_deref()
        .filter(|_| state.config.kind == RelayKind::Local)
    {
        return pair(&state, address, &id, secret).await;
    }
    let Some(account) = account else {
        return to_login(&format!("/code/{}", html::encode_query(&id)));
    };
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            "No such session",
            true,
            "<p>There is no such session in your account.</p>",
        )
    };
    let Ok(id) = id.parse::<SessionId>() else {
        return not_found();
    };
    let lookup = id.clone();
    let found = state
        .store
        .read(move |c| {
            let Some(row) = sessions::owned(c, &lookup, account)? else {
                return Ok(None);
            };
            let oldest = events::oldest(c, &lookup)?.unwrap_or(1);
            let recent = events::after(
                c,
                &lookup,
                row.last_seq.saturating_sub(200).max(oldest - 1),
                200,
            )?;
            Ok(Some((row, recent)))
        })
        .await;
    let (row, recent) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return failure_page("Session", true, e.into()),
    };
    let online = state.hub.get(&id).is_some_and(|l| l.worker_online());
    web::app_page(&web::AppPage {
        title: &row.title,
        state: row.state.as_str(),
        worker_online: online,
        transcript: &transcript(&recent),
    })
}

/// The most recent messages as escaped HTML, for browsers without scripts (inside
/// `<noscript>`): at most [`TRANSCRIPT_BYTES`], newest kept.
fn transcript(recent: &[tether_protocol::Event]) -> String {
    let mut parts = Vec::new();
    let mut size = 0;
    for e in recent.iter().rev() {
        let text = e.payload.get("text").and_then(|t| t.as_str());
        let (who, text) = match (e.kind.as_str(), text) {
            ("user_message", Some(t)) => ("you", t),
            ("assistant_message", Some(t)) => ("assistant", t),
            ("command_output", Some(t)) => ("command", t),
            _ => continue,
        };
        let class = if who == "you" {
            "event client"
        } else {
            "event"
        };
        let part = format!(
            "<div class=\"{class}\"><div class=\"meta\">{who}</div>{}</div>",
            escape(text)
        );
        size += part.len();
        if size > TRANSCRIPT_BYTES && !parts.is_empty() {
            break;
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return "<p>Nothing has been said in this session yet.</p>".to_owned();
    }
    parts.reverse();
    parts.concat()
}

const TRANSCRIPT_BYTES: usize = 32 * 1024;
