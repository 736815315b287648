//! From bytes to a runnable plugin: check the bytes are a component, compile it (or load it from
//! the cache), link it against the host, read and validate its manifest.

use std::borrow::Cow;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tether_protocol::{Capabilities, CommandSource};
use wasmtime::component::Component;

use crate::abi::AbiPre;
use crate::cache::Lookup;
use crate::error::PluginError;
use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::queries::NoQueries;
use crate::runtime::Inner;
use crate::sandbox::{self, CallerState};

/// Where a plugin's bytes come from.
#[derive(Clone)]
pub struct PluginSource {
    /// Shown in errors: a file path, or `stock /name`.
    pub label: String,
    /// Stock (embedded) or installed by the user.
    pub source: CommandSource,
    /// The component.
    pub bytes: Cow<'static, [u8]>,
    /// Known in advance for stock plugins (computed at build time); computed otherwise.
    pub sha256: Option<String>,
}

impl PluginSource {
    /// A stock component embedded in the binary, labelled ``stock plugin `<crate>` ``; its hash was
    /// computed at build time.
    pub fn stock(crate_name: &str, bytes: &'static [u8], sha256: &str) -> PluginSource {
        PluginSource {
            label: format!("stock plugin `{crate_name}`"),
            source: CommandSource::Stock,
            bytes: Cow::Borrowed(bytes),
            sha256: Some(sha256.to_string()),
        }
    }

    /// A plugin the user installed (or is installing), labelled with where it came from; it is
    /// hashed when loaded.
    pub fn user(label: impl Into<String>, bytes: impl Into<Cow<'static, [u8]>>) -> PluginSource {
        PluginSource {
            label: label.into(),
            source: CommandSource::User,
            bytes: bytes.into(),
            sha256: None,
        }
    }
}

/// A loaded, linked plugin, ready to be called any number of times.
#[derive(Clone)]
pub struct Plugin {
    /// What the command says it is, validated.
    pub manifest: Manifest,
    /// Stock (embedded) or installed by the user.
    pub source: CommandSource,
    /// The component's SHA-256, in hex: what policies pin.
    pub sha256: String,
    /// Where it came from, for messages ([`PluginSource::label`]).
    pub label: String,
    pub(crate) pre: AbiPre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.manifest.name)
            .field("source", &self.source)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// How a load went, for progress reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    FromCache,
    Compiled,
    /// A cache entry existed but failed authentication; it was replaced.
    Recompiled {
        reason: String,
    },
}

/// What the first bytes say a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WasmKind {
    NotWasm,
    CoreModule,
    Component,
}

/// Components and core modules share the `\0asm` magic and differ in the layer field.
fn classify_bytes(bytes: &[u8]) -> WasmKind {
    match bytes {
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => WasmKind::Component,
        [0, b'a', b's', b'm', _, _, 0, 0, ..] => WasmKind::CoreModule,
        _ => WasmKind::NotWasm,
    }
}

/// The SHA-256 of `bytes` in lower-case hex: how plugins are identified and pinned.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Does `source` need compiling (no valid cache entry)? Lets the caller announce the wait.
pub(crate) fn is_cached(runtime: &Inner, sha256: &str) -> bool {
    runtime
        .cache
        .as_ref()
        .is_some_and(|c| c.path(sha256, &runtime.compat).exists())
}

