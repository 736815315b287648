//! Group commit for SQLite's one writer: the writes that queue while a transaction runs go
//! into the next transaction together, so that many sessions' appends share one commit (what
//! a commit costs, the WAL frames of the pages it changed and the checkpoint that follows, is
//! most of an append; BENCHMARKS.md, "Relay").
//!
//! There is no writer thread: a write queues itself, and whoever finds the connection free
//! runs everything queued (flat combining). A write alone (the common case at low load) runs
//! at once on its own caller's thread, as before; under load, one caller commits for many and
//! the others wait for their answers without holding a thread.
//!
//! Each write in a group runs in a savepoint of its own, so one that fails (a session deleted
//! meanwhile, a constraint) is rolled back alone and answered with its error; the others
//! commit. After the commit the steps that follow each write ([`super::Store::write_then`]: the
//! hub moving) run in queue order, still holding the writer, so the hub sees commits in the
//! order they happened.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, TryLockError};

use prometheus_client::metrics::counter::Counter;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::sql::Sql;
use super::sqlite::On;
use super::{Ordered, StoreError, StoreResult};

/// At most this many writes share a transaction (the first of them waits for the last).
pub const MAX_GROUP: usize = 256;

/// A write waiting in the queue, its types erased.
trait Job: Send {
    /// Run the write's statements; what they return is kept for [`Job::committed`].
    fn run(&mut self, c: &mut dyn Sql) -> StoreResult<()>;
    /// The transaction committed: the step after it, and the answer.
    fn committed(self: Box<Self>, order: &Ordered);
    /// The write did not happen.
    fn failed(self: Box<Self>, error: StoreError);
}

struct Write<F, T, N, U> {
    f: Option<F>,
    out: Option<T>,
    then: N,
    answer: oneshot::Sender<StoreResult<U>>,
}

impl<F, T, N, U> Job for Write<F, T, N, U>
where
    F: FnOnce(&mut dyn Sql) -> StoreResult<T> + Send,
    T: Send,
    N: FnOnce(T, &Ordered) -> U + Send,
    U: Send,
{
    fn run(&mut self, c: &mut dyn Sql) -> StoreResult<()> {
        let f = self.f.take().expect("a write runs once");
        self.out = Some(f(c)?);
        Ok(())
    }

    fn committed(self: Box<Self>, order: &Ordered) {
        let Write {
            out, then, answer, ..
        } = *self;
        let out = out.expect("committed after it ran");
        // A caller that went away (its request cancelled) still had its write committed and
        // the hub moved: only the answer is lost.
        let _ = answer.send(Ok(then(out, order)));
    }

    fn failed(self: Box<Self>, error: StoreError) {
        let _ = self.answer.send(Err(error));
    }
}

/// The writer connection and the writes waiting for it.
pub struct Writer {
    conn: Mutex<Connection>,
    queue: Mutex<VecDeque<Box<dyn Job>>>,
    writes: Counter,
    commits: Counter,
}

/// The writer held outside a group ([`Writer::hold`]); when it is let go, whatever queued
/// meanwhile is served.
pub struct Held<'a> {
    conn: Option<MutexGuard<'a, Connection>>,
    writer: &'a Writer,
}

impl std::ops::Deref for Held<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until dropped")
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut conn = self.conn.take().expect("held until dropped");
        self.writer.drain(&mut conn);
        drop(conn);
        self.writer.serve();
    }
}

impl Writer {
    /// A writer over `conn`, counting writes and commits into the two counters.
    pub fn new(conn: Connection, writes: Counter, commits: Counter) -> Writer {
        Writer {
            conn: Mutex::new(conn),
            queue: Mutex::new(VecDeque::new()),
            writes,
            commits,
        }
    }

