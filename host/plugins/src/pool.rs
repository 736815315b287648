//! The threads plugin calls run on.
//!
//! wasmtime-wasi's synchronous WASI streams enter tokio with `Handle::block_on`, which panics on a
//! thread that is already driving an async runtime: a plugin that merely prints to stderr (every
//! Rust panic does) would take the whole process down if it ran on the caller's thread. Running
//! every call here, on threads that never carry a tokio context, makes the runtime safe to use
//! from anywhere, and keeps a slow plugin (up to its deadline) off the caller's executor.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

type Job = Box<dyn FnOnce() + Send + 'static>;

pub(crate) struct Pool {
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    pub(crate) fn new(threads: usize) -> Pool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            thread::Builder::new()
                .name(format!("tether-plugin-{i}"))
                .spawn(move || {
                    loop {
                        let job = queue.lock().map(|q| q.recv());
                        match job {
                            // A host bug in one job must not cost the pool a thread.
                            Ok(Ok(job)) => {
                                let _ = catch_unwind(AssertUnwindSafe(job));
                            }
                            // The runtime is gone.
                            _ => return,
                        }
                    }
                })
                .expect("spawning a plugin thread");
        }
        Pool { jobs }
    }

    /// Runs `f` on a pool thread and waits for its result.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .ok()?;
        rx.recv().ok()
    }

    /// Runs `f` on a pool thread without blocking the caller's executor.
    pub(crate) async fn run_async<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_survives_a_panicking_job() {
        let pool = Pool::new(1);
        assert_eq!(pool.run(|| 2 + 2), Some(4));
        assert_eq!(pool.run(|| -> u8 { panic!("host bug") }), None);
        assert_eq!(pool.run(|| "still here"), Some("still here"));
    }

    #[tokio::test]
    async fn async_callers_are_not_blocked_and_have_no_runtime_on_the_pool() {
        let pool = Pool::new(2);
        let on_pool = pool
            .run_async(|| tokio::runtime::Handle::try_current().is_ok())
            .await;
        assert_eq!(on_pool, Some(false));
    }
}
