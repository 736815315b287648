//! One snapshot test per stock command, run through a real session with the real components,
//! and a `_without_permission` twin for every place the gate refuses a command.
//!
//! Snapshots live in `tests/snapshots/`; review changes with `cargo insta review` (or rerun with
//! `INSTA_UPDATE=always` and read the diff).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tether_engines::echo::Echo;
use tether_plugins::{Runtime, RuntimeOptions};
use tether_protocol::Origin;
use tether_session::preferences::Stored;
use tether_session::registry::Registry;
use tether_session::user_plugins::UserPlugins;
use tether_session::{Dirs, Flow, Format, Output, Preferences, Session, SessionConfig};
use tokio_util::sync::CancellationToken;

const URL: &str = "http://192.0.2.1:4747/code/session_local_7d0e2b1c-0000-4000-8000-000000000000";

/// Compiling the stock components once for the whole test binary keeps each test fast.
fn shared() -> &'static (Arc<Runtime>, Registry, PathBuf) {
    static SHARED: OnceLock<(Arc<Runtime>, Registry, PathBuf)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(dir.join("cache")),
            key_file: Some(dir.join("key")),
        })
        .unwrap();
        let (registry, warnings) =
            Registry::load(&runtime, &UserPlugins::new(dir.join("none")), &mut |_| {});
        assert!(warnings.is_empty(), "{warnings:?}");
        (Arc::new(runtime), registry, dir)
    })
}

struct Harness {
    session: Session,
    dir: tempfile::TempDir,
}

fn harness(remote: bool) -> Harness {
    let (runtime, registry, _) = shared();
    let dir = tempfile::tempdir().unwrap();
    let dirs = Dirs::under(
        &dir.path().join("config"),
        &dir.path().join("data"),
        &dir.path().join("cache"),
    );
    let config = SessionConfig {
        dirs,
        cwd: dir.path().to_path_buf(),
        version: "0.1.0".into(),
        limits: Default::default(),
        remote: remote.then(|| tether_session::RemoteInfo {
            session_id: "session_local_7d0e2b1c-0000-4000-8000-000000000000".into(),
            url: URL.into(),
        }),
        app_links: vec![tether_plugins::AppLink {
            label: "Company app".into(),
            url: "https://apps.example.com/tether".into(),
        }],
    };
    let session = Session::new(
        config,
        runtime.clone(),
        registry.clone(),
        Arc::new(Echo::new(Duration::ZERO)),
        Preferences::default(),
    );
    Harness { session, dir }
}

impl Harness {
    async fn send(&mut self, input: &str, origin: Origin) -> (Vec<Output>, Flow) {
        let mut out = Vec::new();
        let flow = self
            .session
            .submit(input, origin, &mut out, &CancellationToken::new())
            .await;
        (out, flow)
    }

    /// Runs `input` from the terminal and renders what it produced for a snapshot.
    async fn run(&mut self, input: &str) -> String {
        let (out, _) = self.send(input, Origin::Terminal).await;
        self.render(&out)
    }

