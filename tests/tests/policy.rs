//! The administrator's policy end to end: the real binary under a policy file named by
//! `TETHER_POLICY` (the system file, /etc/tether/policy.toml, is read as well and can only be
//! narrowed further; these tests leave it alone).

use std::path::Path;

use serde_json::Value;
use tether_e2e::process::Remote;
use tether_e2e::{Tether, examples};

/// `t` with a policy file holding `text`.
fn with_policy(t: Tether, text: &str) -> Tether {
    let path = t.home().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    t.env("TETHER_POLICY", path)
}

fn names(out: &tether_e2e::Output) -> Vec<String> {
    let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    list.iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_plugin_denied_in_remote_mode_is_absent_and_invoking_it_says_why() {
    let t = with_policy(
        Tether::new(),
        "[remote]\ndeny = [\"stickers\", \"cost\"]\n[plugins.compact]\nterminal_only = true\n",
    );
    // Local sessions are untouched.
    assert!(names(&t.run(["commands", "--json"])).contains(&"stickers".to_owned()));
    let remote = names(&t.run(["commands", "--remote", "--json"]));
    assert!(!remote.contains(&"stickers".to_owned()), "{remote:?}");
    assert!(remote.contains(&"help".to_owned()));
    // What system_init carries: the bridge's list.
    let bridge = names(&t.run(["commands", "--remote", "--origin", "bridge", "--json"]));
    assert!(!bridge.contains(&"cost".to_owned()), "{bridge:?}");
    assert!(
        !bridge.contains(&"compact".to_owned()),
        "terminal_only: {bridge:?}"
    );
    assert!(bridge.contains(&"summary".to_owned()), "{bridge:?}");

    let mut remote = Remote::start(&t, &["--listen", "127.0.0.1:0"]);
    remote.proc.line("/stickers");
    remote.proc.expect_stdout(
        "/stickers is disabled by the administrator: denied in remote mode by the policy ([remote] deny).",
    );
}

#[test]
fn a_pinned_plugin_swapped_on_disk_is_refused_naming_both_hashes() {
    let t = Tether::new();
    t.run([Path::new("plugin"), Path::new("install"), &examples().hello])
        .assert_success();
    let list: Vec<Value> =
        serde_json::from_str(&t.run(["plugin", "list", "--json"]).stdout).unwrap();
    let sha = list.iter().find(|p| p["name"] == "hello").unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = with_policy(t, &format!("[plugins.hello]\nsha256 = \"{sha}\"\n"));
    let ok = t.print("/hello you");
    ok.assert_success();
    assert!(ok.stdout.contains("Hello, you!"), "{ok}");

    // Another component copied over the pinned one.
    std::fs::copy(&examples().explain, t.plugins_dir().join("hello.wasm")).unwrap();
    let swapped = t.print("/hello you");
    let actual = tether_plugins_sha(&examples().explain);
    assert!(
        swapped.stderr.contains(&sha) && swapped.stderr.contains(&actual),
        "{swapped}"
    );
    assert!(
        swapped
            .stdout
            .contains("/hello is disabled by the administrator"),
        "{swapped}"
    );
    let check: Value = serde_json::from_str(&t.run(["policy", "check", "--json"]).stdout).unwrap();
    let hello = check["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "explain")
        .cloned()
        .unwrap();
    assert_eq!(hello["local"]["loads"], false, "{hello}");
}

fn tether_plugins_sha(path: &Path) -> String {
    use std::process::Command;
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_malformed_policy_stops_remote_mode_and_leaves_local_mode_with_stock_commands() {
    let t = Tether::new();
    t.run([Path::new("plugin"), Path::new("install"), &examples().hello])
        .assert_success();
    let t = with_policy(t, "user_plugins = \"allow\"\n[remote]\nalow = [\"help\"]\n");
    let remote = t.run(["--remote", "--listen", "127.0.0.1:0"]);
    assert!(!remote.success());
    assert!(
        remote.stderr.contains("line 3: unknown field `alow`")
            && remote.stderr.contains("Remote mode does not start"),
        "{remote}"
    );
    let local = t.print("/hello you");
    assert!(
        local.stderr.contains("only the stock commands are loaded"),
        "{local}"
    );
    assert!(!local.stdout.contains("Hello, you!"), "{local}");
    let check = t.run(["policy", "check"]);
    assert!(!check.success());
    assert!(check.stderr.contains("line 3"), "{check}");
}

#[test]
fn capabilities_and_user_plugins_are_narrowed() {
    let t = Tether::new();
    t.run([Path::new("plugin"), Path::new("install"), &examples().hello])
        .assert_success();
    let t = with_policy(
        t,
        "user_plugins = \"local-only\"\n[plugins.cost]\ndeny_capabilities = [\"usage\"]\n",
    );
    let cost = t.print("/cost");
    assert!(!cost.success());
    assert!(
        cost.stderr.contains("`usage` capability is not granted"),
        "{cost}"
    );
    assert!(t.print("/hello me").stdout.contains("Hello, me!"));
    let remote = names(&t.run(["commands", "--remote", "--json"]));
    assert!(!remote.contains(&"hello".to_owned()), "{remote:?}");
    let check: Value = serde_json::from_str(&t.run(["policy", "check", "--json"]).stdout).unwrap();
    let hello = check["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hello")
        .cloned()
        .unwrap();
    assert_eq!(hello["local"]["loads"], true);
    assert_eq!(hello["remote"]["loads"], false);
    assert!(
        hello["remote"]["why"]
            .as_str()
            .unwrap()
            .contains("local-only")
    );
}

#[test]
fn a_user_config_cannot_carry_policy_keys() {
    let t = Tether::new();
    std::fs::create_dir_all(t.config_dir()).unwrap();
    std::fs::write(
        t.config_dir().join("config.toml"),
        "[remote]\nallow = [\"plugin\"]\n",
    )
    .unwrap();
    let out = t.print("hi");
    assert!(!out.success());
    assert!(out.stderr.contains("unknown field `remote`"), "{out}");
}

#[test]
fn app_links_from_the_policy_appear_in_mobile() {
    let t = with_policy(
        Tether::new(),
        "[[app_links]]\nlabel = \"Acme app\"\nurl = \"https://acme.example/app\"\n",
    );
    let out = t.print("/mobile");
    assert!(
        out.stdout.contains("Acme app: https://acme.example/app"),
        "{out}"
    );
}

/// A policy its user can edit binds nobody: `policy check` says so. Run as an unprivileged
/// user (as root, through `setpriv`, since root administers the machine and is not reported).
#[test]
fn a_policy_file_writable_by_the_user_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tether::new();
    let dir = t.home().join("shared");
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, "[remote]\ndeny = [\"stickers\"]\n").unwrap();
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut cmd = if root {
        // Everything the unprivileged run needs must be reachable and writable by it.
        for d in [t.home(), dir.clone()] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o666)).unwrap();
        // The test's own temporary directory (private by default) must be traversable.
        if let Some(base) = t.home().parent() {
            std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(tether_e2e::tether_bin());
        c
    } else {
        std::process::Command::new(tether_e2e::tether_bin())
    };
    let scratch = dir.join("xdg");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::set_permissions(&scratch, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = cmd
        .args(["policy", "check", "--json"])
        .arg(&policy)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &scratch)
        .env("XDG_CONFIG_HOME", scratch.join("config"))
        .env("XDG_DATA_HOME", scratch.join("data"))
        .env("XDG_CACHE_HOME", scratch.join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["files"][0]["writable_by_you"], true, "{report}");
}

