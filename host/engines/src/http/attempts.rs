//! One turn's attempts: tried until one completes, retrying transient failures (before any
//! text was shown) with the policy's waits, as a stream that owns its future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};

use super::attempt::attempt_once;
use super::decoder::Decoder;
use super::endpoint::Call;
use crate::secret;
use crate::sentence::end_sentence;
use crate::{EngineError, EngineEvent, EngineStream};

pub(crate) type Item = Result<EngineEvent, EngineError>;

/// Runs `call` as an [`EngineStream`], reading each attempt with a decoder from `decoder`.
pub(crate) fn stream<D, F>(call: Call, decoder: F) -> EngineStream
where
    D: Decoder + 'static,
    F: Fn() -> D + Send + 'static,
{
    let (tx, rx) = mpsc::channel(0);
    Box::pin(Driven {
        attempts: Some(Box::pin(run(call, decoder, tx))),
        events: rx,
    })
}

/// A stream fed by a future that it owns and polls: no task is spawned, so dropping the stream
/// stops everything at once, and `reply` needs no runtime to be called.
struct Driven {
    attempts: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    events: mpsc::Receiver<Item>,
}

impl Stream for Driven {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        if let Some(attempts) = this.attempts.as_mut()
            && attempts.as_mut().poll(cx).is_ready()
        {
            this.attempts = None;
        }
        // The attempts future holds the only sender: once it is done, this ends after the last event.
        this.events.poll_next_unpin(cx)
    }
}

async fn run<D, F>(call: Call, decoder: F, mut tx: mpsc::Sender<Item>)
where
    D: Decoder + 'static,
    F: Fn() -> D + Send + 'static,
{
    let redact = |text: &str| secret::redact(text, call.provider.key.as_ref());
    let max = call.retry.max_attempts.max(1);
    let mut delivered = false;
    let mut attempt = 1;
    loop {
        tracing::debug!(url = %call.url, attempt, "engine request");
        let failure = match attempt_once(&call, decoder(), &mut tx, &mut delivered).await {
            Ok(()) => return,
            Err(failure) => failure,
        };
        let message = match failure.transient {
            Some(transient) if !delivered && attempt < max => {
                let after = call
                    .retry
                    .delay(attempt, transient.retry_after, fastrand::f64());
                attempt += 1;
                let event = EngineEvent::Retrying {
                    attempt,
                    of: max,
                    after,
                    reason: redact(&transient.reason),
                };
                let _ = tx.send(Ok(event)).await;
                tokio::time::sleep(after).await;
                continue;
            }
            Some(_) if !delivered && max > 1 => {
                format!(
                    "{} Gave up after {max} attempts.",
                    end_sentence(&failure.message)
                )
            }
            Some(_) if delivered => format!(
                "{} The reply is incomplete.",
                end_sentence(&failure.message)
            ),
            _ => failure.message,
        };
        let _ = tx.send(Err(EngineError(redact(&message)))).await;
        return;
    }
}