    fn render(&self, outputs: &[Output]) -> String {
        let mut lines = Vec::new();
        for o in outputs {
            match o {
                Output::User { text, origin } => lines.push(format!("> [{origin}] {text}")),
                Output::AssistantStart { .. } | Output::AssistantDelta { .. } => {}
                Output::AssistantEnd {
                    text,
                    usage,
                    interrupted,
                    ..
                } => lines.push(format!(
                    "assistant{}: {text} ({} in, {} out)",
                    if *interrupted { " (interrupted)" } else { "" },
                    usage.input_tokens,
                    usage.output_tokens
                )),
                Output::Command {
                    command,
                    text,
                    format,
                } => {
                    let f = if *format == Format::Markdown {
                        "markdown"
                    } else {
                        "text"
                    };
                    lines.push(format!("[/{command} {f}]\n{text}"));
                }
                Output::Note(t) => lines.push(format!("note: {t}")),
                Output::Error(t) => lines.push(format!("error: {t}")),
                Output::TurnFailed { text, error, .. } => {
                    lines.push(format!("not sent: {text}\nerror: {error}"))
                }
                Output::Info(t) => lines.push(format!("info: {t}")),
                Output::Warning(t) => lines.push(format!("warning: {t}")),
                Output::Cleared => lines.push("(cleared)".into()),
                Output::PreferencesChanged(p) => lines.push(format!(
                    "prefs: theme={} color={} vim={} statusline={} plan={}",
                    p.theme, p.color, p.vim, p.statusline, p.plan_mode
                )),
                Output::Clipboard(t) => lines.push(format!("clipboard: {t}")),
                Output::OpenUrl(u) => lines.push(format!("open-url: {u}")),
                Output::OpenEditor(p) => lines.push(format!("open-editor: {}", p.display())),
                Output::PermissionRequest(q) => {
                    lines.push(format!("permission? {} {}", q.tool_name, q.input))
                }
                Output::PermissionResolved {
                    request_id,
                    resolution,
                } => lines.push(format!("permission {request_id}: {resolution:?}")),
                Output::CommandsChanged => lines.push("(commands changed)".into()),
                Output::NewSessionKey => lines.push("(new session key)".into()),
            }
        }
        redact(&lines.join("\n"), &self.dir.path().display().to_string())
    }
}

/// Temp paths and content hashes change from run to run (hashes whenever a plugin is rebuilt).
fn redact(text: &str, tmp: &str) -> String {
    let mut text = text.replace(tmp, "<tmp>");
    for plugin in shared().1.plugins() {
        text = text
            .replace(&plugin.sha256, "<sha>")
            .replace(&plugin.sha256[..12], "<sha>");
    }
    text
}

macro_rules! snapshot {
    ($name:ident, remote = $remote:expr, setup = [$($setup:expr),*], $input:expr) => {
        #[tokio::test]
        async fn $name() {
            let mut h = harness($remote);
            $( h.send($setup, Origin::Terminal).await; )*
            insta::assert_snapshot!(h.run($input).await);
        }
    };
}

