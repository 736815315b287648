//! The HTTP surface, one file per audience: pages for browsers, OAuth and devices for the CLI,
//! sessions, the worker's endpoints and the clients'.

pub mod client;
pub mod devices;
pub mod html;
pub mod oauth;
pub mod pages;
pub mod sessions;
pub mod streams;
pub mod web;
pub mod worker;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::state::Shared;

pub fn router(state: Shared) -> Router {
    let limit = state.config.limits.max_body;
    web::routes(Router::new())
        .route("/", get(pages::root))
        .route("/healthz", get(pages::healthz))
        .route("/metrics", get(pages::metrics))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route(
            "/device",
            get(pages::device_page).post(pages::device_decide),
        )
        .route("/code", get(pages::sessions_page))
        .route("/code/{id}", get(pages::session_page))
        .route("/v1/oauth/device/code", post(oauth::device_code))
        .route("/v1/oauth/token", post(oauth::token))
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
        .route("/v1/code/sessions/{id}/events/stream", get(client::sse))
        .route("/v1/code/sessions/{id}/ws", get(client::ws))
        .route("/v1/code/sessions/{id}/events", post(client::post_events))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
