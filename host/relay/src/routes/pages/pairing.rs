//! Pairing (the embedded relay only): its QR code is a link to the session with a one-time
//! secret, and opening it logs the browser in.

use std::net::IpAddr;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::login::with_login_cookie;
use super::render::{encode_query, page};
use super::{failure_page, too_many};
use crate::state::Shared;
use crate::throttle::{self, Refused, Window};

/// `GET /code/{id}?pair=SECRET` (the embedded relay's QR code): spend the one-time secret, log
/// the browser in, and come back without the secret in the address bar or the history.
///
/// Guesses are throttled per address in a window of their own: a bad link never locks anyone
/// out of password logins.
pub(super) async fn pair(state: &Shared, address: IpAddr, id: &str, secret: &str) -> Response {
    let address = address.to_string();
    let reservation = match throttle::reserve(state, &[(Window::PairingByAddress, &address)]).await
    {
        Ok(reservation) => reservation,
        Err(Refused::Wait(wait)) => {
            let body = format!("<p class=\"error\">Too many attempts. Try again in {wait} s.</p>");
            return too_many("Pairing refused", false, &body, wait);
        }
        Err(Refused::Store(e)) => return failure_page("Pairing failed", false, e.into()),
    };
    let redeemed = state.pairings().redeem(secret, Instant::now());
    let Some(account) = redeemed else {
        reservation.keep();
        return page(
            StatusCode::FORBIDDEN,
            "Pairing refused",
            false,
            "<p class=\"error\">This link was already used or has expired.</p><p>Run <code>/session</code> in the terminal for a new QR code.</p>",
        );
    };
    reservation.succeeded(state).await;
    tracing::info!(%address, "browser paired");
    let target = format!("/code/{}", encode_query(id));
    match with_login_cookie(state, account, Redirect::to(&target).into_response()).await {
        Ok(r) => r,
        Err(e) => failure_page("Pairing failed", false, e),
    }
}
