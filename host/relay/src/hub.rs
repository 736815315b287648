//! Live session state held in memory: the head of each session's log, a ring of recent events,
//! what this node hears of the worker. The database is the truth; the hub lets streams wake on new events and
//! serve recent ones without a query.
//!
//! Every change to a session's head happens right after the commit that made it, before any
//! later one to that session (see `Store::write_then`), so the hub never disagrees with the
//! log about order.
//! The methods that make one take the store's [`Ordered`] as proof, so the rule is the
//! compiler's to keep, not the caller's.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tether_protocol::{Event, SessionId};
use tokio::sync::watch;

use crate::config::Limits;
use crate::store::Ordered;
use crate::weight::fitting;
use crate::wired::Wired;

/// What a stream waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The newest event's `seq` (0 for an empty log).
    pub last_seq: u64,
    /// The current worker registration.
    pub epoch: u64,
    /// The session was deleted: every stream ends.
    pub closed: bool,
}

/// Recent events kept in memory per session (fewer if they weigh more than the stream
/// buffer). Older ones are read from the database.
const RING: usize = 256;

/// One session in memory: its head, its recent events, its worker's presence.
pub struct Live {
    head: watch::Sender<Head>,
    ring: Mutex<Ring>,
    presence: Mutex<Presence>,
}

/// Events in their wire form, and the sum of their weights (see `weight.rs`).
#[derive(Default)]
struct Ring {
    events: VecDeque<Arc<Wired>>,
    bytes: usize,
}

impl Ring {
    fn pop_front(&mut self) {
        if let Some(e) = self.events.pop_front() {
            self.bytes -= e.weight();
        }
    }
}

/// The worker as this node knows it. The database decides whether it is online (see
/// `store/presence.rs`); a node only reports what it heard, and when.
#[derive(Debug, Default)]
struct Presence {
    streams: u32,
    last_seen: Option<Instant>,
    /// This node heard the worker within the timeout, or holds one of its streams: it keeps
    /// the database's record of when the worker was last heard of fresh.
    here: bool,
    /// What this node last recorded there.
    recorded: Option<Instant>,
}

impl Live {
    fn new(last_seq: u64, epoch: u64) -> Self {
        Live {
            head: watch::Sender::new(Head {
                last_seq,
                epoch,
                closed: false,
            }),
            ring: Mutex::new(Ring::default()),
            presence: Mutex::new(Presence::default()),
        }
    }

    /// Wakes on every change of the head.
    pub fn subscribe(&self) -> watch::Receiver<Head> {
        self.head.subscribe()
    }

    /// The head now.
    pub fn head(&self) -> Head {
        *self.head.borrow()
    }

    /// Events after `after` from memory, at most `max` of them and `budget` bytes (but at least
    /// one), or `None` when memory does not reach back that far.
    pub fn recent(&self, after: u64, max: usize, budget: usize) -> Option<Vec<Arc<Wired>>> {
        let head = self.head();
        if after >= head.last_seq {
            return Some(Vec::new());
        }
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let first = ring.events.front()?.seq;
        if first > after + 1 {
            return None;
        }
        let skip = (after + 1 - first) as usize;
        if skip >= ring.events.len() {
            // The head is ahead of memory: another node appended what this one has not seen.
            return None;
        }
        let wanted = ring.events.iter().skip(skip).take(max);
        let n = fitting(wanted.clone().map(|e| e.weight()), budget);
        Some(wanted.take(n).cloned().collect())
    }

