//! The terminal's handle on the worker: cheap to clone, and nothing on it blocks the terminal
//! (publishing only enqueues). Events are sealed here, under the lock that orders them, so the
//! numbers inside the ciphertexts follow the publishing order and a retry resends the same
//! envelope.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tether_protocol::api::WorkerState;
use tether_protocol::event::MAX_EVENT_BYTES;
use tether_protocol::payload::{CommandOutput, TextFormat};
use tether_protocol::push::{MAX_SEALED, Notify, PushKind};
use tether_protocol::{NewEvent, Payload};
use tether_seal::{Direction, SealError, Sealer, SessionKey, is_sealed, sender_id};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Command, Protection, Status, WorkerConfig};

/// How long [`WorkerHandle::shutdown`] waits for queued events before stopping anyway.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);
/// Room for an event's id and type around its envelope, under the relay's event limit.
const EVENT_FRAME: usize = 160;

/// The terminal's side of a running worker: publish events, report the session's state, watch
/// [`Status`], shut down.
#[derive(Clone)]
pub struct WorkerHandle {
    inner: Arc<Inner>,
}

struct Publishing {
    /// Events handed to the worker so far.
    count: u64,
    /// The worker's publisher of sealed events; `None` only for [`Protection::Plaintext`].
    sealer: Option<Sealer>,
    /// The sealer of calls' texts: a sender of its own, since a call is not an event and must
    /// not spend a number any device's ledger expects to see.
    caller: Option<Sealer>,
    session: String,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    /// The lock also orders the sends, so that the n-th event counted is the n-th the worker
    /// receives (and sealed n-th) and `flush` waits for the right ones.
    published: Mutex<Publishing>,
    /// Events the relay acknowledged (or refused for good), in publishing order.
    settled: watch::Receiver<u64>,
    status: watch::Receiver<Status>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The worker's publisher for `config`: a fresh sender id for each key generation.
pub(crate) fn sealer_for(config: &WorkerConfig) -> Sealers {
    let session = config.session.to_string();
    let (sealer, caller) = match &config.protection {
        Protection::EndToEnd(key) => (
            Some(new_sealer(key, &session)),
            Some(new_caller(key, &session)),
        ),
        Protection::Plaintext => (None, None),
    };
    Sealers {
        sealer,
        caller,
        session,
    }
}

/// What the handle seals with: events, calls, for one session.
pub(crate) struct Sealers {
    sealer: Option<Sealer>,
    caller: Option<Sealer>,
    session: String,
}

fn new_caller(key: &SessionKey, session: &str) -> Sealer {
    Sealer::new(key, session, Direction::Worker, sender_id("n_")).with_limit(MAX_SEALED)
}

fn new_sealer(key: &SessionKey, session: &str) -> Sealer {
    Sealer::new(key, session, Direction::Worker, sender_id("w_"))
        .with_limit(MAX_EVENT_BYTES - EVENT_FRAME)
}

impl WorkerHandle {
    pub(crate) fn new(
        commands: mpsc::UnboundedSender<Command>,
        settled: watch::Receiver<u64>,
        status: watch::Receiver<Status>,
        task: JoinHandle<()>,
        sealers: Sealers,
    ) -> Self {
        WorkerHandle {
            inner: Arc::new(Inner {
                commands,
                published: Mutex::new(Publishing {
                    count: 0,
                    sealer: sealers.sealer,
                    caller: sealers.caller,
                    session: sealers.session,
                }),
                settled,
                status,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Queue `payload` for every client, sealed, with a fresh UUID as its event id, which is
    /// returned. Never blocks: while offline, events wait and go out in order on reconnect.
    /// After the worker stopped, events are dropped (and `flush` says so). An event too large
    /// for the relay once sealed is replaced by a notice saying so, so devices learn that
    /// something is shown only in the terminal.
    pub fn publish(&self, payload: &Payload) -> String {
        let mut event = NewEvent::typed(payload);
        let id = event.id.clone();
        let mut published = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Counted even when the worker has stopped or the event cannot be sealed, so that
        // `flush` owns up to the loss.
        published.count += 1;
        if let Some(sealer) = published.sealer.as_mut()
            && is_sealed(&event.kind)
            && let Err(e) = seal(sealer, &mut event)
        {
            tracing::error!(kind = %event.kind, "not publishing an event that cannot be sealed: {e}");
            return id;
        }
        let _ = self.inner.commands.send(Command::Publish(event));
        id
    }

    /// Seal with `key` from now on, as a new sender, and open clients' events only with it:
    /// devices holding an earlier key can no longer read or send (`/session revoke`).
    pub fn rekey(&self, key: &SessionKey) {
        let mut published = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if published.sealer.is_some() {
            published.sealer = Some(new_sealer(key, &published.session));
            published.caller = Some(new_caller(key, &published.session));
            let _ = self.inner.commands.send(Command::Rekey(key.clone()));
        }
    }

    /// Call the session's person on the devices that want `kind` (Web Push through the relay,
    /// docs/protocol.md 5.10): `title` and `body` sealed under the session key as the text of
    /// call `tag` (a later call with the same tag replaces it). Without end-to-end encryption
    /// no text is sent, and devices show a generic line. Never blocks; best effort.
    pub fn call(&self, kind: PushKind, tag: &str, title: &str, body: &str) {
        let mut published = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let text = serde_json::json!({ "title": title, "body": body });
        let sealed = match published.caller.as_mut() {
            Some(caller) => match caller.seal(tag, "notification", &text) {
                Ok(envelope) => Some(envelope),
                Err(e) => {
                    tracing::warn!("not calling: the text cannot be sealed: {e}");
                    return;
                }
            },
            None => None,
        };
        let call = Notify {
            kind,
            tag: tag.to_owned(),
            sealed,
            close: false,
        };
        let _ = self.inner.commands.send(Command::Notify(call));
    }

    /// Withdraw call `tag` on every device (it was answered, or no longer waits).
    pub fn withdraw(&self, kind: PushKind, tag: &str) {
        let call = Notify {
            kind,
            tag: tag.to_owned(),
            sealed: None,
            close: true,
        };
        let _ = self.inner.commands.send(Command::Notify(call));
    }

    /// Report the terminal's state (`PUT …/worker`). Only the latest is sent, after the events
    /// published before it.
    pub fn set_state(&self, state: WorkerState, details: Option<Value>) {
        let _ = self.inner.commands.send(Command::SetState(state, details));
    }

    /// Wait up to `timeout` for every event published so far to be acknowledged. `false` if
    /// some are still queued (offline, or the worker stopped).
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count;
        let mut settled = self.inner.settled.clone();
        let reached = tokio::time::timeout(timeout, settled.wait_for(|n| *n >= target))
            .await
            .map(|waited| waited.is_ok());
        match reached {
            Ok(true) => true,
            // The worker is gone; whatever it settled last is final.
            Ok(false) => *settled.borrow() >= target,
            Err(_) => false,
        }
    }

    /// The worker's status, now and as it changes.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.status.clone()
    }

    /// Deliver what is queued (waiting at most a couple of seconds), then stop the worker and
    /// wait for it to finish. Other clones of the handle see it stopped.
    pub async fn shutdown(self) {
        self.flush(SHUTDOWN_FLUSH).await;
        let _ = self.inner.commands.send(Command::Shutdown);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Seal `event` in place; one too large for the relay becomes a sealed notice under the same id.
fn seal(sealer: &mut Sealer, event: &mut NewEvent) -> Result<(), SealError> {
    let envelope = match sealer.seal(&event.id, &event.kind, &event.payload) {
        Err(SealError::TooLarge { bytes, .. }) => {
            let notice = Payload::CommandOutput(CommandOutput {
                command: String::new(),
                text: format!(
                    "A {} of {} KiB was too large to send to remote devices; it is shown only in the terminal.",
                    event.kind.replace('_', " "),
                    bytes / 1024
                ),
                format: TextFormat::Text,
                error: true,
                unsent: None,
                unsent_id: None,
            });
            let notice = NewEvent::typed(&notice);
            event.kind = notice.kind;
            sealer.seal(&event.id, &event.kind, &notice.payload)?
        }
        other => other?,
    };
    event.payload = envelope;
    Ok(())
}
