//! The HTTP surface, by who reads the answer:
//!
//! - `api/`: JSON (and event streams) for programs: the CLI's OAuth and devices, sessions, the
//!   worker's endpoints and the clients'.
//! - `pages/`: HTML for people in a browser, server-rendered, including the web client's page.
//! - `assets.rs`: the web client's static files.
//! - `monitoring.rs`: `/healthz`, `/readyz` and `/metrics`, for operators.
//!
//! This file is the table of routes, so that every path the relay answers is in one place.

pub mod api;
pub mod assets;
pub mod monitoring;
pub mod pages;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use tether_protocol::RelayKind;

use self::api::{client, devices, oauth, push, sessions, worker};
use self::pages::{device, login, session, session_list};
use crate::state::Shared;

/// What the public listener serves besides the API every relay needs. The embedded relay
/// (`RelayKind::Local`) has one account, logged in by the terminal itself, and browsers that
/// log in with its QR link: a password form or a device flow there would only be something to
/// brute-force or phish with. `/metrics` is public only behind a token (`--metrics-token-file`);
/// otherwise it is on its own listener ([`metrics_router`]) or nowhere.
fn optional_routes(router: Router<Shared>, state: &Shared) -> Router<Shared> {
    let router = if state.config.kind == RelayKind::Local {
        router.route(
            "/login",
            get(login::no_password_login).post(login::password_login_off),
        )
    } else {
        router
            .route("/login", get(login::login_page).post(login::login))
            .route(
                "/device",
                get(device::device_page).post(device::device_decide),
            )
            .route("/v1/oauth/device/code", post(oauth::device_code))
    };
    if state.config.metrics_token.is_some() {
        router.route("/metrics", get(monitoring::metrics_with_token))
    } else {
        router
    }
}

/// The metrics listener's whole surface (`--metrics-listen`).
pub fn metrics_router(state: Shared) -> Router {
    Router::new()
        .route("/metrics", get(monitoring::metrics))
        .route("/healthz", get(monitoring::healthz))
        .route("/readyz", get(monitoring::readyz))
        .with_state(state)
}

/// The public listener's whole surface.
pub fn router(state: Shared) -> Router {
    let limit = state.config.limits.max_body;
    optional_routes(assets::routes(Router::new()), &state)
        .route("/", get(session_list::root))
        .route("/healthz", get(monitoring::healthz))
        .route("/readyz", get(monitoring::readyz))
        .route("/logout", post(login::logout))
        .route("/code", get(session_list::sessions_page))
        .route("/code/{id}", get(session::session_page))
        .route("/v1/oauth/token", post(oauth::token))
        .route("/v1/oauth/revoke", post(oauth::revoke))
        .route(
            "/v1/auth/trusted_devices",
            post(devices::enroll).get(devices::list),
        )
        .route(
            "/v1/auth/trusted_devices/{device_id}",
            delete(devices::revoke),
        )
        .route(
            "/v1/code/sessions",
            post(sessions::create).get(sessions::list),
        )
        .route(
            "/v1/code/sessions/{id}",
            get(sessions::get)
                .patch(sessions::patch)
                .delete(sessions::delete),
        )
        .route("/v1/code/sessions/{id}/bridge", post(sessions::bridge))
        .route(
            "/v1/code/sessions/{id}/worker/events/stream",
            get(worker::sse),
        )
        .route("/v1/code/sessions/{id}/worker/ws", get(worker::ws))
        .route(
            "/v1/code/sessions/{id}/worker/events",
            post(worker::post_events),
        )
        .route(
            "/v1/code/sessions/{id}/worker",
            axum::routing::put(worker::put_state),
        )
        .route(
            "/v1/code/sessions/{id}/worker/heartbeat",
            post(worker::heartbeat),
        )
        .route("/v1/code/sessions/{id}/worker/notify", post(worker::notify))
        .route("/v1/push/key", get(push::key))
        .route(
            "/v1/push/looking/{session}",
            axum::routing::put(push::looking),
        )
        .route("/v1/push/subscriptions", get(push::list))
        .route(
            "/v1/push/subscriptions/{device}",
            axum::routing::put(push::put)
                .patch(push::set_kinds)
                .delete(push::remove),
        )
        .route("/v1/code/sessions/{id}/events/stream", get(client::sse))
        .route("/v1/code/sessions/{id}/ws", get(client::ws))
        .route("/v1/code/sessions/{id}/events", post(client::post_events))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