    /// Run `f` in a transaction (maybe shared with other writes) and, once it committed, `then`
    /// on what `f` returned, before any later write's `then`.
    pub async fn write<T, U>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<T> + Send + 'static,
        then: impl FnOnce(T, &Ordered) -> U + Send + 'static,
    ) -> StoreResult<U>
    where
        T: Send + 'static,
        U: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        self.queued().push_back(Box::new(Write {
            f: Some(f),
            out: None,
            then,
            answer,
        }));
        self.serve();
        answered
            .await
            .map_err(|_| StoreError::Task("the write was abandoned (it panicked)".into()))?
    }

    /// The writer, held: while it is, no write runs. Blocks the thread until it is free.
    pub fn hold(&self) -> Held<'_> {
        Held {
            conn: Some(self.conn.lock().unwrap_or_else(|p| p.into_inner())),
            writer: self,
        }
    }

    fn queued(&self) -> MutexGuard<'_, VecDeque<Box<dyn Job>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run what is queued for as long as anything is and the connection is free. A write
    /// queued while another caller holds the connection is that caller's to run: it looks at
    /// the queue once more after letting go (here or in [`Held`]'s drop), and a write queued
    /// before that look is seen by it.
    fn serve(&self) {
        loop {
            let mut conn = match self.conn.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            self.drain(&mut conn);
            drop(conn);
            if self.queued().is_empty() {
                return;
            }
        }
    }

    fn drain(&self, conn: &mut Connection) {
        loop {
            let group: Vec<Box<dyn Job>> = {
                let mut queue = self.queued();
                let n = queue.len().min(MAX_GROUP);
                queue.drain(..n).collect()
            };
            if group.is_empty() {
                return;
            }
            self.commit(conn, group);
        }
    }

    /// One transaction for `group`, committed if any write in it succeeded.
    fn commit(&self, conn: &mut Connection, group: Vec<Box<dyn Job>>) {
        let mut tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => return fail_all(group, &e),
        };
        let alone = group.len() == 1;
        let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(group.len());
        let mut jobs = group.into_iter();
        while let Some(mut job) = jobs.next() {
            let outcome = if alone {
                run(&mut *job, &tx)
            } else {
                // A savepoint dropped unreleased is rolled back: the failed write alone.
                tx.savepoint()
                    .map_err(StoreError::from)
                    .and_then(|sp| run(&mut *job, &sp).and_then(|()| Ok(sp.commit()?)))
            };
            self.writes.inc();
            // Some failures (a full disk, an I/O error) make SQLite roll back the whole
            // transaction; what ran before is gone, and what follows would run outside it.
            if tx.is_autocommit() {
                let reason = match &outcome {
                    Err(e) => e.to_string(),
                    Ok(()) => "the database ended the transaction".into(),
                };
                match outcome {
                    Err(e) => job.failed(e),
                    Ok(()) => job.failed(StoreError::Grouped(reason.clone())),
                }
                for job in ran {
                    job.failed(StoreError::Grouped(reason.clone()));
                }
                // Not run yet, so still theirs to try: first in the next group.
                let mut queue = self.queued();
                for job in jobs.rev() {
                    queue.push_front(job);
                }
                return;
            }
            match outcome {
                Ok(()) => ran.push(job),
                Err(e) => job.failed(e),
            }
        }
        // Nothing to commit: the transaction is dropped, and so rolled back.
        if ran.is_empty() {
            return;
        }
        match tx.commit() {
            Ok(()) => {
                self.commits.inc();
                let order = Ordered(());
                for job in ran {
                    // A step that panics loses its own answer, not the others'.
                    let _ = catch_unwind(AssertUnwindSafe(|| job.committed(&order)));
                }
            }
            Err(e) => fail_all(ran, &e),
        }
    }
}

/// Run one write, a panic in it counted as its failure.
fn run(job: &mut dyn Job, conn: &Connection) -> StoreResult<()> {
    catch_unwind(AssertUnwindSafe(|| job.run(&mut On(conn))))
        .unwrap_or_else(|_| Err(StoreError::Task("the write panicked".into())))
}

