//! The server-rendered pages: plain HTML forms that work without scripts (and that tests and
//! scripts can drive), one file per page, plus the web client's page ([`app`]).
//!
//! Pages answer like a browser expects, never with the API's JSON: an anonymous visitor is sent
//! to `/login`, a refused form post gets a page saying why, and a failure of the relay's own
//! (a full disk, say) gets a page too. The extractors and responses below are shared by every
//! page for that reason.

pub mod app;
pub mod device;
pub mod login;
mod pairing;
pub mod render;
pub mod session;
pub mod session_list;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use self::render::{encode_query, escape, page};
use crate::auth::extract;
use crate::error::ApiError;
use crate::state::Shared;

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
fn too_many(title: &str, logged_in: bool, body: &str, wait: u64) -> Response {
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

/// To the login page, coming back to `next` afterwards.
fn to_login(next: &str) -> Response {
    Redirect::to(&format!("/login?next={}", encode_query(next))).into_response()
}
