//! One wasmtime `Engine` per process, and the epoch ticker that turns the call deadline into a
//! trap. The ticker sleeps when no call is running, so an idle tether costs no wake-ups.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, Thread};
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel};

use crate::error::PluginError;

/// The epoch period: deadlines are rounded up to a multiple of it.
pub const TICK: Duration = Duration::from_millis(5);

pub fn build_engine() -> Result<Engine, PluginError> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);
    Engine::new(&config).map_err(|e| PluginError::Setup(e.to_string()))
}

/// A stable fingerprint of everything that makes compiled code loadable by this engine: wasmtime's
/// own compatibility hash, plus our crate version so that a changed host binding recompiles.
pub fn compatibility_key(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    struct Blake(blake3::Hasher);
    impl Hasher for Blake {
        fn finish(&self) -> u64 {
            unreachable!("only finalize() is used")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Blake(blake3::Hasher::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write(b"tether:command@0.1.0");
    h.0.finalize().to_hex()[..16].to_string()
}

struct Shared {
    engine: Engine,
    active: AtomicUsize,
}

/// Increments the engine's epoch every [`TICK`] while at least one call is in flight.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

impl Ticker {
    pub(crate) fn start(engine: Engine) -> Ticker {
        let shared = Arc::new(Shared {
            engine,
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
                    shared.engine.increment_epoch();
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
        // Wake the thread so that it sees the engine is gone and exits.
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

    #[test]
    fn key_is_stable_per_engine() {
        let engine = build_engine().unwrap();
        assert_eq!(compatibility_key(&engine), compatibility_key(&engine));
        assert_eq!(compatibility_key(&engine).len(), 16);
    }
}