snapshot!(
    session_outside_remote_mode,
    remote = false,
    setup = [],
    "/session"
);
snapshot!(
    session_in_remote_mode,
    remote = true,
    setup = [],
    "/session"
);
snapshot!(
    session_revoke_in_remote_mode,
    remote = true,
    setup = [],
    "/session revoke"
);
snapshot!(
    session_revoke_outside_remote_mode,
    remote = false,
    setup = [],
    "/session revoke"
);
snapshot!(
    session_with_an_unknown_argument,
    remote = true,
    setup = [],
    "/session rotate"
);
snapshot!(
    mobile_outside_remote_mode,
    remote = false,
    setup = [],
    "/mobile"
);
snapshot!(mobile_in_remote_mode, remote = true, setup = [], "/mobile");
snapshot!(clear, remote = false, setup = ["hello"], "/clear");
snapshot!(help, remote = false, setup = [], "/help");
snapshot!(help_in_remote_mode, remote = true, setup = [], "/help");
snapshot!(
    help_for_one_command,
    remote = false,
    setup = [],
    "/help vim"
);
snapshot!(
    help_for_an_unknown_command,
    remote = false,
    setup = [],
    "/help nope"
);
snapshot!(theme_lists_themes, remote = false, setup = [], "/theme");
snapshot!(
    theme_sets_a_theme,
    remote = false,
    setup = [],
    "/theme light"
);
snapshot!(
    theme_refuses_an_unknown_theme,
    remote = false,
    setup = [],
    "/theme neon"
);
snapshot!(color_lists_colors, remote = false, setup = [], "/color");
snapshot!(
    color_sets_a_color,
    remote = false,
    setup = [],
    "/color green"
);
snapshot!(vim_toggles_on, remote = false, setup = [], "/vim");
snapshot!(vim_toggles_off, remote = false, setup = ["/vim on"], "/vim");
snapshot!(
    cost_after_a_turn,
    remote = false,
    setup = ["hello there"],
    "/cost"
);
snapshot!(
    usage_after_a_turn,
    remote = false,
    setup = ["hello there"],
    "/usage"
);
snapshot!(
    copy_the_last_reply,
    remote = false,
    setup = ["hello there"],
    "/copy"
);
snapshot!(
    copy_with_nothing_to_copy,
    remote = false,
    setup = [],
    "/copy"
);
snapshot!(
    btw_adds_a_note,
    remote = false,
    setup = [],
    "/btw the build takes 7 minutes"
);
snapshot!(btw_without_text, remote = false, setup = [], "/btw");
snapshot!(
    feedback,
    remote = false,
    setup = [],
    "/feedback Love it & more, please"
);
snapshot!(plan_toggles_on, remote = false, setup = [], "/plan");
snapshot!(
    plan_mode_changes_the_reply,
    remote = false,
    setup = ["/plan on"],
    "fix the bug"
);
snapshot!(
    keybindings_emacs,
    remote = false,
    setup = [],
    "/keybindings"
);
snapshot!(
    keybindings_vi,
    remote = false,
    setup = ["/vim on"],
    "/keybindings"
);
snapshot!(
    statusline_toggles_on,
    remote = false,
    setup = [],
    "/statusline"
);
snapshot!(stickers, remote = false, setup = [], "/stickers");
snapshot!(
    compact,
    remote = false,
    setup = ["first question", "second question"],
    "/compact"
);
snapshot!(
    compact_with_nothing_to_compact,
    remote = false,
    setup = [],
    "/compact"
);
snapshot!(
    summary,
    remote = false,
    setup = ["first question"],
    "/summary decisions"
);
snapshot!(release_notes, remote = false, setup = [], "/release-notes");
snapshot!(
    release_notes_unknown_version,
    remote = false,
    setup = [],
    "/release-notes 9.9.9"
);
snapshot!(files_when_empty, remote = false, setup = [], "/files");
snapshot!(plugin_list, remote = false, setup = [], "/plugin");
snapshot!(
    plugin_install_missing_file,
    remote = false,
    setup = [],
    "/plugin install nope.wasm"
);
snapshot!(
    plugin_remove_stock_command,
    remote = false,
    setup = [],
    "/plugin remove help"
);
snapshot!(
    memory_opens_the_editor,
    remote = false,
    setup = [],
    "/memory"
);
snapshot!(
    desktop_outside_remote_mode,
    remote = false,
    setup = [],
    "/desktop"
);
snapshot!(
    unknown_slash_word_is_plain_text,
    remote = false,
    setup = [],
    "/nosuch thing"
);

#[tokio::test]
async fn exit_ends_the_session() {
    let mut h = harness(false);
    let (out, flow) = h.send("/exit", Origin::Terminal).await;
    assert_eq!(flow, Flow::Exit);
    assert!(out.is_empty(), "{out:?}");
    let (_, flow) = h.send("/quit", Origin::Terminal).await;
    assert_eq!(flow, Flow::Exit, "alias");
}

#[tokio::test]
async fn files_lists_mentioned_files() {
    let mut h = harness(false);
    std::fs::write(h.dir.path().join("notes.md"), "x".repeat(2048)).unwrap();
    h.send("read @notes.md please", Origin::Terminal).await;
    insta::assert_snapshot!(h.run("/files").await);
}

#[tokio::test]
async fn clear_really_forgets() {
    let mut h = harness(false);
    h.send("hello", Origin::Terminal).await;
    assert!(!h.session.transcript().is_empty());
    h.send("/clear", Origin::Terminal).await;
    assert!(h.session.transcript().is_empty());
}

#[tokio::test]
async fn compact_really_replaces_the_transcript() {
    let mut h = harness(false);
    h.send("one", Origin::Terminal).await;
    h.send("two", Origin::Terminal).await;
    assert_eq!(h.session.transcript().len(), 4);
    h.send("/compact", Origin::Terminal).await;
    assert_eq!(h.session.transcript().len(), 1);
}

