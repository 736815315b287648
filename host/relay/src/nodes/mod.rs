//! Several relay nodes on one PostgreSQL database: how a change that one node commits reaches
//! the readers on the others. The database is the truth and no node owns anything, so any node
//! serves any request. Each node announces its commits on Redis ([`signal`]), a hint that may be
//! lost and is never believed: it only makes the node read that session's head from the
//! database at once. Every node also reads the heads of all the sessions it has readers for
//! ([`poll`]), so that a reader catches up within the poll interval with Redis down or a message
//! lost. The hub only ever moves forward (`Hub::elsewhere`), so news that arrives twice, late
//! or out of order is harmless.
//!
//! On SQLite there is one node, and none of this runs.

pub mod poll;
pub mod signal;

use std::time::Duration;

use tether_protocol::SessionId;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::state::Shared;

/// How a node learns of the others' changes.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    /// Redis, whose pub/sub carries each commit to the other nodes at once. Without it, they
    /// learn from the database within `poll_interval`.
    pub redis_url: Option<String>,
    /// How often the heads of watched sessions are read from the database: the bound on how
    /// late a reader learns of another node's commit when a Redis message is lost.
    pub poll_interval: Duration,
}

impl Default for NodesConfig {
    fn default() -> Self {
        NodesConfig {
            redis_url: None,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Sessions waiting to be announced or read again, at most: beyond, they are dropped (the
/// poll covers them).
const QUEUE: usize = 4096;

/// This node's side of the others: where its commits are told, and where news of theirs is
/// checked against the database.
pub struct Nodes {
    announce: Option<mpsc::Sender<SessionId>>,
    recheck: Option<mpsc::Sender<SessionId>>,
    /// Whether this node is listening on Redis now (with one configured).
    listening: std::sync::atomic::AtomicBool,
}

/// What [`Nodes::new`] leaves for [`run`] to take once the state exists.
pub struct Pending {
    announced: Option<mpsc::Receiver<SessionId>>,
    rechecks: mpsc::Receiver<SessionId>,
}

impl Nodes {
    /// One of several nodes: announcements go to Redis if one is configured.
    pub fn new(config: &NodesConfig) -> (Nodes, Pending) {
        let (announce, announced) = match config.redis_url {
            Some(_) => {
                let (tx, rx) = mpsc::channel(QUEUE);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let (recheck, rechecks) = mpsc::channel(QUEUE);
        (
            Nodes {
                announce,
                recheck: Some(recheck),
                listening: std::sync::atomic::AtomicBool::new(false),
            },
            Pending {
                announced,
                rechecks,
            },
        )
    }

    /// One node only: nothing to tell or hear.
    pub fn alone() -> Nodes {
        Nodes {
            announce: None,
            recheck: None,
            listening: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// With Redis configured, whether this node hears the others on it now.
    pub fn redis_reachable(&self) -> Option<bool> {
        self.announce
            .as_ref()
            .map(|_| self.listening.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn set_listening(&self, listening: bool) {
        self.listening
            .store(listening, std::sync::atomic::Ordering::Relaxed);
    }

    /// Tell the other nodes that this one committed a change to `session`, without waiting: a
    /// full queue drops it, and their poll brings the news instead.
    pub fn tell(&self, session: &SessionId) {
        if let Some(announce) = &self.announce {
            let _ = announce.try_send(session.clone());
        }
    }

    /// Another node says it changed `session`: read its head from the database soon. Only the
    /// database is believed, so a forged or garbled message costs a query, never an event.
    pub fn recheck(&self, session: SessionId) {
        if let Some(recheck) = &self.recheck {
            let _ = recheck.try_send(session);
        }
    }
}

/// Follow the other nodes until the relay stops: the poll, and with Redis the announcer and
/// the listener.
pub fn run(
    state: Shared,
    pending: Pending,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(poll::run(
        state.clone(),
        pending.rechecks,
        shutdown.clone(),
    ))];
    if let (Some(url), Some(announced)) = (state.config.nodes.redis_url.clone(), pending.announced)
    {
        match redis::Client::open(url.as_str()) {
            Ok(client) => {
                tasks.push(tokio::spawn(signal::announce(
                    client.clone(),
                    announced,
                    shutdown.clone(),
                )));
                tasks.push(tokio::spawn(signal::listen(client, state, shutdown)));
            }
            // Checked at start (see `server.rs`); unreachable in practice.
            Err(e) => tracing::error!("the Redis URL is not usable: {e}"),
        }
    }
    tasks
}