    /// The log keeps only the last `retain` events; memory must not serve older ones either, or
    /// a reader behind retention would miss its `catch_up_truncated`. Memory keeps at most
    /// `budget` bytes of them (but always the newest). Each is serialised here, once for every
    /// reader.
    ///
    /// Memory holds one unbroken run of the log: with other nodes appending to the same
    /// session, this node's own events may come with gaps (what the others appended), and
    /// then the run starts again after the gap; readers before it go to the database.
    fn append(&self, events: Vec<Event>, retain: u64, budget: usize) {
        let Some(last) = events.last().map(|e| e.seq) else {
            return;
        };
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                match ring.events.back().map(|e| e.seq) {
                    Some(newest) if e.seq <= newest => continue,
                    Some(newest) if e.seq != newest + 1 => {
                        ring.events.clear();
                        ring.bytes = 0;
                    }
                    _ => {}
                }
                let wired = Wired::new(&e);
                ring.bytes += wired.weight();
                ring.events.push_back(Arc::new(wired));
            }
            while ring.events.len() > RING
                || (ring.events.len() > 1 && ring.bytes > budget)
                || ring.events.front().is_some_and(|e| last - e.seq >= retain)
            {
                ring.pop_front();
            }
        }
        self.advance(last, 0);
    }

    /// The log reached `last_seq` and the worker registration `epoch` (either may be behind
    /// what is known already: numbers only go up).
    fn advance(&self, last_seq: u64, epoch: u64) {
        self.head.send_if_modified(|h| {
            let before = *h;
            h.last_seq = h.last_seq.max(last_seq);
            h.epoch = h.epoch.max(epoch);
            *h != before
        });
    }

    /// Whether this node hears from the worker (holds its stream, or heard it within the
    /// timeout).
    pub fn worker_here(&self) -> bool {
        self.presence().here
    }

    /// A worker stream opened. Whether the worker is new here: then the database must hear of
    /// it at once (it may have been offline).
    pub fn stream_opened(&self, now: Instant) -> bool {
        let mut p = self.presence();
        p.streams += 1;
        p.last_seen = Some(now);
        !std::mem::replace(&mut p.here, true)
    }

    /// A worker stream closed. Going offline waits for the timeout, so a reconnect does not
    /// flap the status every surface shows.
    pub fn stream_closed(&self, now: Instant) {
        let mut p = self.presence();
        p.streams = p.streams.saturating_sub(1);
        p.last_seen = Some(now);
    }

    /// A heartbeat or any other request from the current worker; see [`Live::stream_opened`].
    pub fn worker_seen(&self, now: Instant) -> bool {
        let mut p = self.presence();
        p.last_seen = Some(now);
        !std::mem::replace(&mut p.here, true)
    }

    /// When the worker was last heard of, if the database should be told now: at once after a
    /// change here (a stream closed, a request), and every `every` while a stream stays open.
    /// A worker silent for `timeout` with no stream here is no longer this node's to report.
    pub fn to_record(&self, now: Instant, timeout: Duration, every: Duration) -> Option<Instant> {
        let mut p = self.presence();
        let last_seen = match p.last_seen {
            Some(seen) if p.streams > 0 || now.duration_since(seen) < timeout => seen,
            _ => {
                p.here = false;
                p.recorded = None;
                return None;
            }
        };
        if !p.here {
            return None;
        }
        let (at, due) = match (p.streams, p.recorded) {
            (0, None) => (last_seen, true),
            (0, Some(recorded)) => (last_seen, last_seen > recorded),
            (_, None) => (now, true),
            (_, Some(recorded)) => (now, now.duration_since(recorded) >= every),
        };
        due.then(|| {
            p.recorded = Some(at);
            at
        })
    }

    /// Recording failed (the database did not answer): try again at the next sweep.
    pub fn record_failed(&self) {
        self.presence().recorded = None;
    }

    fn presence(&self) -> std::sync::MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the hub may forget this session: nobody is watching and nothing is pending.
    fn idle(&self) -> bool {
        let p = self.presence();
        !p.here && p.streams == 0 && self.head.receiver_count() == 0
    }
}

/// The live sessions, with the stream counts and revocations every stream checks.
#[derive(Default)]
pub struct Hub {
    sessions: Mutex<HashMap<SessionId, Arc<Live>>>,
    /// Revoked logins, which end their streams and worker tokens.
    pub revocations: crate::revocation::Revocations,
}

impl Hub {
    /// The live state of a session, if loaded.
    pub fn get(&self, id: &SessionId) -> Option<Arc<Live>> {
        self.map().get(id).cloned()
    }

    /// Whether `live` is still the session's live state: it may have been evicted between
    /// being loaded and being subscribed to ([`Hub::evict_idle`]).
    pub fn holds(&self, id: &SessionId, live: &Arc<Live>) -> bool {
        self.map()
            .get(id)
            .is_some_and(|held| Arc::ptr_eq(held, live))
    }

    /// The live state of a session, created from its stored head if absent, with values read
    /// by the write that `_order` follows.
    pub fn load(&self, _order: &Ordered, id: &SessionId, last_seq: u64, epoch: u64) -> Arc<Live> {
        Arc::clone(
            self.map()
                .entry(id.clone())
                .or_insert_with(|| Arc::new(Live::new(last_seq, epoch))),
        )
    }

    /// Events were just committed. A session nobody is watching has no live state, and
    /// needs none: whoever looks next loads its head from the database.
    pub fn appended(&self, _order: &Ordered, id: &SessionId, events: Vec<Event>, limits: &Limits) {
        if let Some(live) = self.get(id) {
            live.append(events, limits.retain_events, limits.stream_buffer);
        }
    }

    /// A new worker registered, as was just committed.
    pub fn epoch_changed(&self, _order: &Ordered, id: &SessionId, epoch: u64) {
        if let Some(live) = self.get(id) {
            live.advance(0, epoch);
        }
    }

