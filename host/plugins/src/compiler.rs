//! How plugins are compiled: the configuration of the one wasmtime `Engine` a process uses, and
//! the fingerprint of everything compiled code depends on (the cache is keyed by it).
//!
//! wasmtime calls its compiler-and-runtime an "engine"; in tether that word means the model
//! provider, so this crate only says `wasmtime::Engine`.

use wasmtime::{Config, Engine, OptLevel};

use crate::abi;
use crate::error::PluginError;

/// The wasmtime configuration every plugin is compiled and run with. Epoch interruption is what
/// turns a call's deadline into a trap (see [`crate::deadline`]).
pub(crate) fn build() -> Result<Engine, PluginError> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);
    Engine::new(&config).map_err(|e| PluginError::Setup(e.to_string()))
}

/// A stable fingerprint of everything that makes compiled code loadable by `wasmtime`: its own
/// compatibility hash, plus our crate version and the WIT versions we link, so that a changed
/// host binding recompiles.
pub(crate) fn compatibility_key(wasmtime: &Engine) -> String {
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
    wasmtime.precompile_compatibility_hash().hash(&mut h);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    for world in abi::WORLDS {
        h.write(world.as_bytes());
    }
    h.0.finalize().to_hex()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_per_engine() {
        let wasmtime = build().unwrap();
        assert_eq!(compatibility_key(&wasmtime), compatibility_key(&wasmtime));
        assert_eq!(compatibility_key(&wasmtime).len(), 16);
    }
}
