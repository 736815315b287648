//! The open connections and which of them are idle, in the order they became idle, so that a
//! relay at its connection cap can close the one that has waited longest for nothing, and a
//! stopping relay can close every idle one at once.
//!
//! "Idle" means no request is being answered: a connection that has not sent a whole request
//! head yet, or a keep-alive connection between requests. A request in progress, a streaming
//! response (SSE) and a WebSocket upgrade are busy and never closed to make room.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

/// The open connections, and which of them are idle (see the module documentation).
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Increases each time a connection becomes idle: the smallest is the longest idle.
    next_ticket: u64,
    conns: HashMap<u64, Entry>,
    /// ticket → connection id, for the idle connections only.
    idle: BTreeMap<u64, u64>,
}

struct Entry {
    busy: usize,
    /// Set while idle.
    ticket: Option<u64>,
    abort: Option<AbortHandle>,
}

impl Inner {
    fn make_idle(&mut self, id: u64) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if let Some(entry) = self.conns.get_mut(&id) {
            entry.ticket = Some(ticket);
            self.idle.insert(ticket, id);
        }
    }
}

impl Registry {
    /// A new connection: idle until its first request head arrives.
    pub fn open(&self) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.conns.insert(
            id,
            Entry {
                busy: 0,
                ticket: None,
                abort: None,
            },
        );
        inner.make_idle(id);
        id
    }

    /// How to close connection `id` without its cooperation.
    pub fn set_abort(&self, id: u64, abort: AbortHandle) {
        if let Some(entry) = self.lock().conns.get_mut(&id) {
            entry.abort = Some(abort);
        }
    }

    /// The connection is gone.
    pub fn close(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(Entry {
            ticket: Some(ticket),
            ..
        }) = inner.conns.remove(&id)
        {
            inner.idle.remove(&ticket);
        }
    }

    /// A request on `id` began; it is busy until the guard is dropped (its response finished or
    /// was abandoned), or for good once [`Busy::pin`]ned.
    pub fn begin(self: &Arc<Self>, id: u64) -> Busy {
        let mut inner = self.lock();
        if let Some(entry) = inner.conns.get_mut(&id) {
            entry.busy += 1;
            if let Some(ticket) = entry.ticket.take() {
                inner.idle.remove(&ticket);
            }
        }
        Busy {
            registry: Some(Arc::clone(self)),
            id,
        }
    }

    fn end(&self, id: u64) {
        let mut inner = self.lock();
        let now_idle = match inner.conns.get_mut(&id) {
            Some(entry) => {
                entry.busy = entry.busy.saturating_sub(1);
                entry.busy == 0
            }
            None => false,
        };
        if now_idle {
            inner.make_idle(id);
        }
    }

    /// Close the connection idle for the longest. Whether there was one.
    pub fn evict_oldest_idle(&self) -> bool {
        let mut inner = self.lock();
        while let Some((_, id)) = inner.idle.pop_first() {
            if let Some(entry) = inner.conns.get_mut(&id) {
                entry.ticket = None;
                if let Some(abort) = &entry.abort {
                    abort.abort();
                    return true;
                }
            }
        }
        false
    }

    /// Close every idle connection (the relay is stopping). How many.
    pub fn evict_all_idle(&self) -> usize {
        let mut n = 0;
        while self.evict_oldest_idle() {
            n += 1;
        }
        n
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// Connections open now with no request in flight.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.lock().idle.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request being answered; see [`Registry::begin`].
pub struct Busy {
    registry: Option<Arc<Registry>>,
    id: u64,
}

impl Busy {
    /// The connection was taken over (a WebSocket upgrade was answered `101`): it stays busy
    /// for as long as it lives, never a candidate for eviction. Only an upgrade that happened
    /// pins: a request that merely carries an `Upgrade` header could otherwise pin every slot.
    pub fn pin(mut self) {
        self.registry = None;
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(registry) = &self.registry {
            registry.end(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that never ends, to be aborted.
    async fn parked(registry: &Registry) -> (u64, tokio::task::JoinHandle<()>) {
        let id = registry.open();
        let task = tokio::spawn(std::future::pending());
        registry.set_abort(id, task.abort_handle());
        (id, task)
    }

    #[tokio::test]
    async fn the_longest_idle_connection_is_evicted_first_and_busy_ones_never() {
        let registry = Arc::new(Registry::default());
        let (a, task_a) = parked(&registry).await;
        let (b, task_b) = parked(&registry).await;
        let (c, task_c) = parked(&registry).await;
        // `a` serves a request, then goes idle again: now it has been idle the shortest time.
        drop(registry.begin(a));
        // `b` streams.
        let streaming = registry.begin(b);
        assert_eq!(registry.idle_count(), 2);
        assert!(registry.evict_oldest_idle());
        assert!(
            task_c.await.unwrap_err().is_cancelled(),
            "c was idle longest"
        );
        registry.close(c);
        assert!(registry.evict_oldest_idle());
        assert!(task_a.await.unwrap_err().is_cancelled());
        registry.close(a);
        assert!(!registry.evict_oldest_idle(), "b is busy");
        drop(streaming);
        assert!(registry.evict_oldest_idle(), "b finished its response");
        assert!(task_b.await.unwrap_err().is_cancelled());
    }

    #[tokio::test]
    async fn a_pinned_request_keeps_its_connection_busy_and_shutdown_evicts_every_idle_one() {
        let registry = Arc::new(Registry::default());
        let (upgraded, _t1) = parked(&registry).await;
        let (_x, _t2) = parked(&registry).await;
        let (_y, _t3) = parked(&registry).await;
        registry.begin(upgraded).pin();
        assert_eq!(registry.evict_all_idle(), 2);
        assert_eq!(registry.idle_count(), 0);
        assert_eq!(registry.len(), 3, "closing is the tasks' job");
        registry.close(upgraded);
        assert_eq!(registry.len(), 2);
    }

    #[tokio::test]
    async fn overlapping_requests_keep_a_connection_busy_until_the_last_ends() {
        let registry = Arc::new(Registry::default());
        let (id, _task) = parked(&registry).await;
        let one = registry.begin(id);
        let two = registry.begin(id);
        drop(one);
        assert_eq!(registry.idle_count(), 0);
        drop(two);
        assert_eq!(registry.idle_count(), 1);
    }
}
