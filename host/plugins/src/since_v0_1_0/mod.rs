//! The host side of `tether:command@0.1.0`: generated bindings, the conversions between its types
//! and the host's own, and the capability-checked queries. A future incompatible WIT version gets
//! a sibling module; the rest of the runtime only sees the host's own types.

mod convert;
mod queries;

wasmtime::component::bindgen!({
    path: "../../wit/since_v0.1.0",
    world: "command",
    // Host queries may trap: calling one that was not declared is a bug we stop at once.
    imports: { default: trappable },
});

pub(crate) use convert::origin_to_wit as convert_origin;
pub use convert::{effect_from_wit, manifest_from_wit};
