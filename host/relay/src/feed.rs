//! A session's feed: its events from a `seq` on, replayed then followed live, for the SSE and
//! WebSocket streams of workers and clients alike. Recent events come from memory, older ones
//! from the database page by page, so a slow reader never makes the relay hold more than a page
//! for it, and a reader that fell behind retention is told with `catch_up_truncated`. A page is
//! at most `PAGE` events and at most the stream buffer's bytes (`weight.rs`): a reader that
//! never reads holds that much, whatever the size of the events.

use std::collections::VecDeque;
use std::sync::Arc;

use tether_protocol::payload::CatchUpTruncated;
use tether_protocol::{Event, Payload, SessionId, Source};
use tokio::sync::watch;

use crate::error::ApiResult;
use crate::hub::{Head, Live};
use crate::state::Shared;
use crate::store::{self, events};
use crate::weight::event_weight;
use crate::wired::Wired;

const PAGE: usize = 256;

/// Which events a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everything in the session.
    Client,
    /// What clients said and the relay's notices; ends when `epoch` is superseded.
    Worker {
        /// The epoch the worker's token was issued for.
        epoch: u64,
    },
}

/// Why a feed ends (an error reading the log is the other way it can).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// The session was deleted.
    Deleted,
    /// This node is stopping: the reader should move to another at once.
    Stopping,
    /// A newer worker registered.
    StaleEpoch,
}

impl FeedEnd {
    /// How the stream tells its reader.
    pub fn wire(self) -> tether_protocol::StreamEnd {
        use tether_protocol::StreamEnd;
        match self {
            FeedEnd::Deleted => StreamEnd::Gone,
            FeedEnd::Stopping => StreamEnd::Moving,
            FeedEnd::StaleEpoch => StreamEnd::StaleEpoch,
        }
    }
}

/// One reader's place in a session's log, with what it has read but not yet taken.
pub struct Feed {
    state: Shared,
    session: SessionId,
    live: Arc<Live>,
    head: watch::Receiver<Head>,
    shutdown: watch::Receiver<bool>,
    after: u64,
    audience: Audience,
    pending: VecDeque<Arc<Wired>>,
}

impl Feed {
    /// Start after `from` (events with `seq > from` follow).
    pub fn new(
        state: Shared,
        session: SessionId,
        live: Arc<Live>,
        from: u64,
        audience: Audience,
    ) -> Self {
        let head = live.subscribe();
        // A start from the future (a log reset, a client bug) starts at the head rather than
        // waiting for numbers that may never come.
        let after = from.min(live.head().last_seq);
        let shutdown = state.shutdown.clone();
        Feed {
            state,
            session,
            live,
            head,
            shutdown,
            after,
            audience,
            pending: VecDeque::new(),
        }
    }

    /// The session's live state, which the stream's writes go through too.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// Every event due now (at least one, at most a page: `PAGE` events and the stream buffer's
    /// bytes), or why the stream ends. A stream writes them at once, in one write, however
    /// many came while it was busy. Cancel-safe: nothing advances until an await has
    /// completed, so it can sit in a `select!`.
    pub async fn next(&mut self) -> ApiResult<Result<Vec<Arc<Wired>>, FeedEnd>> {
        loop {
            if *self.shutdown.borrow() {
                return Ok(Err(FeedEnd::Stopping));
            }
            if !self.pending.is_empty() {
                let due: Vec<Arc<Wired>> = self.pending.drain(..).collect();
                self.state.metrics.events_delivered.inc_by(due.len() as u64);
                return Ok(Ok(due));
            }
            let head = *self.head.borrow_and_update();
            if head.closed {
                return Ok(Err(FeedEnd::Deleted));
            }
            if let Audience::Worker { epoch } = self.audience
                && head.epoch != epoch
            {
                return Ok(Err(FeedEnd::StaleEpoch));
            }
            if self.after < head.last_seq {
                self.fill().await?;
                continue;
            }
            tokio::select! {
                // The sender goes only with a deleted session (a watched one is never evicted).
                changed = self.head.changed() => if changed.is_err() { return Ok(Err(FeedEnd::Deleted)) },
                _ = self.shutdown.changed() => return Ok(Err(FeedEnd::Stopping)),
            }
        }
    }

    async fn fill(&mut self) -> ApiResult<()> {
        let limits = &self.state.config.limits;
        let budget = limits.stream_buffer;
        let batch: Vec<Arc<Wired>> = match self.live.recent(self.after, PAGE, budget) {
            Some(batch) => batch,
            None => {
                let (id, after) = (self.session.clone(), self.after);
                let chunk = db_chunk(budget, limits.max_event);
                let page = self
                    .state
                    .store
                    .read(move |c| {
                        page_within(
                            budget,
                            |after, n| events::after(c, &id, after, n),
                            after,
                            chunk,
                        )
                    })
                    .await?;
                page.iter().map(|e| Arc::new(Wired::new(e))).collect()
            }
        };
        let Some(first) = batch.first().map(|e| e.seq) else {
            // Nothing stored past the cursor although the head is ahead: the log was trimmed
            // under us or the session is going away. Jump to the head and wait.
            self.after = self.live.head().last_seq;
            return Ok(());
        };
        if first > self.after + 1 {
            self.pending
                .push_back(Arc::new(Wired::new(&truncated(first))));
        }
        for event in batch {
            self.after = event.seq;
            let wanted = match self.audience {
                Audience::Client => true,
                Audience::Worker { .. } => event.for_worker,
            };
            if wanted {
                self.pending.push_back(event);
            }
        }
        Ok(())
    }
}

