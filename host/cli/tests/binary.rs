//! The binary starts and describes itself. (Having an integration test here also makes
//! `cargo test --workspace` build `target/debug/tether`, which the end-to-end tests in `tests/` run.)

use std::process::Command;

fn tether() -> Command {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tether"));
    cmd.env("XDG_CONFIG_HOME", dir.join("c"))
        .env("XDG_DATA_HOME", dir.join("d"))
        .env("XDG_CACHE_HOME", dir.join("k"));
    cmd
}

#[test]
fn version_names_the_package_version() {
    let out = tether().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("tether {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_surface() {
    let out = tether().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["--print", "commands", "plugin", "--engine"] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[test]
fn unknown_flag_is_a_clear_error() {
    let out = tether().arg("--no-such-flag").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}
