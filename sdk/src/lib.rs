//! Write slash commands for [tether](https://github.com/tether-rs/tether) as sandboxed
//! WebAssembly components.
//!
//! A command is a type implementing [`Command`], exported with [`export!`]. It describes itself
//! with a [`Manifest`] (its name, what it does, where it may run, which host queries it needs) and
//! answers an [`Invocation`] with a list of [`Effect`]s that tether checks and applies. A command
//! cannot touch the filesystem, the network or the environment: what it needs to know it asks
//! through [`host`], and only for the [`Capability`]s its manifest declares.
//!
//! # A complete command
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "hello"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! tether-sdk = "0.1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use tether_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Command for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::local("hello", "Say hello")
//!             .argument_hint("<name>")
//!             .bridge_safe()
//!             .capability(Capability::Session)
//!     }
//!
//!     fn run(call: Invocation) -> Result<Vec<Effect>, String> {
//!         let name = if call.args.is_empty() { "world" } else { call.args.as_str() };
//!         let engine = host::session()?.engine;
//!         Ok(vec![Effect::print(format!("hello, {name} (answered without {engine})"))])
//!     }
//! }
//!
//! tether_sdk::export!(Hello);
//! ```
//!
//! Build and install it:
//!
//! ```text
//! cargo build --release --target wasm32-wasip2
//! tether plugin install target/wasm32-wasip2/release/hello.wasm
//! tether -p "/hello phone"
//! ```
//!
//! # Where a command may run
//!
//! - [`Manifest::remote_safe`]: the command is listed and runs in a session started with
//!   `tether --remote`. Only claim it if the command needs no local filesystem, IDE or shell.
//! - [`Manifest::bridge_safe`]: a `local` command may run when a remote client (a phone) sends it.
//! - `prompt` commands always run over the bridge; `interactive` commands never do.
//!
//! The administrator's policy may narrow these tags, never widen them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate self as tether_sdk;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.1.0",
        world: "command",
        pub_export_macro: true,
        export_macro_name: "__export_command",
        default_bindings_module: "tether_sdk::__private::bindings",
        runtime_path: "tether_sdk::__private::wit_bindgen::rt",
        bitflags_path: "tether_sdk::__private::wit_bindgen::rt::bitflags",
        additional_derives: [PartialEq, Clone],
    });
}

pub mod args;
mod effect;
pub mod host;
mod manifest;
pub mod markdown;
pub mod qr;

pub use bindings::tether::command::types::{
    Capability, Editable, Effect, Invocation, Kind, Manifest, Origin, Safety,
};

/// A slash command. Implement it on a unit struct and export it with [`export!`].
pub trait Command {
    /// Describes the command. tether calls it once per component version and caches the answer,
    /// so it must not depend on anything but the code.
    fn manifest() -> Manifest;

    /// Runs the command. An `Err` is shown to the user as an error line; nothing else happens.
    fn run(call: Invocation) -> Result<Vec<Effect>, String>;
}

/// Everything a command needs, in one import.
pub mod prelude {
    pub use crate::host;
    pub use crate::{
        Capability, Command, Editable, Effect, Invocation, Kind, Manifest, Origin, Safety, args,
        markdown, qr,
    };
}

/// Exports a [`Command`] as the component's `manifest` and `run`. Use it once per crate.
#[macro_export]
macro_rules! export {
    ($command:ty) => {
        const _: () = {
            struct __TetherExport;
            impl $crate::__private::Guest for __TetherExport {
                fn manifest() -> $crate::Manifest {
                    <$command as $crate::Command>::manifest()
                }
                fn run(
                    call: $crate::Invocation,
                ) -> ::core::result::Result<::std::vec::Vec<$crate::Effect>, ::std::string::String>
                {
                    <$command as $crate::Command>::run(call)
                }
            }
            $crate::__private::bindings::__export_command!(__TetherExport);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::Guest;
    pub use wit_bindgen;
}
