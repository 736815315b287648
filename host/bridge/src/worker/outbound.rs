//! The outbound queue: what the terminal published, in order, until the relay acknowledges it.
//!
//! Events stay queued until an acknowledgement names them, and a failed or unanswered batch is
//! sent again with the same ids (the relay drops the copies it already stored), so every event
//! is delivered once. One batch is in flight at a time, so the relay appends them in the order
//! they were published. A pure state machine: the worker does the I/O.

use std::collections::VecDeque;

use tether_protocol::NewEvent;

/// Events per batch. The relay accepts up to 256; smaller batches keep a retry cheap.
pub(crate) const MAX_BATCH: usize = 100;
/// Bytes per batch, well under the relay's 1 MiB request limit.
pub(crate) const MAX_BATCH_BYTES: usize = 512 * 1024;

struct Entry {
    event: NewEvent,
    size: usize,
    /// Refused before sending (it breaks a publishing rule): settled when it reaches the front.
    skip: bool,
}

pub(crate) struct Outbound {
    queue: VecDeque<Entry>,
    /// Events settled (acknowledged, or refused and dropped), counted from the start, in order.
    settled: u64,
    /// How many events at the front of the queue are in the batch awaiting an answer.
    in_flight: usize,
    /// After a batch was refused whole, its events go one at a time (up to this count of
    /// settled events) so that the one the relay refuses can be found and dropped alone.
    isolate_until: u64,
    max_count: usize,
    max_bytes: usize,
}

impl Outbound {
    pub(crate) fn new(max_count: usize, max_bytes: usize) -> Self {
        Outbound {
            queue: VecDeque::new(),
            settled: 0,
            in_flight: 0,
            isolate_until: 0,
            max_count: max_count.max(1),
            max_bytes,
        }
    }

    pub(crate) fn push(&mut self, event: NewEvent) {
        let size = serde_json::to_vec(&event).map(|v| v.len()).unwrap_or(0);
        self.queue.push_back(Entry {
            event,
            size,
            skip: false,
        });
    }

    /// An event that will never be accepted: it keeps its place so that [`Outbound::settled`]
    /// counts in publishing order, and is dropped when it reaches the front.
    pub(crate) fn push_skipped(&mut self, event: NewEvent) {
        self.queue.push_back(Entry {
            event,
            size: 0,
            skip: true,
        });
        self.settle_front();
    }

    /// Events settled so far. Everything published before the `n`-th event is settled when
    /// this reaches `n`.
    pub(crate) fn settled(&self) -> u64 {
        self.settled
    }

    /// Events published so far (settled or not).
    pub(crate) fn pushed(&self) -> u64 {
        self.settled + self.queue.len() as u64
    }

    pub(crate) fn unsettled(&self) -> usize {
        self.queue.len()
    }

    /// The next batch to send, unless one is already in flight or nothing is waiting.
    #[cfg(test)]
    pub(crate) fn next_batch(&mut self) -> Option<Vec<NewEvent>> {
        self.next_batch_before(None)
    }

    /// The same, holding back every event from the `boundary`-th on (counted like
    /// [`Outbound::settled`]): those follow a state that must reach the relay first.
    pub(crate) fn next_batch_before(&mut self, boundary: Option<u64>) -> Option<Vec<NewEvent>> {
        if self.in_flight > 0 {
            return None;
        }
        self.settle_front();
        let limit = if self.settled < self.isolate_until {
            1
        } else {
            self.max_count
        };
        let limit = match boundary {
            Some(b) => {
                limit.min(usize::try_from(b.saturating_sub(self.settled)).unwrap_or(usize::MAX))
            }
            None => limit,
        };
        let mut bytes = 0;
        let mut count = 0;
        for entry in self.queue.iter().take(limit) {
            if entry.skip || (count > 0 && bytes + entry.size > self.max_bytes) {
                break;
            }
            bytes += entry.size;
            count += 1;
        }
        if count == 0 {
            return None;
        }
        self.in_flight = count;
        Some(
            self.queue
                .iter()
                .take(count)
                .map(|e| e.event.clone())
                .collect(),
        )
    }

    /// The relay stored the batch in flight (or already had it). `ids` is its answer; an answer
    /// for anything but the batch in flight is refused (`false`) and the batch stays queued.
    pub(crate) fn acked(&mut self, ids: &[&str]) -> bool {
        let matches = ids.len() == self.in_flight
            && ids
                .iter()
                .zip(&self.queue)
                .all(|(id, entry)| *id == entry.event.id);
        if !matches {
            self.in_flight = 0;
            return false;
        }
        self.queue.drain(..self.in_flight);
        self.settled += self.in_flight as u64;
        self.in_flight = 0;
        self.settle_front();
        true
    }

    /// The relay refused the batch in flight as a whole. A single event is dropped and returned
    /// (it will never be accepted); a larger batch is sent again one event at a time.
    pub(crate) fn refused(&mut self) -> Option<NewEvent> {
        match self.in_flight {
            0 => None,
            1 => {
                self.in_flight = 0;
                let entry = self.queue.pop_front()?;
                self.settled += 1;
                self.settle_front();
                Some(entry.event)
            }
            n => {
                self.isolate_until = self.settled + n as u64;
                self.in_flight = 0;
                None
            }
        }
    }