    /// Another node committed a change to a session: its log now reaches `last_seq`, its
    /// worker registration is `epoch`. Readers here wake and read what they miss from the
    /// database. Needs no [`Ordered`]: it only ever moves the head forward, whatever the order
    /// such news arrives in.
    pub fn elsewhere(&self, id: &SessionId, last_seq: u64, epoch: u64) {
        if let Some(live) = self.get(id) {
            live.advance(last_seq, epoch);
        }
    }

    /// Another node deleted the session.
    pub fn deleted_elsewhere(&self, id: &SessionId) {
        self.remove_closed(id);
    }

    /// The sessions someone here is reading, whose news from other nodes matters.
    pub fn watched(&self) -> Vec<SessionId> {
        self.map()
            .iter()
            .filter(|(_, live)| live.head.receiver_count() > 0)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The session was deleted, as was just committed.
    pub fn close(&self, _order: &Ordered, id: &SessionId) {
        self.remove_closed(id);
    }

    /// Forget the session and end every stream on it.
    fn remove_closed(&self, id: &SessionId) {
        if let Some(live) = self.map().remove(id) {
            live.head.send_modify(|h| h.closed = true);
        }
    }

    /// Every live session, for the presence sweep.
    pub fn all(&self) -> Vec<(SessionId, Arc<Live>)> {
        self.map()
            .iter()
            .map(|(id, live)| (id.clone(), Arc::clone(live)))
            .collect()
    }

    /// The sessions nobody is using now, to forget (see [`Hub::evict_idle`]).
    pub fn idle(&self) -> Vec<SessionId> {
        self.map()
            .iter()
            .filter(|(_, live)| live.idle())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Forget those of `sessions` nobody is using still, so memory follows activity rather
    /// than history; `_order` holds their order, so no commit to one is about to move it.
    pub fn evict_idle(&self, _order: &Ordered, sessions: &[SessionId]) {
        let mut map = self.map();
        for id in sessions {
            if map.get(id).is_some_and(|live| live.idle()) {
                map.remove(id);
            }
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Arc<Live>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::{RelayKind, Source};

    fn event(seq: u64) -> Event {
        Event {
            seq,
            id: format!("e{seq}"),
            kind: "user_message".into(),
            source: Source::Client,
            created_at: String::new(),
            payload: serde_json::json!({}),
        }
    }

    fn unbounded() -> Limits {
        Limits {
            retain_events: u64::MAX,
            stream_buffer: usize::MAX,
            ..Limits::default()
        }
    }

    fn seqs(events: Option<Vec<Arc<Wired>>>) -> Vec<u64> {
        events.unwrap().iter().map(|e| e.seq).collect()
    }

    #[test]
    fn recent_serves_from_memory_only_when_it_reaches_back() {
        let hub = Hub::default();
        let w = Ordered::for_tests();
        let id = SessionId::new(RelayKind::Production);
        let live = hub.load(&w, &id, 10, 1);
        assert_eq!(
            live.recent(10, 100, usize::MAX).unwrap().len(),
            0,
            "up to date"
        );
        assert!(
            live.recent(3, 100, usize::MAX).is_none(),
            "cold ring: go to the database"
        );
        hub.appended(&w, &id, (11..=13).map(event).collect(), &unbounded());
        assert!(live.recent(9, 100, usize::MAX).is_none());
        assert_eq!(seqs(live.recent(10, 100, usize::MAX)), [11, 12, 13]);
        assert_eq!(seqs(live.recent(11, 1, usize::MAX)), [12]);
        hub.appended(
            &w,
            &id,
            (14..=14 + RING as u64).map(event).collect(),
            &unbounded(),
        );
        assert!(
            live.recent(13, 1, usize::MAX).is_none(),
            "evicted from the ring"
        );
    }

    #[test]
    fn news_from_other_nodes_sends_readers_to_the_database_and_never_backwards() {
        let hub = Hub::default();
        let w = Ordered::for_tests();
        let id = SessionId::new(RelayKind::Production);
        let live = hub.load(&w, &id, 0, 1);
        let mut head = live.subscribe();
        hub.appended(&w, &id, (1..=3).map(event).collect(), &unbounded());
        // Another node appended 4 and 5: the head moves, memory does not have them.
        hub.elsewhere(&id, 5, 1);
        assert_eq!(live.head().last_seq, 5);
        assert!(
            live.recent(3, 100, usize::MAX).is_none(),
            "past memory: the database"
        );
        assert_eq!(
            seqs(live.recent(2, 100, usize::MAX)),
            [3],
            "what memory has"
        );
        // This node's next event comes after the gap: memory starts again there.
        hub.appended(&w, &id, vec![event(6)], &unbounded());
        assert!(live.recent(2, 100, usize::MAX).is_none());
        assert_eq!(seqs(live.recent(5, 100, usize::MAX)), [6]);
        // Late or repeated news changes nothing, and wakes nobody.
        head.borrow_and_update();
        hub.elsewhere(&id, 4, 0);
        hub.appended(&w, &id, vec![event(5), event(6)], &unbounded());
        assert!(!head.has_changed().unwrap());
        assert_eq!(live.head().last_seq, 6);
        assert_eq!(seqs(live.recent(5, 100, usize::MAX)), [6]);
        // A newer worker elsewhere reaches this node's streams; so does a deletion.
        hub.elsewhere(&id, 0, 2);
        assert_eq!(live.head().epoch, 2);
        assert_eq!(hub.watched(), std::slice::from_ref(&id));
        hub.deleted_elsewhere(&id);
        assert!(live.head().closed);
        assert!(hub.get(&id).is_none());
    }

    fn big(seq: u64, bytes: usize) -> Event {
        Event {
            payload: serde_json::json!({ "text": "x".repeat(bytes) }),
            ..event(seq)
        }
    }

    #[test]
    fn memory_holds_a_byte_budget_of_events_not_a_count() {
        let hub = Hub::default();
        let w = Ordered::for_tests();
        let id = SessionId::new(RelayKind::Production);
        let live = hub.load(&w, &id, 0, 1);
        let limits = Limits {
            stream_buffer: 1024 * 1024,
            ..unbounded()
        };
        // 16 events of 256 KiB: the ring keeps what fits in 1 MiB (three, with their
        // envelopes), not 4 MiB.
        hub.appended(
            &w,
            &id,
            (1..=16).map(|s| big(s, 256 * 1024)).collect(),
            &limits,
        );
        let ring = live.ring.lock().unwrap();
        assert!(ring.bytes <= limits.stream_buffer, "{}", ring.bytes);
        assert_eq!(ring.events.len(), 3);
        assert_eq!(ring.events.front().unwrap().seq, 14);
        drop(ring);
        // A reader is handed at most its budget at a time, but always one event.
        assert_eq!(seqs(live.recent(13, 100, 600 * 1024)), [14, 15]);
        assert_eq!(seqs(live.recent(13, 100, 1)), [14]);
        // One event bigger than the whole budget is still kept, alone.
        hub.appended(&w, &id, vec![big(17, 2 * 1024 * 1024)], &limits);
        assert_eq!(seqs(live.recent(16, 100, usize::MAX)), [17]);
        assert_eq!(live.ring.lock().unwrap().events.len(), 1);
    }

    #[test]
    fn a_node_records_what_it_hears_of_the_worker_until_the_timeout_with_no_stream() {
        let live = Live::new(0, 1);
        let t0 = Instant::now();
        let (timeout, every) = (Duration::from_secs(60), Duration::from_secs(15));
        let at = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(live.to_record(t0, timeout, every), None, "never heard");
        assert!(live.stream_opened(t0), "new here");
        assert!(!live.stream_opened(t0), "a second stream is not news");
        // With a stream open: now, every `every`, however long the silence.
        assert_eq!(live.to_record(at(1), timeout, every), Some(at(1)));
        assert_eq!(live.to_record(at(10), timeout, every), None);
        assert_eq!(live.to_record(at(16), timeout, every), Some(at(16)));
        assert_eq!(live.to_record(at(200), timeout, every), Some(at(200)));
        // Both streams close: when, once.
        live.stream_closed(at(201));
        live.stream_closed(at(202));
        assert_eq!(live.to_record(at(205), timeout, every), Some(at(202)));
        assert_eq!(live.to_record(at(210), timeout, every), None);
        assert!(!live.worker_seen(at(230)), "still here");
        assert_eq!(live.to_record(at(231), timeout, every), Some(at(230)));
        // Silent for the timeout with no stream: no longer this node's to report, and the next
        // request is news again.
        assert_eq!(live.to_record(at(290), timeout, every), None);
        assert!(!live.worker_here());
        assert!(live.idle());
        assert!(live.worker_seen(at(300)));
        assert_eq!(live.to_record(at(301), timeout, every), Some(at(300)));
        // A failed write is tried again.
        live.record_failed();
        assert_eq!(live.to_record(at(302), timeout, every), Some(at(300)));
    }

    #[test]
    fn close_and_epoch_reach_subscribers() {
        let hub = Hub::default();
        let w = Ordered::for_tests();
        let id = SessionId::new(RelayKind::Staging);
        let live = hub.load(&w, &id, 0, 1);
        let mut rx = live.subscribe();
        hub.epoch_changed(&w, &id, 2);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().epoch, 2);
        hub.close(&w, &id);
        assert!(rx.borrow_and_update().closed);
        assert!(hub.get(&id).is_none());
    }
}
