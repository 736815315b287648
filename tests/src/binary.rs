//! The `tether` executable under test, and how it is found without building it twice.
//!
//! Cargo builds a binary for the integration tests of its own package only, and `tether` lives
//! in `host/cli`, so these tests cannot use `CARGO_BIN_EXE_tether`. Running `cargo build -p
//! tether` from the test is not free either: cargo resolves features per command, and a build
//! of `tether` alone enables fewer features on shared dependencies (`syn`'s `fold` and `visit`,
//! `libc`'s `extra_traits`, …) than a test run of more packages, whose dev-dependencies add
//! theirs. Every crate above such a dependency then has two builds, and on a fresh machine the
//! second one costs minutes (a `cargo test --workspace` run paid 514 s for it).
//!
//! So the binary is taken from the test run itself when it built one: the tests ask cargo to
//! repeat the command that runs them with `--no-run` — the same packages, features and
//! profile, hence nothing to do — and use the `tether` it reports. `cargo test --workspace`
//! (and any run that includes the `tether` package with its integration tests) builds it.
//! Only a run that did not, such as `cargo test -p tether-e2e`, falls back to `cargo build -p
//! tether`. `TETHER_E2E_BIN` names another binary (an installed one, say) instead.
//!
//! Either way cargo runs without the variables it set for this package's tests ([`cargo`]):
//! they would make it rebuild the crates whose build scripts watch them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::paths::repo_root;

/// The `tether` executable (see the module documentation), found or built on first use, once
/// per test process.
pub fn tether_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("TETHER_E2E_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => built_by_this_run().unwrap_or_else(build_tether),
    })
}

/// A cargo command with the environment the test run's cargo had: without the variables it
/// sets for this package's tests (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …). Build scripts
/// watch some of them (`ring`'s does, with `rerun-if-env-changed`), so a cargo that saw
/// tether-e2e's values would rebuild them and everything above them, twice: once here and
/// once more in the next test run.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_the_package) {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Whether cargo sets `name` for one package's build or tests, rather than reads it from the
/// user's environment.
fn set_by_cargo_for_the_package(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_BIN_EXE_",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The `tether` that the `cargo test` running this process built, if it built one.
fn built_by_this_run() -> Option<PathBuf> {
    let (argv, cwd) = parent_command()?;
    let args = rerun_without_running(&argv)?;
    let started = std::time::Instant::now();
    let output = cargo()
        .current_dir(cwd)
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let bin = tether_artifact(&String::from_utf8_lossy(&output.stdout))?;
    eprintln!(
        "tether-e2e: testing {}, built by this test run (cargo confirmed it in {:.1?})",
        bin.display(),
        started.elapsed()
    );
    Some(bin)
}

/// The command line and working directory of the process that started this one: cargo, when
/// `cargo test` runs the tests. Only Linux shows them (`/proc`); elsewhere the binary is built.
fn parent_command() -> Option<(Vec<String>, PathBuf)> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let proc = Path::new("/proc").join(std::os::unix::process::parent_id().to_string());
    let cmdline = std::fs::read(proc.join("cmdline")).ok()?;
    let argv = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some((argv, std::fs::read_link(proc.join("cwd")).ok()?))
}

/// The arguments that make cargo repeat `argv`, a `cargo test …` command line, without running
/// anything and reporting its artifacts as JSON. `None` for any other command: a test run of
/// another kind (`cargo nextest`, a shell) is not repeated.
fn rerun_without_running(argv: &[String]) -> Option<Vec<String>> {
    let program = Path::new(argv.first()?).file_stem()?;
    if program != "cargo" {
        return None;
    }
    let mut rest = argv[1..].iter().skip_while(|a| a.starts_with('+'));
    if rest.next()? != "test" {
        return None;
    }
    let mut args = vec!["test".to_string(), "--no-run".to_string()];
    let mut skip_value = false;
    for arg in rest.take_while(|a| *a != "--") {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.as_str() {
            "--no-run" => {}
            "--message-format" => skip_value = true,
            a if a.starts_with("--message-format=") => {}
            _ => args.push(arg.clone()),
        }
    }
    args.push("--message-format=json-render-diagnostics".into());
    Some(args)
}

/// The executable of the `tether` binary in cargo's JSON messages: the real one, not the build
/// of its unit tests that `cargo test` also reports.
fn tether_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "tether"
                && m["target"]["kind"][0] == "bin"
                && m["profile"]["test"] == false
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// `cargo build -p tether` with the profile these tests were built with; returns the executable
/// cargo reports.
fn build_tether() -> PathBuf {
    let mut cmd = cargo();
    cmd.current_dir(repo_root()).args([
        "build",
        "-p",
        "tether",
        "--bin",
        "tether",
        "--message-format=json-render-diagnostics",
    ]);
    // The test executable is `<target>/<profile>/deps/<name>`.
    let profile = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let dir = exe.parent()?.parent()?;
            Some(dir.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "debug".into());
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .expect("running cargo to build tether");
    assert!(
        output.status.success(),
        "`cargo build -p tether` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    tether_artifact(&stdout)
        .unwrap_or_else(|| panic!("cargo built tether but named no executable:\n{stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn a_test_run_is_repeated_without_running() {
        assert_eq!(
            rerun_without_running(&args(
                "/root/.cargo/bin/cargo +1.95 test --workspace --message-format short -q foo -- --nocapture"
            )),
            Some(args(
                "test --no-run --workspace -q foo --message-format=json-render-diagnostics"
            ))
        );
        assert_eq!(
            rerun_without_running(&args(
                "cargo test -p tether-e2e --no-run --message-format=json --release"
            )),
            Some(args(
                "test --no-run -p tether-e2e --release --message-format=json-render-diagnostics"
            ))
        );
        assert_eq!(rerun_without_running(&args("cargo build -p tether")), None);
        assert_eq!(
            rerun_without_running(&args("cargo-nextest nextest run --workspace")),
            None
        );
        assert_eq!(rerun_without_running(&args("bash")), None);
    }

    #[test]
    fn the_packages_own_variables_are_told_from_the_users() {
        for ours in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "OUT_DIR",
        ] {
            assert!(set_by_cargo_for_the_package(ours), "{ours}");
        }
        for theirs in [
            "CARGO_TARGET_DIR",
            "CARGO_HOME",
            "CARGO",
            "CARGO_PROFILE_DEV_DEBUG",
            "PATH",
        ] {
            assert!(!set_by_cargo_for_the_package(theirs), "{theirs}");
        }
    }

    #[test]
    fn the_real_binary_is_told_from_its_test_build() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"name":"tether","kind":["bin"]},"profile":{"test":true},"executable":"/t/debug/deps/tether-1a"}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"tether-e2e","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            "not json",
            r#"{"reason":"compiler-artifact","target":{"name":"tether","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/tether"}"#,
        ]
        .join("\n");
        assert_eq!(
            tether_artifact(&messages),
            Some(PathBuf::from("/t/debug/tether"))
        );
        let test_build_only = messages.lines().next().unwrap();
        assert_eq!(tether_artifact(test_build_only), None);
    }
}