    /// The batch in flight got no answer: send it again later.
    pub(crate) fn retry(&mut self) {
        self.in_flight = 0;
    }

    fn settle_front(&mut self) {
        if self.in_flight > 0 {
            return;
        }
        while self.queue.front().is_some_and(|e| e.skip) {
            self.queue.pop_front();
            self.settled += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(n: usize) -> NewEvent {
        NewEvent {
            id: format!("id{n}"),
            kind: "assistant_delta".into(),
            payload: json!({ "n": n }),
        }
    }

    fn ids(batch: &[NewEvent]) -> Vec<&str> {
        batch.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn batches_in_order_one_at_a_time() {
        let mut q = Outbound::new(2, 1 << 20);
        assert!(q.next_batch().is_none());
        for n in 0..5 {
            q.push(event(n));
        }
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id0", "id1"]);
        assert!(q.next_batch().is_none(), "one batch in flight at a time");
        assert!(q.acked(&ids(&b)));
        assert_eq!(q.settled(), 2);
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id2", "id3"]);
        assert!(q.acked(&ids(&b)));
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id4"]);
        assert!(q.acked(&ids(&b)));
        assert_eq!((q.settled(), q.pushed(), q.unsettled()), (5, 5, 0));
    }

    #[test]
    fn a_failed_batch_is_resent_with_the_same_ids() {
        let mut q = Outbound::new(10, 1 << 20);
        for n in 0..3 {
            q.push(event(n));
        }
        let first = q.next_batch().unwrap();
        q.retry();
        q.push(event(3));
        let again = q.next_batch().unwrap();
        assert_eq!(ids(&again), ["id0", "id1", "id2", "id3"]);
        assert_eq!(&again[..3], &first[..]);
    }

    #[test]
    fn an_answer_for_another_batch_settles_nothing() {
        let mut q = Outbound::new(10, 1 << 20);
        q.push(event(0));
        q.push(event(1));
        let _ = q.next_batch().unwrap();
        assert!(!q.acked(&["id0"]));
        assert!(!q.acked(&["id1", "id0"]));
        let _ = q.next_batch().unwrap();
        assert!(!q.acked(&["x", "y"]));
        assert_eq!(q.settled(), 0);
        let b = q.next_batch().unwrap();
        assert!(q.acked(&ids(&b)));
    }

    #[test]
    fn batches_stay_under_the_byte_limit_but_always_carry_one_event() {
        let size = serde_json::to_vec(&event(0)).unwrap().len();
        let mut q = Outbound::new(100, size * 2);
        for n in 0..5 {
            q.push(event(n));
        }
        assert_eq!(q.next_batch().unwrap().len(), 2);
        let mut q = Outbound::new(100, 1);
        q.push(event(0));
        assert_eq!(q.next_batch().unwrap().len(), 1);
    }

    #[test]
    fn a_refused_batch_is_split_and_only_the_bad_event_dropped() {
        let mut q = Outbound::new(10, 1 << 20);
        for n in 0..4 {
            q.push(event(n));
        }
        let b = q.next_batch().unwrap();
        assert_eq!(b.len(), 4);
        assert!(q.refused().is_none(), "not yet known which one");
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id0"]);
        assert!(q.acked(&ids(&b)));
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id1"]);
        assert_eq!(q.refused().unwrap().id, "id1");
        assert_eq!(q.settled(), 2);
        for expected in ["id2", "id3"] {
            let b = q.next_batch().unwrap();
            assert_eq!(ids(&b), [expected]);
            assert!(q.acked(&ids(&b)));
        }
        q.push(event(4));
        q.push(event(5));
        assert_eq!(q.next_batch().unwrap().len(), 2, "whole batches again");
    }

    #[test]
    fn skipped_events_settle_in_their_place() {
        let mut q = Outbound::new(10, 1 << 20);
        q.push(event(0));
        q.push_skipped(event(1));
        q.push(event(2));
        assert_eq!(q.settled(), 0);
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id0"], "a batch stops before a skipped event");
        assert!(q.acked(&ids(&b)));
        assert_eq!(q.settled(), 2, "the skipped one settles once it is first");
        let b = q.next_batch().unwrap();
        assert_eq!(ids(&b), ["id2"]);
        q.push_skipped(event(3));
        assert_eq!(q.settled(), 2, "not while a batch is in flight");
        assert!(q.acked(&ids(&b)));
        assert_eq!(q.settled(), 4);
        q.push_skipped(event(4));
        assert_eq!(q.settled(), 5);
    }

    #[test]
    fn a_batch_stops_at_the_boundary_of_a_state_and_sends_nothing_past_it() {
        let mut q = Outbound::new(10, 1 << 20);
        for n in 0..5 {
            q.push(event(n));
        }
        let b = q.next_batch_before(Some(2)).unwrap();
        assert_eq!(ids(&b), ["id0", "id1"], "the events before the state");
        assert!(q.acked(&ids(&b)));
        assert!(q.next_batch_before(Some(2)).is_none(), "nothing past it");
        let b = q.next_batch_before(None).unwrap();
        assert_eq!(ids(&b), ["id2", "id3", "id4"]);
    }
}
