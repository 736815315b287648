//! Where the repository and its build outputs are, as the tests see them.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// The workspace's target directory: `CARGO_TARGET_DIR` (relative to the repository) or
/// `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| {
            if d.is_relative() {
                repo_root().join(d)
            } else {
                d
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Where the wasm32-wasip2 builds of this repository go: `<target>/wasm`, as the stock plugins'.
pub fn wasm_target_dir() -> PathBuf {
    target_dir().join("wasm")
}

/// Where tests leave files for people to look at (screenshots): `<target>/artifacts`.
pub fn artifacts_dir() -> PathBuf {
    target_dir().join("artifacts")
}