#[tokio::test]
async fn preferences_persist_across_sessions() {
    let mut h = harness(false);
    h.send("/theme light", Origin::Terminal).await;
    h.send("/vim on", Origin::Terminal).await;
    let path = h.dir.path().join("config/tether/preferences.toml");
    let (prefs, warning) = Preferences::load(&path);
    assert_eq!(warning, None);
    assert_eq!((prefs.theme.as_str(), prefs.vim), ("light", true));
}

/// The gate's refusals: the exact text, as a command output, and no model turn.
async fn assert_refused(input: &str, remote: bool, origin: Origin, expected: &str) {
    let mut h = harness(remote);
    let (out, flow) = h.send(input, origin).await;
    assert_eq!(flow, Flow::Continue);
    match out.as_slice() {
        [Output::Command { text, .. }] => assert_eq!(text, expected),
        other => panic!("{input}: expected only the refusal, got {other:?}"),
    }
}

macro_rules! over_bridge_without_permission {
    ($($name:ident => $command:literal),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let expected = format!("/{} isn't available over Remote Control.", $command);
            assert_refused(concat!("/", $command), true, Origin::Bridge, &expected).await;
        }
    )*};
}

macro_rules! in_remote_mode_without_permission {
    ($($name:ident => $command:literal),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let expected = format!("/{} isn't available in remote mode.", $command);
            assert_refused(concat!("/", $command), true, Origin::Terminal, &expected).await;
        }
    )*};
}

over_bridge_without_permission! {
    session_over_bridge_without_permission => "session",
    mobile_over_bridge_without_permission => "mobile",
    exit_over_bridge_without_permission => "exit",
    help_over_bridge_without_permission => "help",
    theme_over_bridge_without_permission => "theme",
    color_over_bridge_without_permission => "color",
    vim_over_bridge_without_permission => "vim",
    usage_over_bridge_without_permission => "usage",
    copy_over_bridge_without_permission => "copy",
    btw_over_bridge_without_permission => "btw",
    feedback_over_bridge_without_permission => "feedback",
    plan_over_bridge_without_permission => "plan",
    keybindings_over_bridge_without_permission => "keybindings",
    statusline_over_bridge_without_permission => "statusline",
    stickers_over_bridge_without_permission => "stickers",
    plugin_over_bridge_without_permission => "plugin",
    memory_over_bridge_without_permission => "memory",
    desktop_over_bridge_without_permission => "desktop",
}

in_remote_mode_without_permission! {
    compact_in_remote_mode_without_permission => "compact",
    summary_in_remote_mode_without_permission => "summary",
    release_notes_in_remote_mode_without_permission => "release-notes",
    files_in_remote_mode_without_permission => "files",
    plugin_in_remote_mode_without_permission => "plugin",
    memory_in_remote_mode_without_permission => "memory",
    desktop_in_remote_mode_without_permission => "desktop",
}

/// The bridge-safe commands do run when a phone sends them, and their output is a command output.
#[tokio::test]
async fn bridge_safe_commands_run_over_the_bridge() {
    for input in [
        "/clear",
        "/cost",
        "/release-notes",
        "/files",
        "/summary",
        "/compact",
    ] {
        let mut h = harness(true);
        h.send("hello", Origin::Bridge).await;
        let (out, _) = h.send(input, Origin::Bridge).await;
        assert!(
            !out.iter().any(|o| match o {
                Output::Error(_) => true,
                Output::Command { text, .. } =>
                    text == &format!("{input} isn't available over Remote Control."),
                _ => false,
            }),
            "{input}: {out:?}"
        );
        assert!(!out.is_empty(), "{input} produced output");
    }
}

/// An alias is refused with the name it was invoked by, as the user typed it.
#[tokio::test]
async fn refusal_names_the_alias_used() {
    assert_refused(
        "/quit",
        true,
        Origin::Bridge,
        "/quit isn't available over Remote Control.",
    )
    .await;
}
