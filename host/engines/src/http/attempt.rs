//! One attempt at a turn: the request, its status, then the body's events to the decoder until
//! the reply is complete, under the stall timeout.

use std::time::{Duration, SystemTime};

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use reqwest::header::HeaderMap;

use super::attempts::Item;
use super::decoder::{Decoder, SseEvent, Step};
use super::endpoint::Call;
use super::failure::{
    Failure, dropped, root_cause, send_failure, stalled, status_failure, stream_error_failure,
};
use super::provider_error::ProviderError;
use super::retry::{parse_retry_after, parse_retry_after_ms};
use crate::EngineEvent;

/// How long the end of a finished reply's body is waited for, to keep the connection.
const LINGER: Duration = Duration::from_millis(250);
/// The most of an error body that is read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The longest SSE line, and the largest event, that is held while it arrives.
const MAX_PENDING_EVENT: usize = 16 * 1024 * 1024;

/// One attempt: the request, then the stream until the reply is complete.
pub(crate) async fn attempt_once<D: Decoder>(
    call: &Call,
    mut decoder: D,
    tx: &mut mpsc::Sender<Item>,
    delivered: &mut bool,
) -> Result<(), Failure> {
    let p = &call.provider;
    let request = call
        .client
        .post(&call.url)
        .headers(call.headers.clone())
        .body(call.body.clone())
        .send();
    let response = match tokio::time::timeout(call.stall, request).await {
        Err(_) => return Err(stalled(p, call.stall, "no answer")),
        Ok(Err(e)) => return Err(send_failure(p, &e)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    tracing::debug!(url = %call.url, status = status.as_u16(), "engine response");
    if !status.is_success() {
        let retry_after = retry_after(response.headers());
        let body = read_limited(response, call.stall).await;
        return Err(status_failure(p, status.as_u16(), &body, retry_after));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        // Some servers answer an error, or a whole reply, as JSON despite `stream: true`.
        let body = read_limited(response, call.stall).await;
        return Err(
            match serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .as_ref()
                .and_then(ProviderError::from_json)
            {
                Some(said) => stream_error_failure(p, &said),
                None => Failure::fatal(format!(
                    "{} answered without streaming (content-type {content_type}): `{}`",
                    p.subject(),
                    p.quote(&body, 80)
                )),
            },
        );
    }

    let mut body = response.bytes_stream();
    let mut parser = tether_sse::Parser::new(MAX_PENDING_EVENT);
    let mut text = Vec::new();
    loop {
        let (events, eof) = match tokio::time::timeout(call.stall, body.next()).await {
            Err(_) => return Err(stalled(p, call.stall, "the reply stalled")),
            Ok(Some(Err(e))) => {
                tracing::debug!(url = %call.url, error = %e, "engine body error");
                return Err(dropped(p, Some(root_cause(&e))));
            }
            Ok(Some(Ok(bytes))) => match parser.push(&bytes) {
                Ok(items) => (only_events(items), false),
                Err(_) => {
                    return Err(Failure::fatal(format!(
                        "{} sent an event larger than {} MiB; giving up on it.",
                        p.subject(),
                        MAX_PENDING_EVENT >> 20
                    )));
                }
            },
            Ok(None) => (parser.finish().into_iter().collect(), true),
        };
        for event in events {
            let step = decoder.event(event, &mut text)?;
            for delta in text.drain(..) {
                if !delta.is_empty() {
                    *delivered = true;
                    let _ = tx.send(Ok(EngineEvent::Delta(delta))).await;
                }
            }
            if let Step::Done(usage) = step {
                let _ = tx.send(Ok(EngineEvent::Usage(usage))).await;
                // Read the rest of the body (normally just its end) so that the connection goes
                // back to the pool for the next turn instead of being closed.
                let rest = async { while let Some(Ok(_)) = body.next().await {} };
                let _ = tokio::time::timeout(LINGER, rest).await;
                return Ok(());
            }
        }
        if eof {
            let usage = decoder.end().ok_or_else(|| dropped(p, None))?;
            let _ = tx.send(Ok(EngineEvent::Usage(usage))).await;
            return Ok(());
        }
    }
}

/// The events among `items`: comments (keep-alives) and `retry` (a browser's reconnection
/// delay) mean nothing to a single request.
fn only_events(items: Vec<tether_sse::Item>) -> Vec<SseEvent> {
    items
        .into_iter()
        .filter_map(|item| match item {
            tether_sse::Item::Event(event) => Some(event),
            tether_sse::Item::Comment(_) | tether_sse::Item::Retry(_) => None,
        })
        .collect()
}

/// The wait a response asks for: `retry-after-ms` (OpenAI) or `retry-after`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    get("retry-after-ms")
        .and_then(parse_retry_after_ms)
        .or_else(|| get("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now())))
}

/// Up to [`MAX_ERROR_BODY`] bytes of a body, as text; whatever arrived if it stalls or fails.
async fn read_limited(mut response: reqwest::Response, stall: Duration) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(stall, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}
