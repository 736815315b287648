//! Hostile input through the whole session, as the terminal and the bridge submit it: each
//! misbehaving command is exactly one clear error line, no model turn is started on its behalf,
//! and the conversation carries on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tether_engines::echo::Echo;
use tether_plugins::{Limits, Runtime, RuntimeOptions};
use tether_protocol::{CommandSource, Origin};
use tether_session::transcript::Entry;
use tether_session::user_plugins::UserPlugins;
use tether_session::{Dirs, Flow, Output, Preferences, Registry, Session, SessionConfig};
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Setting a session up as the CLI does
// ---------------------------------------------------------------------------------------------

/// The loop test must not take the default two seconds.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

/// Writes `bytes` to `dir/name` and returns the path.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Directories whose component cache already holds every stock plugin and the fixtures, compiled
/// once per test binary (and kept between runs, as a user's cache is), so that each test starts
/// warm. Each test copies them into directories of its own.
fn warm_template() -> &'static Dirs {
    static TEMPLATE: OnceLock<Dirs> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("session-hostile-template");
        let dirs = Dirs::under(&base.join("c"), &base.join("d"), &base.join("k"));
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(dirs.components()),
            key_file: Some(dirs.cache_key()),
        })
        .unwrap();
        let (_, warnings) = Registry::load(
            &runtime,
            &UserPlugins::new(dirs.user_plugins()),
            &mut |_| {},
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        for name in ["hostile", "clash"] {
            let f = tether_fixtures::fixture(name);
            runtime
                .load(tether_plugins::PluginSource::user(name, f.bytes))
                .unwrap();
        }
        dirs
    })
}

struct Harness {
    tmp: tempfile::TempDir,
    dirs: Dirs,
    session: Session,
}

impl Harness {
    /// A session with the stock commands and `/hostile` installed as a user plugin.
    fn new() -> Harness {
        Harness::with_config(|_| {})
    }

    /// The same, with the session's configuration changed by `edit` first.
    fn with_config(edit: impl FnOnce(&mut SessionConfig)) -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs::under(
            &tmp.path().join("c"),
            &tmp.path().join("d"),
            &tmp.path().join("k"),
        );
        let template = warm_template();
        copy_dir(&template.components(), &dirs.components());
        std::fs::create_dir_all(&dirs.data).unwrap();
        std::fs::copy(template.cache_key(), dirs.cache_key()).unwrap();

        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(dirs.components()),
            key_file: Some(dirs.cache_key()),
        })
        .unwrap();
        let user = UserPlugins::new(dirs.user_plugins());
        let (mut registry, warnings) = Registry::load(&runtime, &user, &mut |_| {});
        assert!(warnings.is_empty(), "{warnings:?}");

        let file = write_file(
            tmp.path(),
            "hostile.wasm",
            tether_fixtures::fixture("hostile").bytes,
        );
        let installed = user
            .install(&runtime, &registry, &file)
            .expect("the hostile fixture installs");
        assert_eq!(installed.plugin.manifest.name, "hostile");
        assert!(installed.replaced.is_none());
        registry.insert(installed.plugin).unwrap();

        let mut config = SessionConfig {
            dirs: dirs.clone(),
            cwd: tmp.path().to_path_buf(),
            version: "0.0.0-test".into(),
            limits: Limits {
                call_timeout: CALL_TIMEOUT,
                ..Limits::default()
            },
            remote: None,
            app_links: Vec::new(),
        };
        edit(&mut config);
        let session = Session::new(
            config,
            Arc::new(runtime),
            registry,
            Arc::new(Echo::new(Duration::ZERO)),
            Preferences::default(),
        );
        Harness { tmp, dirs, session }
    }

    async fn submit_from(&mut self, input: &str, origin: Origin) -> Vec<Output> {
        let mut out: Vec<Output> = Vec::new();
        let flow = self
            .session
            .submit(input, origin, &mut out, &CancellationToken::new())
            .await;
        assert_eq!(flow, Flow::Continue, "{input}: the session goes on");
        out
    }

    async fn submit(&mut self, input: &str) -> Vec<Output> {
        self.submit_from(input, Origin::Terminal).await
    }

    /// Submits a command that must fail: exactly one error line, nothing else, and no trace in
    /// the conversation. Returns the message.
    async fn one_error(&mut self, input: &str, origin: Origin) -> String {
        let before = self.session.transcript().len();
        let out = self.submit_from(input, origin).await;
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::AssistantStart { .. } | Output::User { .. })),
            "{input}: no model turn: {out:?}"
        );
        let [Output::Error(message)] = out.as_slice() else {
            panic!("{input}: expected exactly one error, got {out:?}");
        };
        assert!(!message.contains('\n'), "one line: {message:?}");
        assert!(message.len() < 1024, "short: {message:?}");
        assert_eq!(
            self.session.transcript().len(),
            before,
            "{input}: the failed command left nothing in the conversation"
        );
        message.clone()
    }

    /// The conversation carries on: plain text still gets the engine's reply.
    async fn assert_conversation_goes_on(&mut self) {
        let out = self.submit("hello").await;
        assert!(
            matches!(out.first(), Some(Output::User { text, origin: Origin::Terminal }) if text == "hello"),
            "{out:?}"
        );
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::AssistantStart { .. })),
            "{out:?}"
        );
        let reply = assistant_reply(&out);
        assert!(reply.contains("You said: hello"), "{reply:?}");
        assert!(
            !out.iter().any(|o| matches!(o, Output::Error(_))),
            "{out:?}"
        );
        // And the plugin that misbehaved still works.
        let out = self.submit("/hostile ok").await;
        assert_eq!(
            out,
            vec![Output::Command {
                command: "hostile".into(),
                text: "still fine".into(),
                format: tether_session::Format::Text,
            }]
        );
    }
}

