//! The writes a WebSocket peer sends: read ahead, checked as a POST's body is, published together
//! and answered in order. A stored write is answered only when it asks (`"ack"`, on by default);
//! a refused one always is, naming its events, so that a writer that asks for no acks still
//! knows which of its writes failed.

use std::sync::Arc;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::SinkExt as _;
use serde::Deserialize;
use tether_protocol::api::{MAX_NAMED_ID, Published, PublishedEvent, SocketReply, SocketWrite};
use tether_protocol::{SessionId, Source, StreamEnd};

use super::streams::close_socket;
use crate::error::{ApiError, ApiResult};
use crate::feed::Audience;
use crate::hub::Live;
use crate::state::Shared;
use crate::{presence, publish};

/// At most this many frames are read ahead and answered together.
pub(super) const READ_AHEAD: usize = 64;

/// A frame that may call for an answer, in the order it came.
pub(super) enum Frame {
    /// A write: `{"worker_epoch", "events", "ack"}`.
    Write(Utf8Bytes),
    /// Not JSON text: refused, the socket stays open.
    Binary,
}

impl Frame {
    pub(super) fn len(&self) -> usize {
        match self {
            Frame::Write(text) => text.len(),
            Frame::Binary => 0,
        }
    }
}

/// Whether reading may go on after a frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    More,
    /// The peer closed, or the connection failed: answer what came before, then stop.
    Closed,
    /// The peer sent a message over the limit: answer what came before, then close with 1009.
    TooBig,
}

/// Keep what `message` asks for in `frames`.
pub(super) fn take(
    message: Option<Result<Message, axum::Error>>,
    frames: &mut Vec<Frame>,
) -> After {
    match message {
        Some(Ok(Message::Text(text))) => frames.push(Frame::Write(text)),
        Some(Ok(Message::Binary(_))) => frames.push(Frame::Binary),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
        Some(Err(e)) if too_big(&e) => return After::TooBig,
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return After::Closed,
    }
    After::More
}

