//! The stock slash commands, each a WebAssembly component built from `plugins/` by this crate's
//! build script (see tether-wasm-build) and embedded in the binary.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use tether_wasm_build::Embedded;

/// Every stock command, as built from `plugins/`.
#[rustfmt::skip]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/stock.rs"));
}
pub use generated::STOCK;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_is_a_component() {
        assert!(!STOCK.is_empty());
        for p in STOCK {
            assert_eq!(&p.bytes[..4], b"\0asm", "{}", p.crate_name);
            assert_eq!(&p.bytes[6..8], &[1, 0], "{} is a component", p.crate_name);
            assert_eq!(p.sha256.len(), 64);
        }
    }
}
