use std::time::Duration;

use tether_protocol::{Capabilities, Capability, CommandSource, Safety};

use super::*;
use crate::Limits;

const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn policy(texts: &[&str]) -> Policy {
    Policy::new(
        texts
            .iter()
            .map(|t| PolicyFile::parse(t).unwrap())
            .collect(),
    )
}

fn id(name: &str, source: CommandSource, sha256: &str) -> Identity<'static> {
    Identity {
        name: Box::leak(name.to_string().into_boxed_str()),
        source,
        sha256: Box::leak(sha256.to_string().into_boxed_str()),
    }
}

#[test]
fn no_policy_admits_everything_everywhere() {
    let p = Policy::default();
    for source in [CommandSource::Stock, CommandSource::User] {
        for mode in [Mode::Local, Mode::Remote] {
            assert_eq!(p.admit(id("x", source, SHA), mode), Ok(()));
        }
    }
    assert_eq!(p.capabilities("x"), Capabilities::all());
    assert_eq!(p.limits("x", Limits::default()), Limits::default());
}

/// Every rule × stock and user plugins × local and remote.
#[test]
fn the_admission_matrix() {
    use CommandSource::{Stock, User};
    use Mode::{Local, Remote};
    let allow = r#"[remote]
allow = ["session", "mine"]"#;
    let deny = r#"[remote]
deny = ["session", "mine"]"#;
    let pin = format!("[plugins.session]\nsha256 = \"{SHA}\"\n[plugins.mine]\nsha256 = \"{SHA}\"");
    let users_local = r#"user_plugins = "local-only""#;
    let users_denied = r#"user_plugins = "deny""#;
    let ok = Ok(());
    let upper = SHA.to_uppercase();
    type Case<'a> = (
        &'a str,
        &'a str,
        CommandSource,
        &'a str,
        Mode,
        Result<(), Refusal>,
    );
    let cases: Vec<Case> = vec![
        (allow, "session", Stock, SHA, Local, ok.clone()),
        (allow, "session", Stock, SHA, Remote, ok.clone()),
        (allow, "stickers", Stock, SHA, Local, ok.clone()),
        (
            allow,
            "stickers",
            Stock,
            SHA,
            Remote,
            Err(Refusal::NotAllowedInRemote),
        ),
        (allow, "mine", User, SHA, Remote, ok.clone()),
        (
            allow,
            "theirs",
            User,
            SHA,
            Remote,
            Err(Refusal::NotAllowedInRemote),
        ),
        (deny, "session", Stock, SHA, Local, ok.clone()),
        (
            deny,
            "session",
            Stock,
            SHA,
            Remote,
            Err(Refusal::DeniedInRemote),
        ),
        (
            deny,
            "mine",
            User,
            SHA,
            Remote,
            Err(Refusal::DeniedInRemote),
        ),
        (deny, "help", Stock, SHA, Remote, ok.clone()),
        (&pin, "session", Stock, SHA, Local, ok.clone()),
        (&pin, "session", Stock, SHA, Remote, ok.clone()),
        (&pin, "mine", User, &upper, Local, ok.clone()),
        (
            &pin,
            "mine",
            User,
            OTHER,
            Local,
            Err(Refusal::PinMismatch {
                expected: SHA.into(),
                actual: OTHER.into(),
            }),
        ),
        (
            &pin,
            "session",
            Stock,
            OTHER,
            Remote,
            Err(Refusal::PinMismatch {
                expected: SHA.into(),
                actual: OTHER.into(),
            }),
        ),
        (&pin, "help", Stock, OTHER, Remote, ok.clone()),
        (users_local, "mine", User, SHA, Local, ok.clone()),
        (
            users_local,
            "mine",
            User,
            SHA,
            Remote,
            Err(Refusal::UserPluginsLocalOnly),
        ),
        (users_local, "session", Stock, SHA, Remote, ok.clone()),
        (
            users_denied,
            "mine",
            User,
            SHA,
            Local,
            Err(Refusal::UserPluginsDenied),
        ),
        (
            users_denied,
            "mine",
            User,
            SHA,
            Remote,
            Err(Refusal::UserPluginsDenied),
        ),
        (users_denied, "session", Stock, SHA, Local, ok.clone()),
    ];
    for (text, name, source, sha, mode, expected) in cases {
        let got = policy(&[text]).admit(id(name, source, sha), mode);
        assert_eq!(got, expected, "{text}\n{name} {source:?} {mode:?}");
        if let Err(refusal) = got {
            assert!(!refusal.reason().is_empty());
        }
    }
}

#[test]
fn a_pin_mismatch_names_both_hashes() {
    let r = Refusal::PinMismatch {
        expected: SHA.into(),
        actual: OTHER.into(),
    };
    assert!(r.reason().contains(SHA) && r.reason().contains(OTHER));
}