fn fail_all(jobs: Vec<Box<dyn Job>>, e: &rusqlite::Error) {
    for job in jobs {
        job.failed(StoreError::Grouped(e.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::sql::params;

    fn writer() -> Arc<Writer> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        Arc::new(Writer::new(conn, Counter::default(), Counter::default()))
    }

    fn rows(w: &Writer) -> Vec<i64> {
        let held = w.hold();
        let mut stmt = held.prepare("SELECT n FROM t ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn insert(c: &mut dyn Sql, n: u64) -> StoreResult<u64> {
        c.execute("INSERT INTO t (n) VALUES (?1)", params![n])
    }

    type Answer = tokio::task::JoinHandle<StoreResult<u64>>;

    /// Queue `f` while the test holds the writer, and wait until it is in the queue.
    async fn queue(
        w: &Arc<Writer>,
        f: impl FnOnce(&mut dyn Sql) -> StoreResult<u64> + Send + 'static,
        then: impl FnOnce(u64, &Ordered) -> u64 + Send + 'static,
    ) -> Answer {
        let before = w.queued().len();
        let task = tokio::spawn({
            let w = w.clone();
            async move { w.write(f, then).await }
        });
        while w.queued().len() == before {
            tokio::task::yield_now().await;
        }
        task
    }

    async fn answers(tasks: Vec<Answer>) -> Vec<StoreResult<u64>> {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_write_alone_commits_at_once_on_its_callers_thread() {
        let w = writer();
        assert_eq!(w.write(|c| insert(c, 1), |n, _| n).await.unwrap(), 1);
        assert_eq!((w.writes.get(), w.commits.get()), (1, 1));
        assert_eq!(rows(&w), [1]);
    }

    #[tokio::test]
    async fn writes_queued_while_one_commits_share_the_next_commit() {
        let w = writer();
        let held = w.hold();
        let mut tasks = Vec::new();
        for n in 1..=20 {
            tasks.push(queue(&w, move |c| insert(c, n), |n, _| n).await);
        }
        assert!(
            tasks.iter().all(|t| !t.is_finished()),
            "nothing runs while held"
        );
        drop(held);
        let answers = answers(tasks).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(1))), "{answers:?}");
        assert_eq!((w.writes.get(), w.commits.get()), (20, 1));
        assert_eq!(rows(&w), (1..=20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_steps_after_the_commit_run_in_queue_order() {
        let w = writer();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let held = w.hold();
        let mut tasks = Vec::new();
        for n in [3, 1, 2] {
            let seen = seen.clone();
            let then = move |_, _: &Ordered| {
                seen.lock().unwrap().push(n);
                n
            };
            tasks.push(queue(&w, move |c| insert(c, n), then).await);
        }
        drop(held);
        answers(tasks).await;
        assert_eq!(*seen.lock().unwrap(), [3, 1, 2]);
    }

    #[tokio::test]
    async fn a_write_that_fails_in_a_group_is_rolled_back_alone() {
        let w = writer();
        let held = w.hold();
        let a = queue(&w, |c| insert(c, 1), |n, _| n).await;
        let b = queue(
            &w,
            |c| {
                insert(c, 2)?;
                Err(StoreError::Gone("s".into()))
            },
            |n, _| n,
        )
        .await;
        let c = queue(&w, |c| insert(c, 3), |n, _| n).await;
        drop(held);
        let answers = answers(vec![a, b, c]).await;
        assert!(matches!(answers[0], Ok(1)));
        assert!(
            matches!(answers[1], Err(StoreError::Gone(_))),
            "{answers:?}"
        );
        assert!(matches!(answers[2], Ok(1)));
        assert_eq!(rows(&w), [1, 3]);
        assert_eq!(w.commits.get(), 1);
    }

    #[tokio::test]
    async fn a_write_that_panics_in_a_group_fails_alone() {
        let w = writer();
        let held = w.hold();
        let a = queue(&w, |c| insert(c, 1), |n, _| n).await;
        let b = queue(
            &w,
            |c| {
                insert(c, 2)?;
                panic!("a bug in a write")
            },
            |n, _| n,
        )
        .await;
        let c = queue(&w, |c| insert(c, 3), |n, _| n).await;
        let d = queue(&w, |c| insert(c, 4), |_, _| panic!("a bug after a write")).await;
        let e = queue(&w, |c| insert(c, 5), |n, _| n).await;
        drop(held);
        let answers = answers(vec![a, b, c, d, e]).await;
        assert!(
            matches!(answers[1], Err(StoreError::Task(_))),
            "{answers:?}"
        );
        assert!(
            matches!(answers[3], Err(StoreError::Task(_))),
            "{answers:?}"
        );
        for i in [0, 2, 4] {
            assert!(matches!(answers[i], Ok(1)), "{answers:?}");
        }
        assert_eq!(rows(&w), [1, 3, 4, 5]);
    }

    #[tokio::test]
    async fn when_the_database_ends_a_groups_transaction_the_writes_after_it_are_retried() {
        let w = writer();
        let held = w.hold();
        let a = queue(&w, |c| insert(c, 1), |n, _| n).await;
        // What SQLite does itself on a full disk or an I/O error: the whole transaction goes.
        let b = queue(&w, |c| c.execute("ROLLBACK", &[]), |n, _| n).await;
        let c = queue(&w, |c| insert(c, 3), |n, _| n).await;
        drop(held);
        let answers = answers(vec![a, b, c]).await;
        assert!(
            matches!(answers[0], Err(StoreError::Grouped(_))),
            "{answers:?}"
        );
        assert!(answers[1].is_err(), "{answers:?}");
        assert!(matches!(answers[2], Ok(1)), "{answers:?}");
        assert_eq!(rows(&w), [3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_from_many_tasks_are_each_answered_once_and_all_kept() {
        let w = writer();
        let tasks: Vec<_> = (1..=2_000u64)
            .map(|n| {
                let w = w.clone();
                tokio::spawn(async move { w.write(move |c| insert(c, n), |n, _| n).await })
            })
            .collect();
        // A write left in the queue with nobody to run it would hang here.
        let answers = tokio::time::timeout(std::time::Duration::from_secs(20), answers(tasks))
            .await
            .expect("every write answered");
        assert!(answers.iter().all(|a| matches!(a, Ok(1))));
        assert_eq!(rows(&w).len(), 2_000);
        assert_eq!(w.writes.get(), 2_000);
    }
}
