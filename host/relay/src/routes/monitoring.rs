//! What operators and their scrapers reach: `/healthz`, `/readyz` and `/metrics` (the counters
//! themselves are in `crate::metrics`). None is a page: each answers plain text.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::Shared;

/// `GET /healthz`: the relay is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` waits for the database before it says the relay is not ready.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: the relay can serve requests, its database answering. A load balancer sends
/// traffic only to nodes that say so; `/healthz` says only that the process is alive. SQLite
/// calls run inline (see `Store::write`), so for SQLite the timeout bounds only a database that
/// answers through the runtime; a local file that blocks its thread blocks this answer with it.
/// PostgreSQL's answer comes through the blocking pool, and the timeout bounds it.
///
/// Redis down does not make a node unready: every node would say so at once, and the load
/// balancer would take the whole relay away, while each node goes on serving (following the
/// others through the database). The answer says it instead.
pub async fn readyz(State(state): State<Shared>) -> Response {
    let ping = state.store.read(|c| {
        c.query_one("SELECT 1", &[])?;
        Ok(())
    });
    match tokio::time::timeout(READY_WITHIN, ping).await {
        Ok(Ok(())) if state.nodes.redis_reachable() == Some(false) => {
            "ready (Redis unreachable: following the other nodes through the database)"
                .into_response()
        }
        Ok(Ok(())) => "ready".into_response(),
        Ok(Err(err)) => {
            // Logged, not told: /readyz is public and the error may name paths.
            tracing::warn!("not ready: {err}");
            ApiError::unavailable("The database does not answer.").into_response()
        }
        Err(_) => ApiError::unavailable(format!(
            "The database did not answer within {} s.",
            READY_WITHIN.as_secs()
        ))
        .into_response(),
    }
}

/// `GET /metrics` in the Prometheus text format, with the session gauges counted now.
pub async fn metrics(State(state): State<Shared>) -> impl IntoResponse {
    let sessions = state.hub.all();
    let online = sessions
        .iter()
        .filter(|(_, live)| live.worker_here())
        .count();
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
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
