//! Call deadlines: the epoch ticker that turns a call's time limit into a trap. The ticker sleeps
//! when no call is running, so an idle tether costs no wake-ups.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, Thread};
use std::time::Duration;

use wasmtime::Engine;

/// The epoch period: deadlines are rounded up to a multiple of it.
pub(crate) const TICK: Duration = Duration::from_millis(5);

struct Shared {
    wasmtime: Engine,
    active: AtomicUsize,
}

/// Increments wasmtime's epoch every [`TICK`] while at least one call is in flight.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

impl Ticker {
    pub(crate) fn start(wasmtime: Engine) -> Ticker {
        let shared = Arc::new(Shared {
            wasmtime,
            active: AtomicUsize::new(0),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let handle = thread::Builder::new()
            .name("tether-epoch".into())
            .spawn(move || {
                loop {
                    let Some(shared) = weak.upgrade() else { return };
                    if shared.active.load(Ordering::Acquire) == 0 {
                        drop(shared);
                        thread::park();
                        continue;
                    }
                    drop(shared);
                    thread::sleep(TICK);
                    let Some(shared) = weak.upgrade() else { return };
                    shared.wasmtime.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Ticker {
            shared,
            thread: handle.thread().clone(),
        }
    }

    /// Keeps the ticker running until the guard is dropped.
    pub(crate) fn running(&self) -> TickGuard<'_> {
        if self.shared.active.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        TickGuard(self)
    }

    /// How many ticks make `timeout`, at least one.
    pub(crate) fn ticks(timeout: Duration) -> u64 {
        (timeout.as_micros().div_ceil(TICK.as_micros()) as u64).max(1)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Wake the thread so that it sees the runtime is gone and exits.
        self.thread.unpark();
    }
}

pub(crate) struct TickGuard<'a>(&'a Ticker);

impl Drop for TickGuard<'_> {
    fn drop(&mut self) {
        self.0.shared.active.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up() {
        assert_eq!(Ticker::ticks(Duration::ZERO), 1);
        assert_eq!(Ticker::ticks(TICK), 1);
        assert_eq!(Ticker::ticks(TICK + Duration::from_micros(1)), 2);
        assert_eq!(Ticker::ticks(Duration::from_secs(2)), 400);
    }
}
