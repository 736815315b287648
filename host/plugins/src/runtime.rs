//! The public face of the plugin runtime: load plugins, run calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::abi;
use crate::cache::Cache;
use crate::call::{self, Call};
use crate::compiler;
use crate::deadline::Ticker;
use crate::effect::Effect;
use crate::error::PluginError;
use crate::loader::{self, Outcome, Plugin, PluginSource};
use crate::pool::Pool;
use crate::sandbox::StoreData;

/// Where compiled components are cached. `None` compiles every time (tests of cold starts).
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// The directory of compiled components.
    pub cache_dir: Option<PathBuf>,
    /// The secret that authenticates cache entries (created 0600 on first use).
    pub key_file: Option<PathBuf>,
}

/// Reported while plugins load, so that a first start that compiles is not silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadProgress {
    /// Components need compiling before the session can start: `Some(n)` when known up front,
    /// `None` when only a damaged cache entry revealed it.
    CompileStarted {
        /// How many will be compiled.
        count: Option<usize>,
    },
    /// One more is done.
    Compiled {
        /// How many are done so far.
        done: usize,
        /// How many there are in all (at least `done`).
        count: usize,
        /// The plugin's [`PluginSource::label`].
        label: String,
    },
    /// Every plugin is loaded.
    Finished,
}

/// wasmtime, the linker and the cache: what loading and calling need, shared with pool threads.
pub(crate) struct Inner {
    pub(crate) wasmtime: Engine,
    pub(crate) linker: Linker<StoreData>,
    pub(crate) ticker: Ticker,
    pub(crate) cache: Option<Cache>,
    pub(crate) compat: String,
}

/// Loads and runs plugins. One per process: it owns the compiled code, the cache and the threads
/// calls run on.
pub struct Runtime {
    inner: Arc<Inner>,
    pool: Pool,
}

/// A pool thread vanished mid-call: only a bug in tether itself can do that.
fn lost() -> PluginError {
    PluginError::Setup("a plugin thread stopped unexpectedly; please report this bug".into())
}

impl Runtime {
    /// Sets up wasmtime, the host side of every WIT version and the cache (which is disabled,
    /// with a warning, if it cannot be opened).
    pub fn new(options: RuntimeOptions) -> Result<Runtime, PluginError> {
        let wasmtime = compiler::build()?;
        let mut linker = Linker::new(&wasmtime);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Setup(e.to_string()))?;
        abi::add_to_linker(&mut linker).map_err(|e| PluginError::Setup(e.to_string()))?;
        let cache = match (&options.cache_dir, &options.key_file) {
            (Some(dir), Some(key)) => match Cache::open(dir, key) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!("plugin cache disabled ({}): {e}", dir.display());
                    None
                }
            },
            _ => None,
        };
        let compat = compiler::compatibility_key(&wasmtime);
        let ticker = Ticker::start(wasmtime.clone());
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        Ok(Runtime {
            inner: Arc::new(Inner {
                wasmtime,
                linker,
                ticker,
                cache,
                compat,
            }),
            pool: Pool::new(threads),
        })
    }

    /// Loads one plugin (compiling it unless the cache has it). Blocks; safe from any thread.
    pub fn load(&self, source: PluginSource) -> Result<Plugin, PluginError> {
        let inner = self.inner.clone();
        self.pool
            .run(move || loader::load(&inner, source).map(|(plugin, _)| plugin))
            .unwrap_or_else(|| Err(lost()))
    }

    /// Loads many plugins, compiling those not in the cache on every core, and reports progress
    /// for the compiling ones. Results come back in the order of `sources`.
    pub fn load_all(
        &self,
        sources: Vec<PluginSource>,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> Vec<Result<Plugin, PluginError>> {
        // Hash user plugins once here; `loader::load` then reuses the digest.
        let sources: Vec<PluginSource> = sources
            .into_iter()
            .map(|mut s| {
                if s.sha256.is_none() {
                    s.sha256 = Some(loader::sha256_hex(&s.bytes));
                }
                s
            })
            .collect();
        let expected = sources
            .iter()
            .filter(|s| !loader::is_cached(&self.inner, s.sha256.as_deref().unwrap_or_default()))
            .count();
        let mut started = false;
        if expected > 0 {
            progress(LoadProgress::CompileStarted {
                count: Some(expected),
            });
            started = true;
        }
        // Plain scoped threads: like the pool's, they carry no tokio context.
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(sources.len().max(1));
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel();
        let mut results: Vec<Option<Result<Plugin, PluginError>>> =
            sources.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (sources, next, inner) = (&sources, &next, &self.inner);
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(source) = sources.get(i) else { break };
                        if tx.send((i, loader::load(inner, source.clone()))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut done = 0;
            for (i, result) in rx {
                if let Ok((_, Outcome::Compiled | Outcome::Recompiled { .. })) = &result {
                    done += 1;
                    // A cache entry that looked present but failed authentication is compiled
                    // too: announce it then, so every compile sits between Started and Finished.
                    if !started {
                        progress(LoadProgress::CompileStarted { count: None });
                        started = true;
                    }
                    progress(LoadProgress::Compiled {
                        done,
                        count: expected.max(done),
                        label: sources[i].label.clone(),
                    });
                }
                results[i] = Some(result.map(|(plugin, _)| plugin));
            }
        });
        if started {
            progress(LoadProgress::Finished);
        }
        results
            .into_iter()
            .map(|r| r.expect("every source loaded"))
            .collect()
    }

    /// Runs a command and waits for it. Every failure (trap, timeout, memory, oversized output,
    /// an error the command returned) comes back as a [`PluginError`]; nothing here panics.
    pub fn run(&self, call: Call) -> Result<Vec<Effect>, PluginError> {
        let inner = self.inner.clone();
        self.pool
            .run(move || call::execute(&inner, call))
            .unwrap_or_else(|| Err(lost()))
    }

    /// [`Runtime::run`] for async callers: the call runs on a plugin thread while the caller's
    /// executor goes on with other work.
    pub async fn run_async(&self, call: Call) -> Result<Vec<Effect>, PluginError> {
        let inner = self.inner.clone();
        self.pool
            .run_async(move || call::execute(&inner, call))
            .await
            .unwrap_or_else(|| Err(lost()))
    }
}