/// Whether a read failed because the peer's frame or message is over the size limit.
fn too_big(e: &axum::Error) -> bool {
    use std::error::Error as _;
    matches!(
        e.source()
            .and_then(|inner| inner.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// How one frame is answered once the writes of its read-ahead are published.
enum Reply {
    /// Stored: the index of its batch among those published, and whether it asked for an ack.
    Stored {
        batch: usize,
        ack: bool,
    },
    Refused(ApiError),
}

/// Answer `frames` in their order: the writes among them published in one transaction, the
/// replies they call for, one flush. A write of a stale worker is answered, then the socket is
/// closed with 4409 and the frames after it are not: false, as when the socket went away.
pub(super) async fn answer(
    socket: &mut WebSocket,
    state: &Shared,
    session: &SessionId,
    live: &Arc<Live>,
    audience: Audience,
    frames: Vec<Frame>,
) -> bool {
    if frames.is_empty() {
        return true;
    }
    let mut replies: Vec<Reply> = Vec::with_capacity(frames.len());
    let mut batches = Vec::new();
    let mut stale = false;
    for frame in &frames {
        let checked = match frame {
            Frame::Binary => Err(ApiError::bad_request("Send JSON text frames.")),
            Frame::Write(text) => check(state, live, audience, text.as_str()),
        };
        match checked {
            Ok((ack, batch)) => {
                replies.push(Reply::Stored {
                    batch: batches.len(),
                    ack,
                });
                batches.push(batch);
            }
            Err(e) => {
                stale = e.status.as_u16() == 409;
                replies.push(Reply::Refused(e));
                if stale {
                    break;
                }
            }
        }
    }
    let mut published = if batches.is_empty() {
        Ok(Vec::new())
    } else {
        publish_checked(state, session, live, audience, batches).await
    };
    let mut fed = false;
    for (reply, frame) in replies.into_iter().zip(&frames) {
        let text = match (reply, &mut published) {
            (Reply::Stored { ack: false, .. }, Ok(_)) => continue,
            (Reply::Stored { batch, .. }, Ok(answers)) => {
                let events = std::mem::take(&mut answers[batch]);
                ack_reply(events)
            }
            (Reply::Stored { .. }, Err(e)) => error_reply(e, frame),
            (Reply::Refused(e), _) => error_reply(&e, frame),
        };
        if socket.feed(Message::Text(text.into())).await.is_err() {
            return false;
        }
        fed = true;
    }
    if fed && socket.flush().await.is_err() {
        return false;
    }
    if stale {
        close_socket(socket, StreamEnd::StaleEpoch).await;
        return false;
    }
    true
}

fn ack_reply(events: Vec<PublishedEvent>) -> String {
    let ack = Published { events };
    serde_json::to_string(&SocketReply::Ack { ack }).expect("serialises")
}

fn error_reply(e: &ApiError, frame: &Frame) -> String {
    let ids = match frame {
        Frame::Write(text) => named(text.as_str()),
        Frame::Binary => Vec::new(),
    };
    let reply = SocketReply::Error {
        error: e.detail(),
        ids,
    };
    serde_json::to_string(&reply).expect("serialises")
}

/// The event ids a refused write names, read leniently: it may be the very frame that did not
/// parse. Only refusals pay for this second reading. Ids longer than [`MAX_NAMED_ID`] (never a
/// valid one) and ids that are not strings are left out rather than echoed.
pub(crate) fn named(text: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(default)]
        events: Vec<serde_json::Value>,
    }
    let Ok(named) = serde_json::from_str::<Named>(text) else {
        return Vec::new();
    };
    named
        .events
        .iter()
        .filter_map(|e| e.get("id")?.as_str())
        .filter(|id| id.len() <= MAX_NAMED_ID)
        .map(String::from)
        .collect()
}

/// A write's body, from a worker of the current epoch or a client, checked as a POST's is; with
/// whether it asks for an ack.
fn check(
    state: &Shared,
    live: &Live,
    audience: Audience,
    text: &str,
) -> ApiResult<(bool, publish::Validated)> {
    let body: SocketWrite = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("The message is not valid: {e}.")))?;
    let source = match audience {
        Audience::Client => Source::Client,
        Audience::Worker { epoch } => {
            let current = live.head().epoch;
            if epoch != current || body.worker_epoch != Some(current) {
                state.metrics.stale_epoch_refusals.inc();
                return Err(ApiError::stale_epoch(current));
            }
            Source::Worker
        }
    };
    Ok((body.ack, publish::validate(state, source, body.events)?))
}

/// Publish the checked writes of one read-ahead; a worker's count as one hearing of it.
async fn publish_checked(
    state: &Shared,
    session: &SessionId,
    live: &Live,
    audience: Audience,
    batches: Vec<publish::Validated>,
) -> ApiResult<Vec<Vec<PublishedEvent>>> {
    if matches!(audience, Audience::Worker { .. }) {
        presence::heard(state, session, live, false).await?;
    }
    publish::publish_all(state, session, batches).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_ids_it_can_read_and_nothing_else() {
        let ids = |text: &str| named(text);
        assert_eq!(
            ids(r#"{"events":[{"id":"a","type":"x"},{"id":"b"}],"ack":false}"#),
            ["a", "b"]
        );
        // The frame that failed to parse as a write still names what it can.
        assert_eq!(
            ids(r#"{"events":[{"id":"a"},7,{"id":9},{"type":"t"}]}"#),
            ["a"]
        );
        let long = "x".repeat(MAX_NAMED_ID + 1);
        let exact = "y".repeat(MAX_NAMED_ID);
        let text = serde_json::json!({"events": [{"id": long}, {"id": exact}]}).to_string();
        assert_eq!(ids(&text), [exact]);
        for nothing in [
            "{not json",
            "[]",
            r#"{"events":7}"#,
            r#"{"events":[]}"#,
            "{}",
        ] {
            assert!(ids(nothing).is_empty(), "{nothing}");
        }
    }
}