#[test]
fn a_lowered_limit_applies_to_that_plugin_only() {
    let t = with_policy(Tether::new(), "[plugins.help]\noutput_kib = 1\n");
    let help = t.print("/help");
    assert!(!help.success());
    assert!(help.stderr.contains("over its limit of 1 KiB"), "{help}");
    let cost = t.print("/cost");
    cost.assert_success();
}

/// The documented example is a valid policy, and does what its comments say.
#[test]
fn the_example_policy_is_valid_and_does_what_it_says() {
    let t = Tether::new();
    let example = tether_e2e::repo_root().join("examples/policy.toml");
    let out = t.run([
        Path::new("policy"),
        Path::new("check"),
        &example,
        Path::new("--json"),
    ]);
    out.assert_success();
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let plugin = |name: &str| {
        report["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    // Allowed by name, aliases and all.
    assert_eq!(plugin("exit")["remote"]["loads"], true);
    assert_eq!(plugin("clear")["bridge"]["loads"], true);
    assert_eq!(plugin("stickers")["remote"]["loads"], false);
    assert_eq!(plugin("compact")["bridge"]["loads"], false);
    assert_eq!(
        plugin("cost")["capabilities"],
        serde_json::json!(["session", "usage"])
    );
    assert_eq!(plugin("help")["limits"]["timeout_ms"], 1000);
    assert_eq!(report["unknown_names"], serde_json::json!(["hello"]));
    assert_eq!(report["mentions"]["read_files"], "local-only");
    assert_eq!(report["mentions"]["local"]["reads_files"], true);
    assert_eq!(report["mentions"]["remote"]["reads_files"], false);
}

#[test]
fn a_mention_the_policy_forbids_reads_nothing_and_says_why() {
    let t = Tether::new();
    std::fs::write(t.cwd().join("notes.txt"), "NOTES-CONTENT-17\n").unwrap();
    // `-p` is a local session: `local-only` lets its mentions read.
    let local_only = with_policy(t, "[mentions]\nread_files = \"local-only\"\n");
    let out = local_only.print("summarize @notes.txt");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out}");

    let t = with_policy(local_only, "[mentions]\nread_files = \"deny\"\n");
    let out = t.print("summarize @notes.txt");
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        [
            "tether: @notes.txt not read: the administrator's policy does not allow @ file mentions ([mentions] read_files = \"deny\")"
        ],
        "{out}"
    );
    assert!(
        out.stdout.contains("You said: summarize @notes.txt")
            && !out.stdout.contains("NOTES-CONTENT-17"),
        "the message goes on as plain text: {out}"
    );
    out.assert_failure();
    // Not even opened: a missing file is not reported as missing.
    let out = t.print("summarize @missing.txt");
    assert!(
        out.stderr.contains("does not allow @ file mentions")
            && !out.stderr.contains("no such file"),
        "{out}"
    );

    let check: Value = serde_json::from_str(&t.run(["policy", "check", "--json"]).stdout).unwrap();
    assert_eq!(check["mentions"]["read_files"], "deny", "{check}");
    assert_eq!(check["mentions"]["local"]["reads_files"], false, "{check}");
    let text = t.run(["policy", "check"]).stdout;
    assert!(
        text.contains("@ file mentions\n  local:  read nothing ("),
        "{text}"
    );

    // A policy that cannot be parsed may be the one that denied them: they fail closed.
    let t = with_policy(t, "[mentions]\nread_files = \"never\"\n");
    let out = t.print("summarize @notes.txt");
    assert!(
        out.stderr.contains("@ mentions read no files")
            && out.stderr.contains("@notes.txt not read"),
        "{out}"
    );
}
