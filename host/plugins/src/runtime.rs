//! The public face of the plugin runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use tether_protocol::{Capabilities, gate::Context};
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::cache::Cache;
use crate::effect::Effect;
use crate::engine::{self, Ticker};
use crate::error::PluginError;
use crate::limits::Limits;
use crate::loader::{self, Outcome, Plugin, PluginSource};
use crate::pool::Pool;
use crate::queries::HostQueries;
use crate::since_v0_1_0::{self, Command};
use crate::worker::{self, CallerState, StoreData};

/// Where compiled components are cached. `None` compiles every time (tests of cold starts).
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
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
        count: Option<usize>,
    },
    /// One more is done.
    Compiled {
        done: usize,
        count: usize,
        label: String,
    },
    Finished,
}

/// One invocation of a plugin. Owned, because it runs on a pool thread.
pub struct Call {
    pub plugin: Plugin,
    pub args: String,
    pub context: Context,
    /// What the policy grants; intersected with what the manifest declares.
    pub granted: Capabilities,
    pub limits: Limits,
    pub queries: Arc<dyn HostQueries>,
}

/// The engine, the linker and the cache: what loading and calling need, shared with pool threads.
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreData>,
    pub(crate) ticker: Ticker,
    pub(crate) cache: Option<Cache>,
    pub(crate) compat: String,
}

pub struct Runtime {
    inner: Arc<Inner>,
    pool: Pool,
}

/// A pool thread vanished mid-call: only a bug in tether itself can do that.
fn lost() -> PluginError {
    PluginError::Setup("a plugin thread stopped unexpectedly; please report this bug".into())
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> Result<Runtime, PluginError> {
        let engine = engine::build_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Setup(e.to_string()))?;
        Command::add_to_linker::<StoreData, HasSelf<CallerState>>(&mut linker, |d| &mut d.caller)
            .map_err(|e| PluginError::Setup(e.to_string()))?;
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
        let compat = engine::compatibility_key(&engine);
        let ticker = Ticker::start(engine.clone());
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
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
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(sources.len().max(1));
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel();
        let mut results: Vec<Option<Result<Plugin, PluginError>>> =
            sources.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
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
            .run(move || execute(&inner, call))
            .unwrap_or_else(|| Err(lost()))
    }

    /// [`Runtime::run`] for async callers: the call runs on a plugin thread while the caller's
    /// executor goes on with other work.
    pub async fn run_async(&self, call: Call) -> Result<Vec<Effect>, PluginError> {
        let inner = self.inner.clone();
        self.pool
            .run_async(move || execute(&inner, call))
            .await
            .unwrap_or_else(|| Err(lost()))
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The cache key half that depends on the engine (shown by diagnostics).
    pub fn compatibility_key(&self) -> &str {
        &self.inner.compat
    }
}

fn execute(inner: &Inner, call: Call) -> Result<Vec<Effect>, PluginError> {
    let manifest = &call.plugin.manifest;
    let declared = manifest.declared();
    let caller = CallerState {
        name: manifest.name.clone(),
        declared,
        granted: declared.intersect(call.granted),
        context: call.context,
        queries: call.queries,
        undeclared: None,
    };
    let invocation = since_v0_1_0::tether::command::types::Invocation {
        args: call.args,
        origin: since_v0_1_0::convert_origin(call.context.origin()),
        remote_mode: call.context.remote_mode(),
    };
    let returned = worker::call(
        &inner.engine,
        &inner.ticker,
        &call.plugin.pre,
        caller,
        call.limits,
        |command, store| command.call_run(store, &invocation),
    )?;
    let effects = returned.map_err(|message| PluginError::Failed {
        name: manifest.name.clone(),
        message: truncate_bytes(message, call.limits.output_bytes),
    })?;
    let effects: Vec<Effect> = effects
        .into_iter()
        .map(since_v0_1_0::effect_from_wit)
        .collect();
    let bytes: usize = effects.iter().map(Effect::text_len).sum();
    if bytes > call.limits.output_bytes {
        return Err(PluginError::OutputTooLarge {
            name: manifest.name.clone(),
            bytes,
            limit: call.limits.output_bytes,
        });
    }
    Ok(effects)
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
fn truncate_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_bytes("héllo".into(), 2), "h");
        assert_eq!(truncate_bytes("héllo".into(), 3), "hé");
        assert_eq!(truncate_bytes("abc".into(), 10), "abc");
        assert_eq!(truncate_bytes("𝄞𝄞".into(), 7), "𝄞");
    }
}