#[test]
fn capabilities_are_granted_and_denied_per_plugin() {
    let p = policy(&[r#"[plugins.cost]
capabilities = ["usage", "session"]
deny_capabilities = ["session"]
[plugins.files]
deny_capabilities = ["files"]"#]);
    assert_eq!(
        p.capabilities("cost"),
        [Capability::Usage].into_iter().collect()
    );
    assert!(!p.capabilities("files").contains(Capability::Files));
    assert!(p.capabilities("files").contains(Capability::Session));
    assert_eq!(p.capabilities("help"), Capabilities::all());
}

#[test]
fn limits_only_go_down() {
    let p = policy(&[r#"[limits]
memory_mib = 16
timeout_ms = 5000
[plugins.slow]
timeout_ms = 100
output_kib = 1024"#]);
    let base = Limits::default();
    let help = p.limits("help", base);
    assert_eq!(help.memory_bytes, 16 << 20);
    assert_eq!(
        help.call_timeout, base.call_timeout,
        "5 s is above the 2 s default: unchanged"
    );
    let slow = p.limits("slow", base);
    assert_eq!(slow.call_timeout, Duration::from_millis(100));
    assert_eq!(
        slow.output_bytes, base.output_bytes,
        "1 MiB is above the default: unchanged"
    );
    let huge = policy(&["[limits]\nmemory_mib = 18446744073709551615"]);
    assert_eq!(huge.limits("x", base), base);
}

#[test]
fn terminal_only_narrows_bridge_safety_and_nothing_widens_it() {
    let p = policy(&["[plugins.compact]\nterminal_only = true"]);
    for declared in Safety::ALL {
        let s = p.safety("compact", declared);
        assert!(!s.bridge_safe);
        assert_eq!(s.remote_safe, declared.remote_safe);
        assert_eq!(p.safety("help", declared), declared);
    }
    let off = policy(&["[plugins.compact]\nterminal_only = false"]);
    assert_eq!(off.safety("compact", Safety::ALL[0]), Safety::ALL[0]);
}

/// A second policy (TETHER_POLICY) can only narrow the first.
#[test]
fn policies_combine_by_agreement() {
    let system = "[remote]\nallow = [\"session\", \"help\"]";
    let widening =
        "user_plugins = \"allow\"\n[remote]\nallow = [\"session\", \"help\", \"stickers\"]";
    let p = policy(&[system, widening]);
    assert_eq!(
        p.admit(id("stickers", CommandSource::Stock, SHA), Mode::Remote),
        Err(Refusal::NotAllowedInRemote)
    );
    let narrowing = "[remote]\ndeny = [\"help\"]";
    let p = policy(&[system, narrowing]);
    assert_eq!(
        p.admit(id("help", CommandSource::Stock, SHA), Mode::Remote),
        Err(Refusal::DeniedInRemote)
    );
    assert_eq!(
        p.admit(id("session", CommandSource::Stock, SHA), Mode::Remote),
        Ok(())
    );
}

#[test]
fn hostile_files_are_errors_with_the_line() {
    for (text, line, needle) in [
        ("[remote]\nalow = [\"x\"]", Some(2), "unknown field"),
        ("typo = 1", Some(1), "unknown field"),
        ("[remote]\nallow = \"session\"", Some(2), "sequence"),
        (
            "[remote]\nallow = [\"/session\"]",
            Some(2),
            "not a command name",
        ),
        ("[remote]\ndeny = [\"\"]", Some(2), "not a command name"),
        (
            "[plugins.Session]\nsha256 = \"x\"",
            Some(1),
            "not a command name",
        ),
        ("[plugins.x]\nsha256 = \"abc\"", Some(2), "64 hexadecimal"),
        (
            "[plugins.x]\ncapabilities = [\"network\"]",
            Some(2),
            "unknown variant",
        ),
        ("[plugins.x]\ntimeout_ms = 0", Some(2), "at least 1"),
        ("[limits]\nmemory_mib = -1", Some(2), "invalid value"),
        ("user_plugins = \"sometimes\"", Some(1), "unknown variant"),
        (
            "[mentions]\nread_files = \"local_only\"",
            Some(2),
            "unknown variant",
        ),
        ("[mentions]\nread_files = false", Some(2), "string"),
        ("[mentions]\nread_file = \"deny\"", Some(2), "unknown field"),
        ("mentions = \"deny\"", Some(1), "invalid type"),
        (
            "[[app_links]]\nlabel = \"x\"\nurl = \"javascript:alert(1)\"",
            Some(3),
            "http(s)",
        ),
        ("[remote\nallow = []", Some(1), ""),
        ("\u{0}", Some(1), ""),
    ] {
        let e = PolicyFile::parse(text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.to_string().contains(needle), "{text:?}: {e}");
    }
}

#[test]
fn missing_files_are_no_policy_and_broken_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.toml");
    assert_eq!(
        load(std::slice::from_ref(&missing)).unwrap(),
        Policy::default()
    );
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[remote]\nallow = [").unwrap();
    let e = load(&[missing, broken.clone()]).unwrap_err();
    assert_eq!(e.path, broken);
    assert!(e.to_string().contains("is not valid: line"), "{e}");
    let e = load(&[dir.path().to_path_buf()]).unwrap_err();
    assert!(e.problem.contains("cannot be read"), "{e}");
}

#[test]
fn the_system_path_always_applies() {
    assert_eq!(paths(None), vec![PathBuf::from(SYSTEM_PATH)]);
    assert_eq!(
        paths(Some("/tmp/p.toml".into())),
        vec![PathBuf::from(SYSTEM_PATH), PathBuf::from("/tmp/p.toml")]
    );
    assert_eq!(paths(Some(SYSTEM_PATH.into())).len(), 1);
    assert_eq!(paths(Some("".into())).len(), 1);
}

#[test]
fn a_command_is_allowed_by_its_name_and_denied_by_any_alias() {
    let aliases = vec!["quit".to_string()];
    let allow = policy(&["[remote]\nallow = [\"exit\"]"]);
    assert_eq!(
        allow.admit_declared("exit", &aliases, CommandSource::Stock, SHA, Mode::Remote),
        Ok(())
    );
    let deny = policy(&["[remote]\ndeny = [\"quit\"]"]);
    assert_eq!(
        deny.admit_declared("exit", &aliases, CommandSource::Stock, SHA, Mode::Remote),
        Err(Refusal::DeniedInRemote)
    );
    assert_eq!(
        deny.admit_declared("exit", &aliases, CommandSource::Stock, SHA, Mode::Local),
        Ok(())
    );
}

#[test]
fn mentions_read_files_unless_the_policy_says_otherwise() {
    use file::ReadFiles;
    assert_eq!(Policy::default().read_files(), ReadFiles::Allow);
    for (text, rule, local, remote) in [
        ("", ReadFiles::Allow, true, true),
        ("[mentions]", ReadFiles::Allow, true, true),
        (
            "[mentions]\nread_files = \"allow\"",
            ReadFiles::Allow,
            true,
            true,
        ),
        (
            "[mentions]\nread_files = \"local-only\"",
            ReadFiles::LocalOnly,
            true,
            false,
        ),
        (
            "[mentions]\nread_files = \"deny\"",
            ReadFiles::Deny,
            false,
            false,
        ),
    ] {
        let p = policy(&[text]);
        assert_eq!(p.read_files(), rule, "{text}");
        assert_eq!(p.mentions_read_files(Mode::Local).is_ok(), local, "{text}");
        assert_eq!(
            p.mentions_read_files(Mode::Remote).is_ok(),
            remote,
            "{text}"
        );
    }
    let why = policy(&["[mentions]\nread_files = \"local-only\""])
        .mentions_read_files(Mode::Remote)
        .unwrap_err();
    assert!(
        why.contains("administrator's policy does not allow @ file mentions in remote sessions")
            && why.contains("read_files = \"local-only\""),
        "{why}"
    );
    let why = policy(&["[mentions]\nread_files = \"deny\""])
        .mentions_read_files(Mode::Local)
        .unwrap_err();
    assert!(
        why.contains("does not allow @ file mentions (") && why.contains("\"deny\""),
        "{why}"
    );
}

/// The strictest policy wins, in whichever order they come, and `allow` undoes nothing.
#[test]
fn the_strictest_mentions_rule_wins() {
    use file::ReadFiles;
    let allow = "[mentions]\nread_files = \"allow\"";
    let local = "[mentions]\nread_files = \"local-only\"";
    let deny = "[mentions]\nread_files = \"deny\"";
    for (texts, rule) in [
        (vec![local, allow], ReadFiles::LocalOnly),
        (vec![allow, local], ReadFiles::LocalOnly),
        (vec![deny, allow], ReadFiles::Deny),
        (vec![local, deny], ReadFiles::Deny),
        (vec![deny, local, allow], ReadFiles::Deny),
        (vec!["", local], ReadFiles::LocalOnly),
        (vec![allow, allow], ReadFiles::Allow),
    ] {
        assert_eq!(policy(&texts).read_files(), rule, "{texts:?}");
    }
    assert!(
        policy(&[local, allow])
            .mentions_read_files(Mode::Remote)
            .is_err()
    );
}
