//! The plugin ABI: every WIT version the host implements, behind one facade.
//!
//! Each version is a module of its own (`since_v0_1_0`: its generated bindings, the conversions
//! between its types and the host's, and its capability-checked queries). The rest of the crate
//! sees only [`AbiPre`] (a linked component), [`Abi`] (an instance of it) and host types, so that a
//! second, incompatible WIT version is one new module and one new variant here, and nothing
//! outside this module changes or names a version.

mod since_v0_1_0;

use tether_protocol::gate::Context;
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::effect::Effect;
use crate::manifest::Manifest;
use crate::sandbox::StoreData;

/// The worlds the host implements, newest first. Part of the cache's compatibility key, so that
/// compiled code is never reused across a change of bindings.
pub(crate) const WORLDS: [&str; 1] = ["tether:command@0.1.0"];

/// Adds the host side of every version to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    since_v0_1_0::add_to_linker(linker)
}

/// A component linked against the host, ready to be instantiated for each call.
#[derive(Clone)]
pub(crate) enum AbiPre {
    V0_1_0(since_v0_1_0::CommandPre<StoreData>),
}

/// One instance of a plugin, living as long as the call's `Store`.
pub(crate) enum Abi {
    V0_1_0(since_v0_1_0::Command),
}

impl AbiPre {
    /// Links `component` with the version it implements. An `Err` means it implements none of
    /// [`WORLDS`].
    pub(crate) fn link(
        linker: &Linker<StoreData>,
        component: &Component,
    ) -> wasmtime::Result<AbiPre> {
        let pre = linker.instantiate_pre(component)?;
        since_v0_1_0::CommandPre::new(pre).map(AbiPre::V0_1_0)
    }

    pub(crate) fn instantiate(&self, store: &mut Store<StoreData>) -> wasmtime::Result<Abi> {
        match self {
            AbiPre::V0_1_0(pre) => pre.instantiate(store).map(Abi::V0_1_0),
        }
    }
}

impl Abi {
    /// The command's own description of itself, in the host's terms.
    pub(crate) fn manifest(&self, store: &mut Store<StoreData>) -> wasmtime::Result<Manifest> {
        match self {
            Abi::V0_1_0(command) => command
                .call_manifest(store)
                .map(since_v0_1_0::manifest_from_wit),
        }
    }

    /// Runs the command with `args`, invoked in `context`. The inner `Err` is the command's own
    /// error message.
    pub(crate) fn run(
        &self,
        store: &mut Store<StoreData>,
        args: String,
        context: Context,
    ) -> wasmtime::Result<Result<Vec<Effect>, String>> {
        match self {
            Abi::V0_1_0(command) => {
                let invocation = since_v0_1_0::invocation(args, context);
                let returned = command.call_run(store, &invocation)?;
                Ok(returned.map(|effects| {
                    effects
                        .into_iter()
                        .map(since_v0_1_0::effect_from_wit)
                        .collect()
                }))
            }
        }
    }
}
