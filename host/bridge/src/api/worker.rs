//! The worker's endpoints, all behind the worker JWT from `/bridge` and its epoch.

use tether_protocol::api::{Heartbeat, Published, PutWorkerState, WorkerEvents, WorkerState};
use tether_protocol::{NewEvent, SessionId};

use super::{Api, ApiError, parse_error, session_path};

impl Api {
    /// `POST …/worker/events`. Idempotent by event id: a retried batch is answered with the
    /// sequence numbers the events got the first time.
    pub async fn publish(
        &self,
        jwt: &str,
        session: &SessionId,
        epoch: u64,
        events: &[NewEvent],
    ) -> Result<Published, ApiError> {
        let request = self
            .http
            .post(self.url(&session_path(session, "/worker/events")))
            .bearer_auth(jwt)
            .json(&WorkerEvents {
                worker_epoch: epoch,
                events: events.to_vec(),
            });
        self.call(request).await
    }

    /// `PUT …/worker`: the worker's state (the relay also publishes `session_state`).
    pub async fn put_state(
        &self,
        jwt: &str,
        session: &SessionId,
        epoch: u64,
        state: WorkerState,
        details: Option<serde_json::Value>,
    ) -> Result<(), ApiError> {
        let request = self
            .http
            .put(self.url(&session_path(session, "/worker")))
            .bearer_auth(jwt)
            .json(&PutWorkerState {
                worker_epoch: epoch,
                state,
                details,
            });
        self.call_empty(request).await
    }

    /// `POST …/worker/notify`: call the session's person on their devices, or withdraw a call.
    pub async fn notify(
        &self,
        jwt: &str,
        session: &SessionId,
        call: &tether_protocol::push::Notify,
    ) -> Result<tether_protocol::push::Notified, ApiError> {
        let request = self
            .http
            .post(self.url(&session_path(session, "/worker/notify")))
            .bearer_auth(jwt)
            .json(call);
        self.call(request).await
    }

    /// `POST …/worker/heartbeat`; `leaving` as the worker's last word.
    pub async fn heartbeat(
        &self,
        jwt: &str,
        session: &SessionId,
        epoch: u64,
        leaving: bool,
    ) -> Result<(), ApiError> {
        let request = self
            .http
            .post(self.url(&session_path(session, "/worker/heartbeat")))
            .bearer_auth(jwt)
            .json(&Heartbeat {
                worker_epoch: epoch,
                leaving,
            });
        self.call_empty(request).await
    }

    /// `GET …/worker/events/stream?from_seq=N`, opened: the response whose body is the SSE
    /// stream, or the relay's refusal.
    pub(crate) async fn open_worker_sse(
        &self,
        jwt: &str,
        session: &SessionId,
        from_seq: u64,
    ) -> Result<reqwest::Response, ApiError> {
        let path = session_path(
            session,
            &format!("/worker/events/stream?from_seq={from_seq}"),
        );
        let open = self
            .streams
            .get(self.url(&path))
            .bearer_auth(jwt)
            .header("accept", "text/event-stream")
            .send();
        let response = tokio::time::timeout(super::REQUEST_TIMEOUT, open)
            .await
            .map_err(|_| ApiError::Network("the event stream did not open in time".into()))?
            .map_err(ApiError::network)?;
        let status = response.status().as_u16();
        if status == 200 {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(parse_error(status, &body))
    }

    /// The URL of `…/worker/ws?from_seq=N`.
    pub(crate) fn worker_ws_url(&self, session: &SessionId, from_seq: u64) -> String {
        self.ws_url(&session_path(
            session,
            &format!("/worker/ws?from_seq={from_seq}"),
        ))
    }
}