fn assistant_reply(out: &[Output]) -> String {
    out.iter()
        .find_map(|o| match o {
            Output::AssistantEnd {
                text, interrupted, ..
            } => {
                assert!(!interrupted);
                Some(text.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no assistant reply in {out:?}"))
}

/// `/hostile <behaviour>` from `origin` is exactly one error naming /hostile and containing every
/// one of `says`; afterwards the conversation and the plugin carry on.
async fn misbehaviour_is_one_clear_error(behaviour: &str, origin: Origin, says: &[&str]) {
    let mut h = Harness::new();
    let message = h.one_error(&format!("/hostile {behaviour}"), origin).await;
    assert!(
        message.starts_with("/hostile"),
        "names the plugin: {message:?}"
    );
    for s in says {
        assert!(message.contains(s), "{message:?} should say {s:?}");
    }
    h.assert_conversation_goes_on().await;
}

// ---------------------------------------------------------------------------------------------
// Each misbehaviour
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_endless_loop_is_one_timeout_error_and_the_session_carries_on() {
    let started = std::time::Instant::now();
    misbehaviour_is_one_clear_error(
        "loop",
        Origin::Terminal,
        &["took longer than 0.3s", "stopped"],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn unbounded_memory_growth_is_one_out_of_memory_error() {
    misbehaviour_is_one_clear_error("grow", Origin::Terminal, &["32 MiB of memory", "stopped"])
        .await;
}

#[tokio::test]
async fn a_panic_is_one_crash_error_with_the_panic_message() {
    misbehaviour_is_one_clear_error("trap", Origin::Terminal, &["crashed", "boom, on purpose"])
        .await;
}

#[tokio::test]
async fn unbounded_recursion_is_one_crash_error() {
    misbehaviour_is_one_clear_error("recurse", Origin::Terminal, &["crashed", "stack"]).await;
}

#[tokio::test]
async fn four_mib_of_output_is_one_error_and_none_of_it_is_shown() {
    misbehaviour_is_one_clear_error(
        "flood",
        Origin::Terminal,
        &["4096 KiB", "limit of 256 KiB", "nothing was shown"],
    )
    .await;
}

#[tokio::test]
async fn four_hundred_thousand_effects_are_one_error_and_none_is_applied() {
    misbehaviour_is_one_clear_error(
        "many",
        Origin::Terminal,
        &["limit of 256 KiB", "nothing was shown"],
    )
    .await;
}

#[tokio::test]
async fn an_undeclared_host_query_is_one_error_naming_the_capability() {
    misbehaviour_is_one_clear_error(
        "undeclared",
        Origin::Terminal,
        &["`transcript`", "without declaring it"],
    )
    .await;
}

#[tokio::test]
async fn a_command_that_fails_is_one_error_with_its_own_message() {
    misbehaviour_is_one_clear_error(
        "fail",
        Origin::Terminal,
        &["/hostile: this command failed politely"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_argument_is_one_error_from_the_plugin() {
    misbehaviour_is_one_clear_error(
        "sideways",
        Origin::Terminal,
        &["unknown behaviour `sideways`"],
    )
    .await;
}

#[tokio::test]
async fn a_crash_over_the_bridge_is_one_error_too() {
    // `/hostile` is bridge-safe, so the gate lets it through and the runtime must contain it.
    misbehaviour_is_one_clear_error("trap", Origin::Bridge, &["crashed", "boom, on purpose"]).await;
}

#[tokio::test]
async fn a_loop_over_the_bridge_is_one_timeout_error_too() {
    misbehaviour_is_one_clear_error("loop", Origin::Bridge, &["took longer than"]).await;
}

#[tokio::test]
async fn a_stack_overflow_over_the_bridge_is_one_error_too() {
    misbehaviour_is_one_clear_error("recurse", Origin::Bridge, &["crashed", "stack"]).await;
}

#[tokio::test]
async fn every_misbehaviour_in_a_row_leaves_one_session_working() {
    let mut h = Harness::new();
    for behaviour in [
        "trap",
        "loop",
        "grow",
        "recurse",
        "flood",
        "many",
        "undeclared",
        "fail",
    ] {
        let message = h
            .one_error(&format!("/hostile {behaviour}"), Origin::Terminal)
            .await;
        assert!(message.starts_with("/hostile"), "{message:?}");
    }
    h.assert_conversation_goes_on().await;
    // The conversation holds only what succeeded.
    let entries = h.session.transcript().entries();
    assert!(
        matches!(entries.first(), Some(Entry::User { text, .. }) if text == "hello"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn a_granted_query_is_answered_by_the_session() {
    // In the session every declared capability is granted, so `ungranted` succeeds.
    let mut h = Harness::new();
    let out = h.submit("/hostile ungranted").await;
    assert_eq!(
        out,
        vec![Output::Command {
            command: "hostile".into(),
            text: "session echo".into(),
            format: tether_session::Format::Text,
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Installing what should not be installed
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn installing_a_plugin_that_takes_a_stock_name_is_refused() {
    let mut h = Harness::new();
    let file = write_file(
        h.tmp.path(),
        "clash.wasm",
        tether_fixtures::fixture("clash").bytes,
    );
    let user = UserPlugins::new(h.dirs.user_plugins());
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(h.dirs.components()),
        key_file: Some(h.dirs.cache_key()),
    })
    .unwrap();
    let err = user
        .install(&runtime, h.session.registry(), &file)
        .expect_err("a plugin declaring /help must not install");
    assert!(err.contains("/help"), "{err:?}");
    assert!(err.contains("stock"), "{err:?}");
    assert!(!user.path_of("help").exists(), "nothing was copied in");

    // The same through `/plugin install`, and /help is still the stock one.
    let message = h
        .one_error("/plugin install clash.wasm", Origin::Terminal)
        .await;
    assert!(message.contains("/help"), "{message:?}");
    assert!(message.contains("stock"), "{message:?}");
    let help = h.session.registry().find("help").unwrap();
    assert_eq!(help.source, CommandSource::Stock);
    let out = h.submit("/help").await;
    assert!(
        !out.iter().any(
            |o| matches!(o, Output::Command { text, .. } if text.contains("not the real help"))
        ),
        "{out:?}"
    );
    h.assert_conversation_goes_on().await;
}

#[tokio::test]
async fn installing_a_file_that_is_not_a_component_is_one_clear_error() {
    let mut h = Harness::new();
    write_file(h.tmp.path(), "junk.wasm", b"#!/bin/sh\necho not a plugin\n");
    write_file(h.tmp.path(), "core.wasm", b"\0asm\x01\0\0\0");
    let message = h
        .one_error("/plugin install junk.wasm", Origin::Terminal)
        .await;
    assert!(
        message.contains("is not a WebAssembly component"),
        "{message:?}"
    );
    let message = h
        .one_error("/plugin install core.wasm", Origin::Terminal)
        .await;
    assert!(message.contains("wasm32-wasip2"), "{message:?}");
    let message = h
        .one_error("/plugin install missing.wasm", Origin::Terminal)
        .await;
    assert!(message.contains("cannot read"), "{message:?}");
    assert!(h.session.registry().find("junk").is_none());
    h.assert_conversation_goes_on().await;
}

#[tokio::test]
async fn removing_a_stock_command_is_refused() {
    let mut h = Harness::new();
    let message = h.one_error("/plugin remove help", Origin::Terminal).await;
    assert!(message.contains("stock command"), "{message:?}");
    assert!(h.session.registry().find("help").is_some());
    h.assert_conversation_goes_on().await;
}

// ---------------------------------------------------------------------------------------------
// Slash text that is not a command, and commands the gate refuses
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_slash_command_is_plain_text_for_the_engine() {
    let mut h = Harness::new();
    let out = h.submit("/nosuchcommand hi").await;
    assert!(
        matches!(out.first(), Some(Output::User { text, .. }) if text == "/nosuchcommand hi"),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::AssistantStart { .. })),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Error(_))),
        "{out:?}"
    );
    let reply = assistant_reply(&out);
    assert!(reply.contains("/nosuchcommand hi"), "{reply:?}");
}

#[tokio::test]
async fn an_interactive_command_over_the_bridge_is_refused_with_the_contract_text() {
    // Over the bridge the context is `Bridge` whatever the session's remote setting.
    let mut h = Harness::new();
    let out = h.submit_from("/memory", Origin::Bridge).await;
    assert_eq!(
        out,
        vec![Output::Command {
            command: "memory".into(),
            text: "/memory isn't available over Remote Control.".into(),
            format: tether_session::Format::Text,
        }]
    );
    assert!(h.session.transcript().is_empty(), "no model turn");
    h.assert_conversation_goes_on().await;
}

#[tokio::test]
async fn a_local_command_that_is_not_bridge_safe_is_refused_over_the_bridge() {
    let mut h = Harness::new();
    let out = h
        .submit_from("/plugin install x.wasm", Origin::Bridge)
        .await;
    assert_eq!(
        out,
        vec![Output::Command {
            command: "plugin".into(),
            text: "/plugin isn't available over Remote Control.".into(),
            format: tether_session::Format::Text,
        }]
    );
    // An alias is refused under the name it was invoked by.
    let out = h.submit_from("/quit", Origin::Bridge).await;
    assert_eq!(
        out,
        vec![Output::Command {
            command: "exit".into(),
            text: "/quit isn't available over Remote Control.".into(),
            format: tether_session::Format::Text,
        }]
    );
    h.assert_conversation_goes_on().await;
}

/// A session published with `--remote`: the gate's two refusals, and containment there too.
mod remote_mode {
    use super::*;
    use tether_session::RemoteInfo;

    fn remote() -> Harness {
        Harness::with_config(|c| {
            c.remote = Some(RemoteInfo {
                session_id: "session_local_x".into(),
                url: "http://127.0.0.1:1/code/session_local_x".into(),
            })
        })
    }

    #[tokio::test]
    async fn an_interactive_command_over_the_bridge_of_a_remote_session_is_refused() {
        let mut h = remote();
        let out = h.submit_from("/memory", Origin::Bridge).await;
        assert_eq!(
            out,
            vec![Output::Command {
                command: "memory".into(),
                text: "/memory isn't available over Remote Control.".into(),
                format: tether_session::Format::Text,
            }]
        );
        assert!(h.session.transcript().is_empty(), "no model turn");
        h.assert_conversation_goes_on().await;
    }

    #[tokio::test]
    async fn a_command_that_is_not_remote_safe_is_refused_in_the_terminal_of_a_remote_session() {
        let mut h = remote();
        let out = h.submit("/plugin").await;
        assert_eq!(
            out,
            vec![Output::Command {
                command: "plugin".into(),
                text: "/plugin isn't available in remote mode.".into(),
                format: tether_session::Format::Text,
            }]
        );
        assert!(h.session.transcript().is_empty(), "no model turn");
        h.assert_conversation_goes_on().await;
    }

    /// The texts of every output, for looking for a secret in all of them.
    fn everything_said(out: &[Output]) -> String {
        format!("{out:?}")
    }

    #[tokio::test]
    async fn a_remote_clients_mention_reads_no_file_on_the_terminals_machine() {
        let mut h = remote();
        write_file(h.tmp.path(), "secret.txt", b"RELATIVE-SECRET-41");
        let elsewhere = tempfile::tempdir().unwrap();
        let shadow = write_file(elsewhere.path(), "shadow", b"root:ABSOLUTE-SECRET-42:");
        let said = format!("summarise @secret.txt and @{} please", shadow.display());
        let out = h.submit_from(&said, Origin::Bridge).await;
        // Plain text for the model, as typed: nothing read, nothing in context.
        assert!(
            matches!(out.first(), Some(Output::User { text, origin: Origin::Bridge }) if *text == said),
            "{out:?}"
        );
        assert!(h.session.files().is_empty(), "{:?}", h.session.files());
        let seen = everything_said(&out);
        assert!(!seen.contains("SECRET-4"), "{seen}");
        assert!(
            !out.iter().any(|o| matches!(o, Output::Error(_))),
            "{out:?}"
        );
        // Not even whether a file exists: no "no such file", no "is a directory".
        for probe in ["@/nonexistent/file", "@/etc"] {
            let out = h.submit_from(probe, Origin::Bridge).await;
            assert!(
                !out.iter().any(|o| matches!(o, Output::Error(_))),
                "{probe}: {out:?}"
            );
        }
        // `/files`, which a phone may run, has nothing to report.
        let out = h.submit_from("/files", Origin::Bridge).await;
        let seen = everything_said(&out);
        assert!(seen.contains("No files in context"), "{seen}");
        assert!(
            !seen.contains("secret") && !seen.contains("shadow"),
            "{seen}"
        );
        let messages = format!("{:?}", h.session.transcript().model_messages());
        assert!(!messages.contains("SECRET-4"), "{messages}");

        // The local user's mentions still read, in the same session.
        let out = h.submit("look at @secret.txt").await;
        assert!(
            !out.iter().any(|o| matches!(o, Output::Error(_))),
            "{out:?}"
        );
        let files = h.session.files();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(
            (files[0].path.as_str(), files[0].content.as_str()),
            ("secret.txt", "RELATIVE-SECRET-41")
        );
        let out = h.submit_from("/files", Origin::Bridge).await;
        assert!(everything_said(&out).contains("secret.txt"), "{out:?}");
    }

    #[tokio::test]
    async fn a_crash_in_a_remote_session_is_one_error_and_the_session_carries_on() {
        let mut h = remote();
        let message = h.one_error("/hostile recurse", Origin::Terminal).await;
        assert!(message.contains("crashed"), "{message:?}");
        let message = h.one_error("/hostile loop", Origin::Bridge).await;
        assert!(message.contains("took longer than"), "{message:?}");
        h.assert_conversation_goes_on().await;
    }
}
