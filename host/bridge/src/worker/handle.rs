//! The terminal's handle on the worker: cheap to clone, and nothing on it blocks the terminal
//! (publishing only enqueues).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tether_protocol::api::WorkerState;
use tether_protocol::{NewEvent, Payload};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Command, Status};

/// How long [`WorkerHandle::shutdown`] waits for queued events before stopping anyway.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// The terminal's side of a running worker: publish events, report the session's state, watch
/// [`Status`], shut down.
#[derive(Clone)]
pub struct WorkerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    /// Events handed to the worker so far. The lock also orders the sends, so that the n-th
    /// event counted is the n-th the worker receives and `flush` waits for the right ones.
    published: Mutex<u64>,
    /// Events the relay acknowledged (or refused for good), in publishing order.
    settled: watch::Receiver<u64>,
    status: watch::Receiver<Status>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl WorkerHandle {
    pub(crate) fn new(
        commands: mpsc::UnboundedSender<Command>,
        settled: watch::Receiver<u64>,
        status: watch::Receiver<Status>,
        task: JoinHandle<()>,
    ) -> Self {
        WorkerHandle {
            inner: Arc::new(Inner {
                commands,
                published: Mutex::new(0),
                settled,
                status,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Queue `payload` for every client, with a fresh UUID as its event id, which is returned.
    /// Never blocks: while offline, events wait and go out in order on reconnect. After the
    /// worker stopped, events are dropped (and `flush` says so).
    pub fn publish(&self, payload: &Payload) -> String {
        let event = NewEvent::typed(payload);
        let id = event.id.clone();
        let mut published = self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Counted even when the worker has stopped, so that `flush` owns up to the loss.
        *published += 1;
        let _ = self.inner.commands.send(Command::Publish(event));
        id
    }

    /// Report the terminal's state (`PUT …/worker`). Only the latest is sent, after the events
    /// published before it.
    pub fn set_state(&self, state: WorkerState, details: Option<Value>) {
        let _ = self.inner.commands.send(Command::SetState(state, details));
    }

    /// Wait up to `timeout` for every event published so far to be acknowledged. `false` if
    /// some are still queued (offline, or the worker stopped).
    pub async fn flush(&self, timeout: Duration) -> bool {
        let target = *self
            .inner
            .published
            .lock()
            .unwrap_or_else(|p| p.into_inner());
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