/// Events read from the database at a time while filling a page: few enough that a chunk of
/// the largest events allowed fits in the budget, so that reading never holds much more than
/// the page being built.
fn db_chunk(budget: usize, max_event: usize) -> usize {
    (budget / max_event.max(1)).clamp(1, PAGE)
}

/// A page after `after` of at most `PAGE` events and `budget` bytes (at least one event),
/// read `chunk` events at a time with `read(after, n)`.
fn page_within<E>(
    budget: usize,
    mut read: impl FnMut(u64, usize) -> Result<Vec<Event>, E>,
    mut after: u64,
    chunk: usize,
) -> Result<Vec<Event>, E> {
    let mut page = Vec::new();
    let mut bytes = 0usize;
    while page.len() < PAGE {
        let n = chunk.min(PAGE - page.len());
        let got = read(after, n)?;
        let complete = got.len() < n;
        for event in got {
            let w = event_weight(&event);
            if !page.is_empty() && bytes.saturating_add(w) > budget {
                return Ok(page);
            }
            bytes = bytes.saturating_add(w);
            after = event.seq;
            page.push(event);
        }
        if complete {
            break;
        }
    }
    Ok(page)
}

/// The notice that events before `oldest_seq` are gone. It is not stored; its `seq` is the one
/// just before the oldest kept, so a reader that resumes from it does not get it again.
fn truncated(oldest_seq: u64) -> Event {
    let notice = Payload::CatchUpTruncated(CatchUpTruncated { oldest_seq });
    Event {
        seq: oldest_seq - 1,
        id: uuid::Uuid::new_v4().to_string(),
        kind: notice.kind().to_owned(),
        source: Source::Relay,
        created_at: store::rfc3339(store::now()),
        payload: notice.to_value(),
    }
}

/// Where a stream starts: `Last-Event-ID` (a reconnecting EventSource) wins over `from_seq`.
pub fn start_seq(last_event_id: Option<&str>, from_seq: Option<u64>) -> Result<u64, String> {
    match last_event_id {
        Some(raw) => raw.trim().parse::<u64>().map_err(|_| {
            format!(
                "Last-Event-ID `{}` is not a sequence number.",
                raw.chars().take(40).collect::<String>()
            )
        }),
        None => Ok(from_seq.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(sizes: &[usize]) -> Vec<Event> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| Event {
                seq: i as u64 + 1,
                id: String::new(),
                kind: "assistant_delta".into(),
                source: Source::Worker,
                created_at: String::new(),
                payload: serde_json::json!({ "text": "x".repeat(*n) }),
            })
            .collect()
    }

    /// `page_within` over an in-memory log, counting the events read.
    fn page(log: &[Event], budget: usize, after: u64, chunk: usize) -> (Vec<u64>, usize) {
        let mut read = 0;
        let page = page_within::<()>(
            budget,
            |after, n| {
                let got: Vec<Event> = log
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(n)
                    .cloned()
                    .collect();
                read += got.len();
                Ok(got)
            },
            after,
            chunk,
        )
        .unwrap();
        (page.iter().map(|e| e.seq).collect(), read)
    }

    #[test]
    fn a_page_from_the_database_stays_within_the_byte_budget() {
        const K: usize = 1024;
        // 20 events of 256 KiB, the largest allowed: with a 1 MiB budget a page is three of
        // them, read four at a time, never the 256 a count-only page would hold (64 MiB).
        let big = log(&[256 * K; 20]);
        let chunk = db_chunk(1024 * K, 256 * K);
        assert_eq!(chunk, 4);
        let (seqs, read) = page(&big, 1024 * K, 0, chunk);
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(read, 4, "one chunk read");
        let (seqs, _) = page(&big, 1024 * K, 3, chunk);
        assert_eq!(
            seqs,
            [4, 5, 6],
            "the next page starts after the last one taken"
        );
        // Small events fill a whole page of PAGE.
        let small = log(&vec![10; 600]);
        let (seqs, _) = page(&small, 1024 * K, 0, chunk);
        assert_eq!(seqs.len(), PAGE);
        assert_eq!(*seqs.last().unwrap(), PAGE as u64);
        // One event over the budget comes alone; the end of the log ends the page.
        let (seqs, _) = page(&log(&[2048 * K, 1]), 1024 * K, 0, chunk);
        assert_eq!(seqs, [1]);
        let (seqs, _) = page(&log(&[1, 1, 1]), 1024 * K, 1, chunk);
        assert_eq!(seqs, [2, 3]);
        let (seqs, _) = page(&log(&[1, 1, 1]), 1024 * K, 3, chunk);
        assert!(seqs.is_empty());
        assert_eq!(db_chunk(1, 256 * K), 1);
        assert_eq!(db_chunk(usize::MAX, 1), PAGE);
    }

    #[test]
    fn start_seq_prefers_last_event_id() {
        assert_eq!(start_seq(None, None), Ok(0));
        assert_eq!(start_seq(None, Some(7)), Ok(7));
        assert_eq!(start_seq(Some("9"), Some(7)), Ok(9));
        assert!(start_seq(Some("nine"), None).is_err());
        assert!(start_seq(Some("-1"), None).is_err());
        assert_eq!(truncated(10).seq, 9);
    }
}
