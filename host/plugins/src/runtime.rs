//! The public face of the plugin runtime.

use std::path::PathBuf;
use std::sync::{Arc, mpsc};

use tether_protocol::{Capabilities, gate::Context};
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::cache::Cache;
use crate::effect::Effect;
use crate::engine::{self, Ticker};
use crate::error::PluginError;
use crate::limits::Limits;
use crate::loader::{self, Outcome, Plugin, PluginSource};
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
#[derive(Debug, Clone)]
pub enum LoadProgress {
    /// `count` components need compiling before the session can start.
    CompileStarted {
        count: usize,
    },
    /// One more is done.
    Compiled {
        done: usize,
        count: usize,
        label: String,
    },
    Finished,
}

/// One invocation of a plugin.
pub struct Call<'a> {
    pub plugin: &'a Plugin,
    pub args: &'a str,
    pub context: Context,
    /// What the policy grants; intersected with what the manifest declares.
    pub granted: Capabilities,
    pub limits: Limits,
    pub queries: Arc<dyn HostQueries>,
}

pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreData>,
    pub(crate) ticker: Ticker,
    pub(crate) cache: Option<Cache>,
    pub(crate) compat: String,
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
        Ok(Runtime {
            engine,
            linker,
            ticker,
            cache,
            compat,
        })
    }

    pub fn load(&self, source: PluginSource) -> Result<Plugin, PluginError> {
        loader::load(self, source).map(|(plugin, _)| plugin)
    }

    /// Loads many plugins, compiling those not in the cache on every core, and reports progress
    /// for the compiling ones. Results come back in the order of `sources`.
    pub fn load_all(
        &self,
        sources: Vec<PluginSource>,
        progress: &mut dyn FnMut(LoadProgress),
    ) -> Vec<Result<Plugin, PluginError>> {
        let to_compile = sources
            .iter()
            .filter(|s| {
                let sha = s
                    .sha256
                    .clone()
                    .unwrap_or_else(|| loader::sha256_hex(&s.bytes));
                !loader::is_cached(self, &sha)
            })
            .count();
        if to_compile > 0 {
            progress(LoadProgress::CompileStarted { count: to_compile });
        }
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(sources.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel();
        let mut results: Vec<Option<Result<Plugin, PluginError>>> =
            sources.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (sources, next) = (&sources, &next);
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(source) = sources.get(i) else { break };
                        let result = loader::load(self, source.clone());
                        if tx.send((i, result)).is_err() {
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
                    progress(LoadProgress::Compiled {
                        done,
                        count: to_compile.max(done),
                        label: sources[i].label.clone(),
                    });
                }
                results[i] = Some(result.map(|(plugin, _)| plugin));
            }
        });
        if to_compile > 0 {
            progress(LoadProgress::Finished);
        }
        results
            .into_iter()
            .map(|r| r.expect("every source loaded"))
            .collect()
    }

    /// Runs a command. Every failure (trap, timeout, memory, oversized output, an error the
    /// command returned) comes back as a [`PluginError`]; nothing here panics or aborts.
    pub fn run(&self, call: Call<'_>) -> Result<Vec<Effect>, PluginError> {
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
            args: call.args.to_string(),
            origin: since_v0_1_0::convert_origin(call.context.origin()),
            remote_mode: call.context.remote_mode(),
        };
        let returned = worker::call(
            &self.engine,
            &self.ticker,
            &call.plugin.pre,
            caller,
            call.limits,
            |command, store| command.call_run(store, &invocation),
        )?;
        let effects = returned.map_err(|message| PluginError::Failed {
            name: manifest.name.clone(),
            message: message.chars().take(call.limits.output_bytes).collect(),
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

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The cache key half that depends on the engine (shown by diagnostics).
    pub fn compatibility_key(&self) -> &str {
        &self.compat
    }
}
