//! The one TLS decision: rustls with the ring provider. aws-lc-rs (rustls' default) needs cmake
//! to build, which tether's machines do not have, so reqwest is built with `rustls-no-provider`
//! and this installs ring as the process-wide provider before the first client is built.

use std::sync::Once;

/// Install ring as rustls' default provider, once per process. Another part of the program may
/// have installed a provider already; that one is kept (installing twice is an error we ignore).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