pub(crate) fn load(
    runtime: &Inner,
    source: PluginSource,
) -> Result<(Plugin, Outcome), PluginError> {
    let sha256 = source
        .sha256
        .clone()
        .unwrap_or_else(|| sha256_hex(&source.bytes));
    let mut rejected = None;
    if let Some(cache) = &runtime.cache {
        match cache.load(&sha256, &runtime.compat) {
            Lookup::Hit(entry) => {
                // SAFETY: the entry's MAC proves this process's user wrote it from a component
                // compiled by a wasmtime with the same compatibility key.
                #[allow(unsafe_code)]
                let component =
                    unsafe { Component::deserialize(&runtime.wasmtime, &entry.artifact) };
                match component {
                    Ok(component) => {
                        let pre = link(runtime, &component, &source.label)?;
                        entry
                            .manifest
                            .validate()
                            .map_err(|reason| PluginError::BadManifest {
                                origin: source.label.clone(),
                                reason,
                            })?;
                        let plugin = Plugin {
                            manifest: entry.manifest,
                            source: source.source,
                            sha256,
                            label: source.label,
                            pre,
                        };
                        return Ok((plugin, Outcome::FromCache));
                    }
                    Err(e) => rejected = Some(format!("cannot load compiled code: {e}")),
                }
            }
            Lookup::Miss => {}
            Lookup::Rejected(reason) => {
                tracing::warn!(
                    "recompiling {}: cache entry rejected: {reason}",
                    source.label
                );
                rejected = Some(reason);
            }
        }
    }

    let component = compile(runtime, &source)?;
    let pre = link(runtime, &component, &source.label)?;
    let manifest = read_manifest(runtime, &pre, &source.label)?;
    if let Some(cache) = &runtime.cache {
        let stored = component
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                cache
                    .store(&sha256, &runtime.compat, &manifest, &bytes)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = stored {
            tracing::warn!("cannot cache compiled {}: {e}", source.label);
        }
    }
    let outcome = match rejected {
        Some(reason) => Outcome::Recompiled { reason },
        None => Outcome::Compiled,
    };
    Ok((
        Plugin {
            manifest,
            source: source.source,
            sha256,
            label: source.label,
            pre,
        },
        outcome,
    ))
}

fn compile(runtime: &Inner, source: &PluginSource) -> Result<Component, PluginError> {
    let not_a_component = |reason: String| PluginError::NotAComponent {
        origin: source.label.clone(),
        reason,
    };
    match classify_bytes(&source.bytes) {
        WasmKind::NotWasm => {
            return Err(not_a_component(
                "it does not start with the WebAssembly magic bytes".into(),
            ));
        }
        WasmKind::CoreModule => {
            return Err(not_a_component(
                "it is a core WebAssembly module; build with `--target wasm32-wasip2` to get a component"
                    .into(),
            ));
        }
        WasmKind::Component => {}
    }
    Component::new(&runtime.wasmtime, &source.bytes).map_err(|e| not_a_component(error_chain(&e)))
}

fn link(runtime: &Inner, component: &Component, label: &str) -> Result<AbiPre, PluginError> {
    AbiPre::link(&runtime.linker, component).map_err(|e| PluginError::WrongWorld {
        origin: label.to_string(),
        reason: error_chain(&e),
    })
}

fn read_manifest(runtime: &Inner, pre: &AbiPre, label: &str) -> Result<Manifest, PluginError> {
    let caller = CallerState {
        name: label.to_string(),
        declared: Capabilities::NONE,
        granted: Capabilities::NONE,
        queries: Arc::new(NoQueries),
        undeclared: None,
    };
    let manifest = sandbox::run(
        &runtime.wasmtime,
        &runtime.ticker,
        pre,
        caller,
        Limits::default(),
        |command, store| command.manifest(store),
    )
    .map_err(|e| PluginError::BadManifest {
        origin: label.to_string(),
        reason: e.to_string(),
    })?;
    manifest
        .validate()
        .map_err(|reason| PluginError::BadManifest {
            origin: label.to_string(),
            reason,
        })?;
    Ok(manifest)
}

/// wasmtime's errors nest their cause; the innermost says what is actually wrong.
fn error_chain(e: &wasmtime::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    parts
        .join(": ")
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(400)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify_bytes(b""), WasmKind::NotWasm);
        assert_eq!(classify_bytes(b"\x7fELF\x02\x01\x01\0"), WasmKind::NotWasm);
        assert_eq!(classify_bytes(b"\0asm\x01\0\0\0"), WasmKind::CoreModule);
        assert_eq!(
            classify_bytes(b"\0asm\x0d\0\x01\0rest"),
            WasmKind::Component
        );
        assert_eq!(classify_bytes(b"\0asm\x0d\0\x01"), WasmKind::NotWasm);
    }
}
