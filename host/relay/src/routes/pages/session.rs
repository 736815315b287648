//! `/code/{id}`: one session's page, which is the web client (see [`super::app`]). The relay
//! renders nothing of the conversation: it cannot read it (docs/protocol.md §4.7).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tether_protocol::{RelayKind, SessionId};

use super::app::{self, AppPage};
use super::render::{encode_query, page};
use super::{Browser, failure_page, pairing, to_login};
use crate::auth::extract::ClientAddr;
use crate::state::Shared;
use crate::store::sessions;

/// `?pair=`: the embedded relay's one-time pairing secret.
#[derive(Deserialize)]
pub struct PairQuery {
    pair: Option<String>,
}

/// `GET /code/{id}`: the web client for the session's owner, after pairing if the link carries
/// a secret.
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
        return pairing::pair(&state, address, &id, secret).await;
    }
    let Some(account) = account else {
        return to_login(&format!("/code/{}", encode_query(&id)));
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
        .read(move |c| sessions::owned(c, &lookup, account))
        .await;
    let row = match found {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(e) => return failure_page("Session", true, e.into()),
    };
    app::app_page(&AppPage {
        title: &row.title,
        state: row.state.as_str(),
        worker_online: row.worker_online,
        last_seq: row.last_seq,
    })
}
