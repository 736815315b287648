//! The host side of `tether:command@0.1.0`: generated bindings, the conversions between its types
//! and the host's own, and the capability-checked queries. Only the [`super`] facade uses it.

mod convert;
mod queries;

use wasmtime::component::{HasSelf, Linker};

use crate::sandbox::{CallerState, StoreData};

wasmtime::component::bindgen!({
    path: "../../wit/since_v0.1.0",
    world: "command",
    // Host queries may trap: calling one that was not declared is a bug we stop at once.
    imports: { default: trappable },
});

pub(super) use convert::{effect_from_wit, invocation, manifest_from_wit};

/// Adds this version's host queries to `linker`.
pub(super) fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    Command::add_to_linker::<StoreData, HasSelf<CallerState>>(linker, |d| &mut d.caller)
}
