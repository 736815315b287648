//! Helpers for tether's end-to-end tests: they start the real `tether` binary as a process, either
//! with plain pipes ([`Tether::run`]) or on a pseudo-terminal ([`Tether::spawn_pty`]), each test in
//! directories of its own.
//!
//! The crate is cut by job, each module private with its items re-exported here, so that a test
//! names `tether_e2e::Tether` or `tether_e2e::Pty` whichever file they live in:
//!
//! - `binary`: the `tether` executable under test, taken from the build that the test run
//!   itself made ([`tether_bin`]), so that no second build with other features happens;
//! - `paths`: the repository and its target directory ([`repo_root`], [`artifacts_dir`]);
//! - `installation` and `warm_cache`: one isolated installation per test ([`Tether`]) with its
//!   own `HOME`, XDG directories and working directory, a cleared environment (only `PATH` is
//!   kept; `BROWSER`, `EDITOR` and `VISUAL` are `true`, so no test opens a real one), and a
//!   plugin cache compiled once per test process and copied ([`Tether::new`]) unless the test
//!   is about first starts ([`Tether::cold`]);
//! - `run`: a process run to completion with a deadline ([`Output`]);
//! - `pty`, `ansi` and `bytes`: a pseudo-terminal with a terminal emulator in front ([`Pty`]),
//!   and output as text;
//! - `examples`: the plugins of `examples/`, built as their README says ([`examples`]).
//!
//! Public modules: [`process`] runs long-lived tether processes (`tether --remote`, `tether
//! relay serve`, a hosted relay with a logged-in CLI) and waits on them, [`http`] speaks plain
//! HTTP to a relay, [`sse`] reads its event streams, [`seal`] seals and opens their payloads as a
//! phone does, [`hostile`] holds text that tries to steer
//! a terminal, and [`browser`] drives a headless Chromium through chromedriver for the web
//! client's tests (`tests/tests/browser.rs`) and bench (`tests/benches/web.rs`). The fake model
//! provider is `tether_engines::test_support`, shared with the engines' own tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod browser;
pub mod hostile;
pub mod http;
pub mod process;
pub mod seal;
pub mod sse;

mod ansi;
mod binary;
mod bytes;
mod examples;
mod installation;
mod paths;
mod pty;
mod run;
mod warm_cache;

pub use ansi::strip_ansi;
pub use binary::tether_bin;
pub use bytes::{escaped, find};
pub use examples::{Examples, build_example, examples};
pub use installation::Tether;
pub use paths::{artifacts_dir, repo_root, target_dir, wasm_target_dir};
pub use pty::{PTY_COLS, PTY_ROWS, PTY_TIMEOUT, Pty, Requests, cursor_row};
pub use run::{Output, RUN_TIMEOUT, run_with_timeout, run_with_timeout_and_input};
