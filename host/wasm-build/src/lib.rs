//! Used by build scripts (`host/stock`, `tests/fixtures`) to compile a workspace of plugin crates
//! for wasm32-wasip2 and embed the components, so that a plain `cargo build` needs no manual step.
//!
//! Each workspace is built by a nested cargo into `<target>/wasm`: the plugins need another target
//! and profile, and sharing the outer build's directory would deadlock on its lock.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// A component embedded in a binary by [`embed_workspace`]'s generated code.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The crate it was built from (the command's own name is in its manifest).
    pub crate_name: &'static str,
    /// The component.
    pub bytes: &'static [u8],
    /// Computed at build time, so that a warm start does not hash the bytes again.
    pub sha256: &'static str,
}

/// The repository root, from a build script of a crate `depth` folders below it.
pub fn repo_root(depth: usize) -> PathBuf {
    let mut dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("run from a build script"));
    for _ in 0..depth {
        dir.pop();
    }
    dir
}

/// Builds every member crate of the workspace at `workspace` and writes `<OUT_DIR>/<out_file>`
/// with `pub static <static_name>: &[tether_wasm_build::Embedded]`, to be `include!`d.
pub fn embed_workspace(root: &Path, workspace: &Path, out_file: &str, static_name: &str) {
    println!("cargo:rerun-if-changed={}", workspace.display());
    for watched in ["sdk", "wit", "CHANGELOG.md"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm");
    let crates = member_crates(workspace);
    build(workspace, &target_dir);

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("run from a build script"));
    let mut code = format!(
        "/// Every component built from `{}/`, in folder order.\npub static {static_name}: &[tether_wasm_build::Embedded] = &[\n",
        workspace.file_name().unwrap_or_default().to_string_lossy()
    );
    for name in &crates {
        let file = wasm_artifact(&target_dir, name);
        let bytes = fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        // A copy in OUT_DIR: a later build of another workspace may overwrite the shared target.
        let copy = out.join(format!("{name}.wasm"));
        fs::write(&copy, &bytes).expect("writing to OUT_DIR");
        let sha = hex::encode(Sha256::digest(&bytes));
        writeln!(
            code,
            "    tether_wasm_build::Embedded {{ crate_name: {name:?}, bytes: include_bytes!({copy:?}), sha256: {sha:?} }},",
        )
        .expect("writing to a string");
    }
    code.push_str("];\n");
    fs::write(out.join(out_file), code).expect("writing to OUT_DIR");
}

/// Every directory of `workspace` with a Cargo.toml, sorted for a stable order.
fn member_crates(workspace: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(workspace)
        .unwrap_or_else(|e| panic!("reading {}: {e}", workspace.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `cargo build --release --target wasm32-wasip2` in `dir` (a workspace or a standalone crate),
/// into `target_dir`, with the outer cargo's environment removed: its settings are for the host
/// target and none applies here. The jobserver (CARGO_MAKEFLAGS) is kept so that nested builds
/// share the machine's cores with the outer one.
pub fn wasm_build_command(dir: &Path, target_dir: &Path) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir)
        .stdin(std::process::Stdio::null());
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let outer = (key.starts_with("CARGO_") && key != "CARGO_MAKEFLAGS" && key != "CARGO_HOME")
            || matches!(
                key.as_ref(),
                "RUSTFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "OUT_DIR"
                    | "TARGET"
                    | "HOST"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
                    | "RUSTDOC"
            );
        if outer {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

/// Where [`wasm_build_command`] puts the component of crate `name`.
pub fn wasm_artifact(target_dir: &Path, name: &str) -> PathBuf {
    target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

fn build(workspace: &Path, target_dir: &Path) {
    let output = wasm_build_command(workspace, target_dir)
        .output()
        .expect("running cargo to build plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("may not be installed") {
            "\n\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`.\n"
        } else {
            ""
        };
        panic!(
            "building the plugins in {} failed:\n{stderr}{hint}",
            workspace.display()
        );
    }
}
