//! The administrator's `[mentions] read_files` rule where mentions are resolved: a forbidden
//! `@path` reads nothing, stays in the message as typed, and the user is told why in one line.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tether_engines::echo::Echo;
use tether_plugins::policy::{Mode, Policy, PolicyFile};
use tether_plugins::{Runtime, RuntimeOptions};
use tether_protocol::Origin;
use tether_session::user_plugins::UserPlugins;
use tether_session::{
    Dirs, Flow, Output, Preferences, Registry, RemoteInfo, Session, SessionConfig,
};
use tokio_util::sync::CancellationToken;

/// One runtime per test binary, its component cache kept between runs, so that loading the
/// stock commands under each policy is quick.
fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("session-mentions-policy");
            Arc::new(
                Runtime::new(RuntimeOptions {
                    cache_dir: Some(base.join("components")),
                    key_file: Some(base.join("key")),
                })
                .unwrap(),
            )
        })
        .clone()
}

struct Harness {
    tmp: tempfile::TempDir,
    session: Session,
}

/// A session under a policy of `policy_text`, remote (`--remote`) when `mode` says so, with
/// `notes.txt` in its working directory.
fn harness(policy_text: &str, mode: Mode) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "NOTES-CONTENT-17").unwrap();
    let policy = Policy::new(vec![PolicyFile::parse(policy_text).unwrap()]);
    let runtime = runtime();
    let (registry, warnings) = Registry::load_with(
        &runtime,
        &UserPlugins::new(tmp.path().join("no-plugins")),
        policy,
        mode,
        &mut |_| {},
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    let config = SessionConfig {
        dirs: Dirs::under(
            &tmp.path().join("c"),
            &tmp.path().join("d"),
            &tmp.path().join("k"),
        ),
        cwd: tmp.path().to_path_buf(),
        version: "0.0.0-test".into(),
        limits: Default::default(),
        remote: (mode == Mode::Remote).then(|| RemoteInfo {
            session_id: "session_local_x".into(),
            url: "http://127.0.0.1:1/code/session_local_x".into(),
        }),
        app_links: Vec::new(),
    };
    let session = Session::new(
        config,
        runtime,
        registry,
        Arc::new(Echo::new(Duration::ZERO)),
        Preferences::default(),
    );
    Harness { tmp, session }
}

impl Harness {
    async fn send(&mut self, text: &str, origin: Origin) -> Vec<Output> {
        let mut out = Vec::new();
        let flow = self
            .session
            .submit(text, origin, &mut out, &CancellationToken::new())
            .await;
        assert_eq!(flow, Flow::Continue);
        out
    }

    fn errors(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Error(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    /// A forbidden mention: one line saying why, nothing read, the message sent as typed.
    async fn assert_refused(&mut self, text: &str, in_this_kind_of_session: &str) {
        let out = self.send(text, Origin::Terminal).await;
        let errors = Harness::errors(&out);
        let [line] = errors.as_slice() else {
            panic!("expected exactly one line, got {out:?}");
        };
        assert!(
            line.contains("@notes.txt")
                && line.contains(&format!(
                    "the administrator's policy does not allow @ file mentions{in_this_kind_of_session} ("
                ))
                && !line.contains('\n'),
            "{line:?}"
        );
        assert!(
            self.session.files().is_empty(),
            "{:?}",
            self.session.files()
        );
        assert!(
            out.iter().any(
                |o| matches!(o, Output::User { text: t, origin: Origin::Terminal } if t == text)
            ),
            "the message goes on as plain text: {out:?}"
        );
        let seen = format!("{out:?}{:?}", self.session.transcript().model_messages());
        assert!(!seen.contains("NOTES-CONTENT-17"), "{seen}");
    }

    async fn assert_read(&mut self, text: &str) {
        let out = self.send(text, Origin::Terminal).await;
        assert!(Harness::errors(&out).is_empty(), "{out:?}");
        let files = self.session.files();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].content, "NOTES-CONTENT-17");
    }
}

#[tokio::test]
async fn deny_reads_nothing_in_any_session_and_says_why() {
    for mode in [Mode::Local, Mode::Remote] {
        let mut h = harness("[mentions]\nread_files = \"deny\"", mode);
        h.assert_refused("summarise @notes.txt please", "").await;
        // Several mentions are still one line.
        std::fs::write(h.tmp.path().join("other.txt"), "x").unwrap();
        let out = h.send("@notes.txt and @other.txt", Origin::Terminal).await;
        assert_eq!(Harness::errors(&out).len(), 1, "{out:?}");
        assert!(h.session.files().is_empty());
        // A message without mentions says nothing about them.
        let out = h.send("hello", Origin::Terminal).await;
        assert!(Harness::errors(&out).is_empty(), "{out:?}");
    }
}

#[tokio::test]
async fn local_only_reads_in_a_local_session_but_not_a_remote_one() {
    let rule = "[mentions]\nread_files = \"local-only\"";
    harness(rule, Mode::Local)
        .assert_read("summarise @notes.txt")
        .await;
    harness(rule, Mode::Remote)
        .assert_refused("summarise @notes.txt", " in remote sessions")
        .await;
}

#[tokio::test]
async fn allowed_mentions_read_as_before() {
    for text in ["", "[mentions]\nread_files = \"allow\""] {
        for mode in [Mode::Local, Mode::Remote] {
            harness(text, mode)
                .assert_read("summarise @notes.txt")
                .await;
        }
    }
}

/// A phone's mentions read nothing whatever the policy says, and, as before, say nothing either:
/// the policy's line is for the local user.
#[tokio::test]
async fn a_remote_clients_mentions_stay_silent_under_a_denying_policy() {
    let mut h = harness("[mentions]\nread_files = \"deny\"", Mode::Remote);
    let out = h.send("summarise @notes.txt", Origin::Bridge).await;
    assert!(Harness::errors(&out).is_empty(), "{out:?}");
    assert!(h.session.files().is_empty());
}
