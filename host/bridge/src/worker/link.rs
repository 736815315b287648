//! One connection to the relay, over either transport: the worker stream coming in, and — over
//! a WebSocket — writes going out and their answers coming back. The worker loop sees only
//! [`Item`]s, so SSE and WebSocket follow the same rules.

use std::collections::VecDeque;

use tether_protocol::api::{Published, SocketReply, SocketWrite};
use tether_protocol::{Event, SessionId};
use tether_sse::Parser;

use super::Transport;
use super::ws::WsLink;
use crate::api::{Api, ApiError, status_for_kind};

/// What arrives on a link.
#[derive(Debug)]
pub(crate) enum Item {
    Event(Event),
    /// A WebSocket write was stored (`{"ack": …}`).
    Ack(Published),
    /// A WebSocket write was refused (`{"error": …}`), as the HTTP error it stands for.
    Refused(ApiError),
    /// A keepalive, or anything else that proves the relay is still there.
    Keepalive,
    /// The relay's node is stopping and asks us to reconnect at once (SSE `event: reconnect`,
    /// WebSocket close `1012`); the link is over.
    Moving,
}

/// Both boxed: a link lives for a whole connection, and the two differ a lot in size.
pub(crate) enum Link {
    Sse(Box<SseLink>),
    Ws(Box<WsLink>),
}

impl Link {
    /// Open the worker stream from after `from_seq`.
    pub(crate) async fn open(
        transport: Transport,
        api: Api,
        jwt: String,
        session: SessionId,
        from_seq: u64,
    ) -> Result<Link, ApiError> {
        match transport {
            Transport::Sse => {
                let response = api.open_worker_sse(&jwt, &session, from_seq).await?;
                Ok(Link::Sse(Box::new(SseLink {
                    response,
                    parser: Parser::new(MAX_SSE_LINE),
                    ready: VecDeque::new(),
                })))
            }
            Transport::Ws => {
                let url = api.worker_ws_url(&session, from_seq);
                Ok(Link::Ws(Box::new(WsLink::open(&api, &url, &jwt).await?)))
            }
        }
    }

    /// The next item; an error means the link is over (and why). Cancel-safe, so it can sit in
    /// a `select!`: nothing is consumed until an await completes.
    pub(crate) async fn next(&mut self) -> Result<Item, ApiError> {
        match self {
            Link::Sse(sse) => sse.next().await,
            Link::Ws(ws) => ws.next().await,
        }
    }

    /// Close politely (WebSocket close handshake); an SSE stream just ends.
    pub(crate) async fn close(self) {
        if let Link::Ws(ws) = self {
            ws.close().await;
        }
    }
}

/// The longest line and event an SSE link accepts: the WebSocket link's bound (tungstenite's
/// default message limit), far above any event the relay stores.
const MAX_SSE_LINE: usize = 64 << 20;

pub(crate) struct SseLink {
    response: reqwest::Response,
    parser: Parser,
    ready: VecDeque<tether_sse::Item>,
}

impl SseLink {
    async fn next(&mut self) -> Result<Item, ApiError> {
        loop {
            match self.ready.pop_front() {
                Some(tether_sse::Item::Event(e)) if e.event == tether_protocol::RECONNECT_EVENT => {
                    return Ok(Item::Moving);
                }
                Some(tether_sse::Item::Event(e)) => match serde_json::from_str(&e.data) {
                    Ok(event) => return Ok(Item::Event(event)),
                    Err(error) => {
                        // Skipped rather than fatal: reconnecting would only fetch it again.
                        tracing::warn!(id = %e.id, "skipping an event that is not valid: {error}");
                        continue;
                    }
                },
                Some(tether_sse::Item::Comment(_)) => return Ok(Item::Keepalive),
                Some(tether_sse::Item::Retry(_)) => continue,
                None => {}
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => match self.parser.push(&chunk) {
                    Ok(items) => self.ready.extend(items),
                    Err(e) => return Err(ApiError::Decode(e.to_string())),
                },
                Ok(None) => {
                    // The relay ends a worker stream when it stops, when the session is deleted
                    // and when a newer worker registers; reconnecting tells which.
                    return Err(ApiError::Network("the relay ended the event stream".into()));
                }
                Err(e) => return Err(ApiError::network(e)),
            }
        }
    }
}

/// A WebSocket write: the body the worker would have POSTed, with its epoch.
pub(crate) fn socket_write(epoch: u64, events: Vec<tether_protocol::NewEvent>) -> String {
    serde_json::to_string(&SocketWrite {
        worker_epoch: Some(epoch),
        events,
        // Asked: a worker's stream does not carry its own events back, so only the ack tells
        // it a batch is stored and the next may go.
        ack: true,
    })
    .expect("events serialise")
}

/// A WebSocket text frame: an answer to a write (told apart by its top-level `ack` or `error`
/// key, decisions.md) or an event.
pub(crate) fn socket_frame(text: &str) -> Result<Item, ApiError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ApiError::Decode(e.to_string()))?;
    let is_reply = value.get("ack").is_some() || value.get("error").is_some();
    if is_reply {
        return match serde_json::from_value(value) {
            Ok(SocketReply::Ack { ack }) => Ok(Item::Ack(ack)),
            Ok(SocketReply::Error { error, .. }) => Ok(Item::Refused(ApiError::Status {
                status: status_for_kind(&error.kind),
                kind: error.kind,
                message: error.message,
            })),
            Err(e) => Err(ApiError::Decode(e.to_string())),
        };
    }
    serde_json::from_value(value)
        .map(Item::Event)
        .map_err(|e| ApiError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_frames_are_acks_errors_or_events() {
        let ack = r#"{"ack":{"events":[{"id":"a","seq":3,"duplicate":false}]}}"#;
        let Ok(Item::Ack(p)) = socket_frame(ack) else {
            panic!("ack")
        };
        assert_eq!(p.events[0].seq, 3);
        let error = r#"{"error":{"type":"stale_epoch","message":"stop"}}"#;
        let Ok(Item::Refused(e)) = socket_frame(error) else {
            panic!("error")
        };
        assert_eq!((e.status(), e.kind()), (Some(409), Some("stale_epoch")));
        let event = r#"{"seq":4,"id":"b","type":"user_message","source":"client","created_at":"t","payload":{"text":"hi"}}"#;
        let Ok(Item::Event(e)) = socket_frame(event) else {
            panic!("event")
        };
        assert_eq!((e.seq, e.kind.as_str()), (4, "user_message"));
        assert!(matches!(socket_frame("nonsense"), Err(ApiError::Decode(_))));
        assert!(matches!(
            socket_frame(r#"{"ack":1}"#),
            Err(ApiError::Decode(_))
        ));
    }

    #[test]
    fn socket_writes_carry_the_epoch() {
        let text = socket_write(7, vec![]);
        assert_eq!(text, r#"{"worker_epoch":7,"events":[]}"#);
    }
}
