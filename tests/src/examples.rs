//! The example plugins of `examples/`, built as their README says, for the tests that load a
//! third party's plugin.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::paths::{repo_root, wasm_target_dir};

/// The components built from `examples/`.
#[derive(Debug)]
pub struct Examples {
    /// `examples/hello`: `/hello`, a local command.
    pub hello: PathBuf,
    /// `examples/explain`: `/explain`, a prompt command.
    pub explain: PathBuf,
}

/// Builds `examples/hello` and `examples/explain` as their README says (once per test process),
/// and returns the components.
pub fn examples() -> &'static Examples {
    static EXAMPLES: OnceLock<Examples> = OnceLock::new();
    EXAMPLES.get_or_init(|| Examples {
        hello: build_example("hello"),
        explain: build_example("explain"),
    })
}

/// `cargo build --release --target wasm32-wasip2` in `examples/<name>`, with none of the outer
/// cargo's settings (they are for the host target), as `host/wasm-build` does for the plugins.
pub fn build_example(name: &str) -> PathBuf {
    let dir = repo_root().join("examples").join(name);
    let target_dir = wasm_target_dir();
    let output = tether_wasm_build::wasm_build_command(&dir, &target_dir)
        .output()
        .expect("running cargo to build an example");
    assert!(
        output.status.success(),
        "building {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = tether_wasm_build::wasm_artifact(&target_dir, name);
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    wasm
}
