//! A bound on password hashing. Each argon2 check takes 19 MiB and tens of milliseconds of a
//! core; run one per request, and a burst of logins takes as much memory as it has requests.
//! Here at most `workers` checks run at once (one per core: more would not finish sooner) and
//! at most `queue` more wait for a turn; anything beyond is refused at once, so no flood of
//! logins can take the relay's memory or make a real user wait behind it for long.
//!
//! The checks run on threads of their own, started with the relay, rather than on tokio's
//! blocking pool: the allocator keeps a freed argon2 buffer for the thread (the arena) that
//! used it, and the pool hands each check to whichever of its up to 512 threads is free, so
//! memory would still grow with every distinct thread a burst touched (measured in
//! BENCHMARKS.md, "Login bursts"). With a fixed set of threads it stays at one buffer or two
//! per worker.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Every password-check slot is taken: the login is refused with `503`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are running or waiting")]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

/// The bounded pool password checks run in, so a burst of logins cannot take every thread or all memory.
pub struct PasswordGate {
    /// One permit per check that may run or wait; a job holds its permit until it has run.
    admitted: Arc<Semaphore>,
    jobs: mpsc::Sender<(Job, OwnedSemaphorePermit)>,
}

impl PasswordGate {
    /// Start `workers` threads (at least one). They end when the gate is dropped.
    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let (jobs, inbox) = mpsc::channel::<(Job, OwnedSemaphorePermit)>();
        let inbox = Arc::new(Mutex::new(inbox));
        for _ in 0..workers {
            let inbox = inbox.clone();
            std::thread::Builder::new()
                .name("password-check".into())
                .spawn(move || {
                    loop {
                        let next = inbox.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((job, _permit)) = next else { return };
                        job();
                    }
                })?;
        }
        Ok(PasswordGate {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            jobs,
        })
    }

    /// Run `job` on a worker when one is free, or refuse it with [`Busy`] when the queue is
    /// full.
    ///
    /// A request abandoned while its job waits costs nothing: the job is skipped. One
    /// abandoned while its job runs keeps its place until the job ends, so disconnecting
    /// cannot lift the bound.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            if !answer.is_closed() {
                let _ = answer.send(job());
            }
        });
        self.jobs.send((job, permit)).map_err(|_| Busy)?;
        answered.await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    #[tokio::test]
    async fn at_most_workers_run_and_at_most_the_queue_waits() {
        let gate = Arc::new(PasswordGate::new(2, 3).unwrap());
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (gate, now, peak) = (gate.clone(), now.clone(), peak.clone());
                let threads = threads.clone();
                tokio::spawn(async move {
                    gate.run(move || {
                        threads.lock().unwrap().insert(std::thread::current().id());
                        let n = now.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(n, SeqCst);
                        std::thread::sleep(Duration::from_millis(60));
                        now.fetch_sub(1, SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let mut ran = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                ran += 1;
            }
        }
        assert_eq!(peak.load(SeqCst), 2, "never more than the workers at once");
        assert_eq!(
            ran, 5,
            "two running and three waiting; the rest refused at once"
        );
        assert_eq!(
            threads.lock().unwrap().len(),
            2,
            "always the same two threads"
        );
        // Once the burst is over, the gate is open again.
        assert_eq!(gate.run(|| 7).await, Ok(7));
    }

    /// A job that blocks until told to finish, and a way to tell it.
    fn blocker() -> (
        impl FnOnce() + Send + 'static,
        mpsc::Sender<()>,
        mpsc::Receiver<()>,
    ) {
        let (started_tx, started) = mpsc::channel();
        let (finish, finish_rx) = mpsc::channel::<()>();
        let job = move || {
            started_tx.send(()).unwrap();
            finish_rx.recv().unwrap();
        };
        (job, finish, started)
    }

    #[tokio::test]
    async fn an_abandoned_request_keeps_its_place_until_its_check_ends() {
        let gate = Arc::new(PasswordGate::new(1, 0).unwrap());
        let (job, finish, started) = blocker();
        let request = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(job).await }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        request.abort();
        let _ = request.await;
        assert_eq!(gate.run(|| ()).await, Err(Busy), "the check still runs");
        finish.send(()).unwrap();
        eventually_runs(&gate).await;
    }

    /// The worker gives a place back just after it answers: retry for a moment.
    async fn eventually_runs(gate: &PasswordGate) {
        for _ in 0..100 {
            if gate.run(|| ()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the place was never given back");
    }

    #[tokio::test]
    async fn a_waiting_job_whose_request_is_abandoned_is_skipped() {
        let gate = Arc::new(PasswordGate::new(1, 1).unwrap());
        let (job, finish, started) = blocker();
        let first = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(job).await }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let waiting = tokio::spawn({
            let (gate, ran) = (gate.clone(), ran.clone());
            async move { gate.run(move || ran.fetch_add(1, SeqCst)).await }
        });
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        finish.send(()).unwrap();
        first.await.unwrap().unwrap();
        eventually_runs(&gate).await;
        assert_eq!(ran.load(SeqCst), 0, "the abandoned job never ran");
    }
}
