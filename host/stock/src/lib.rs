//! The stock slash commands, each a WebAssembly component built from `plugins/` by this crate's
//! build script and embedded in the binary. The SHA-256 of each is computed at build time, so a
//! warm start does not hash them again.

/// One embedded component.
#[derive(Debug, Clone, Copy)]
pub struct StockPlugin {
    /// The crate name in `plugins/` (the command's name is in its manifest).
    pub crate_name: &'static str,
    pub bytes: &'static [u8],
    pub sha256: &'static str,
}

/// Every stock command, as built from `plugins/`.
#[rustfmt::skip]
mod generated {
    use super::StockPlugin;
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
