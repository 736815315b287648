//! Builds every crate in `plugins/` for wasm32-wasip2 and embeds the components, so that a plain
//! `cargo build` of tether needs no manual plugin step.
//!
//! The plugins are a workspace of their own, built by a nested cargo into `target/wasm`: they need
//! another target and profile, and sharing the outer build's directory would deadlock on its lock.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let plugins = root.join("plugins");
    for watched in ["plugins", "sdk", "wit", "CHANGELOG.md"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_relative() { root.join(d) } else { d })
        .unwrap_or_else(|| root.join("target"))
        .join("wasm");

    let crates = plugin_crates(&plugins);
    build(&plugins, &target_dir);

    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let mut code = String::from(
        "/// Every stock command, as built from `plugins/`.\npub static STOCK: &[StockPlugin] = &[\n",
    );
    for name in &crates {
        let file = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let bytes = fs::read(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let copy = out.join(format!("{name}.wasm"));
        fs::write(&copy, &bytes).unwrap();
        let sha = hex::encode(Sha256::digest(&bytes));
        writeln!(
            code,
            "    StockPlugin {{ crate_name: {name:?}, bytes: include_bytes!({copy:?}), sha256: {sha:?} }},",
        )
        .unwrap();
    }
    code.push_str("];\n");
    fs::write(out.join("stock.rs"), code).unwrap();
}

/// The member crates: every directory of `plugins/` with a Cargo.toml, sorted for a stable order.
fn plugin_crates(plugins: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(plugins)
        .expect("reading plugins/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn build(plugins: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    // The outer build's settings are for the host target; none of them applies here. The
    // jobserver (CARGO_MAKEFLAGS) is kept so that both builds share the machine's cores.
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
    let output = cmd
        .output()
        .expect("running cargo to build the stock plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint =
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                "\n\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`.\n"
            } else {
                ""
            };
        panic!("building the stock plugins (plugins/) failed:\n{stderr}{hint}");
    }
}
