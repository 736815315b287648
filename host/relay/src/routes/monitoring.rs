//! What operators and their scrapers reach: `/healthz` and `/metrics` (the counters themselves
//! are in `crate::metrics`). Neither is a page: both answer plain text.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::Shared;

/// `GET /healthz`: the relay is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics` in the Prometheus text format, with the session gauges counted now.
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
