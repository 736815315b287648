//! The `exec` engine against `tether-fixture-agent`, a stand-in for Claude Code's stream-json
//! mode (tests/src/bin/fixture_agent.rs says what each word in a message makes it do). Each
//! test has its own agent and a log of every line the agent read.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tether_engines::exec::{Exec, ExecConfig};
use tether_engines::usage::TurnUsage;
use tether_engines::{
    ChatMessage, ChatRole, Engine, EngineError, EngineEvent, EngineStream, PermissionAnswer,
    PermissionRequest, TurnRequest,
};

const AGENT: &str = env!("CARGO_BIN_EXE_tether-fixture-agent");

/// How long any one expected thing may take.
const WAIT: Duration = Duration::from_secs(20);

/// The fixture's usage and cost for an ordinary turn.
const USAGE: TurnUsage = TurnUsage {
    input_tokens: 11,
    output_tokens: 7,
    cache_read_tokens: 5,
    cache_write_tokens: 3,
    cost_micros: Some(1234),
};

struct Fixture {
    _dir: TempDir,
    log: PathBuf,
    engine: Exec,
}

fn fixture() -> Fixture {
    fixture_with(|_| {})
}

fn fixture_with(adjust: impl FnOnce(&mut ExecConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let mut config = ExecConfig::new(
        vec![AGENT.into(), "--log".into(), log.to_string_lossy().into()],
        dir.path().to_path_buf(),
    );
    adjust(&mut config);
    Fixture {
        engine: Exec::new(config).expect("the fixture agent is found"),
        _dir: dir,
        log,
    }
}

impl Fixture {
    /// Every JSON line the agent read, in order, across all its processes (a line still being
    /// written is left for next time).
    fn received(&self) -> Vec<Value> {
        read_log(&self.log)
            .split_inclusive('\n')
            .filter(|l| l.starts_with('{') && l.ends_with('\n'))
            .map(|l| serde_json::from_str(l).expect("the engine writes JSON lines"))
            .collect()
    }

    /// The text of every user message the agent read.
    fn user_texts(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|v| v["type"] == "user")
            .map(|v| {
                v["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// How many agent processes have started.
    fn starts(&self) -> usize {
        read_log(&self.log)
            .lines()
            .filter(|l| l.starts_with("#start"))
            .count()
    }

    /// The control requests the engine sent, by subtype.
    fn control_requests(&self, subtype: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|v| v["type"] == "control_request" && v["request"]["subtype"] == subtype)
            .collect()
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn user(text: &str) -> ChatMessage {
    ChatMessage {
        role: ChatRole::User,
        text: text.into(),
    }
}

fn assistant(text: &str) -> ChatMessage {
    ChatMessage {
        role: ChatRole::Assistant,
        text: text.into(),
    }
}

fn request(messages: Vec<ChatMessage>) -> TurnRequest {
    TurnRequest {
        messages,
        ..Default::default()
    }
}

/// What a turn showed.
#[derive(Debug, Default)]
struct Turn {
    text: String,
    usage: Option<TurnUsage>,
    error: Option<String>,
    withdrawn: Vec<String>,
}

async fn next(stream: &mut EngineStream) -> Option<Result<EngineEvent, EngineError>> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("the engine went quiet")
}

impl Turn {
    /// Takes one event; returns a permission request, which the caller must handle.
    fn take(&mut self, event: Result<EngineEvent, EngineError>) -> Option<PermissionRequest> {
        match event {
            Ok(EngineEvent::Delta(d)) => self.text.push_str(&d),
            Ok(EngineEvent::Usage(u)) => {
                assert!(self.usage.is_none(), "usage reported twice");
                self.usage = Some(u);
            }
            Ok(EngineEvent::Permission(p)) => return Some(p),
            Ok(EngineEvent::PermissionWithdrawn { request_id }) => self.withdrawn.push(request_id),
            Ok(EngineEvent::Retrying { .. }) => panic!("an agent does not retry"),
            Err(e) => {
                assert!(self.error.is_none(), "two errors");
                self.error = Some(e.0);
            }
        }
        None
    }

    /// Reads the rest of the turn; a permission request is a failure.
    async fn finish(&mut self, stream: &mut EngineStream) {
        while let Some(event) = next(stream).await {
            if let Some(p) = self.take(event) {
                panic!("unexpected permission request {p:?}");
            }
        }
    }

    /// Reads until the agent asks for permission.
    async fn until_permission(&mut self, stream: &mut EngineStream) -> PermissionRequest {
        while let Some(event) = next(stream).await {
            if let Some(p) = self.take(event) {
                return p;
            }
        }
        panic!("the turn ended without a permission request: {self:?}");
    }
}

async fn run(engine: &Exec, request: TurnRequest) -> Turn {
    let mut stream = engine.reply(request);
    let mut turn = Turn::default();
    turn.finish(&mut stream).await;
    turn
}

/// A turn that must succeed: its text.
async fn reply(engine: &Exec, request: TurnRequest) -> String {
    let turn = run(engine, request).await;
    assert_eq!(turn.error, None, "{turn:?}");
    assert!(turn.usage.is_some(), "no usage: {turn:?}");
    turn.text
}

#[tokio::test]
async fn two_turns_keep_the_agents_conversation() {
    let f = fixture();
    assert_eq!(f.engine.name(), "exec");
    assert_eq!(f.engine.model(), "agent", "no model before the agent says");
    let first = run(&f.engine, TurnRequest::user("hello")).await;
    assert_eq!(
        first.text, "You said: hello",
        "streamed once, never doubled"
    );
    assert_eq!(first.usage, Some(USAGE));
    assert_eq!(first.error, None);
    assert_eq!(f.engine.model(), "fixture-model");

    let history = vec![
        user("hello"),
        assistant("You said: hello"),
        user("remember?"),
    ];
    assert_eq!(
        reply(&f.engine, request(history)).await,
        "I remember: hello"
    );
    assert_eq!(
        f.user_texts(),
        ["hello", "remember?"],
        "only the new message is sent"
    );
    assert_eq!(f.starts(), 1, "one process for the conversation");

    let users: Vec<Value> = f
        .received()
        .into_iter()
        .filter(|v| v["type"] == "user")
        .collect();
    assert_eq!(
        users[0]["session_id"], "",
        "no session id before the agent's init"
    );
    let session = users[1]["session_id"].as_str().unwrap();
    assert!(session.starts_with("fixture-session-"), "{session}");
    assert_eq!(users[1]["parent_tool_use_id"], Value::Null);
    assert_eq!(users[1]["message"]["role"], "user");
}

#[tokio::test]
async fn text_blocks_and_tools_are_shown_once_and_apart() {
    let f = fixture();
    assert_eq!(
        reply(&f.engine, TurnRequest::user("multi")).await,
        "First block.\n\nSecond block."
    );
    assert_eq!(
        reply(&f.engine, TurnRequest::user("nostream")).await,
        "You said: nostream"
    );
    assert_eq!(
        reply(&f.engine, TurnRequest::user("steps")).await,
        "Let me look.\n\n› Read: `src/main.rs`\n\nDone."
    );
}

#[tokio::test]
async fn a_failed_result_is_an_error_with_its_cost() {
    let f = fixture();
    let turn = run(&f.engine, TurnRequest::user("fail")).await;
    let error = turn.error.expect("an error");
    assert!(error.contains("fixture failure on purpose"), "{error}");
    assert_eq!(turn.usage.unwrap().cost_micros, Some(500_000));
    // The agent is still there and still works.
    assert_eq!(
        reply(&f.engine, TurnRequest::user("hi")).await,
        "You said: hi"
    );
    assert_eq!(f.starts(), 1);
}

/// Asks for a tool, answers with `answer`, and returns what the turn showed.
async fn permission_turn(f: &Fixture, text: &str, answer: Option<PermissionAnswer>) -> Turn {
    let mut stream = f.engine.reply(TurnRequest::user(text));
    let mut turn = Turn::default();
    let request = turn.until_permission(&mut stream).await;
    assert_eq!(request.tool_name, "Bash");
    assert!(
        turn.text.contains("› Bash: `"),
        "the tool use is shown: {turn:?}"
    );
    match answer {
        Some(answer) => request.answer(answer),
        None => drop(request),
    }
    turn.finish(&mut stream).await;
    assert_eq!(turn.error, None);
    assert_eq!(turn.usage, Some(USAGE));
    turn
}

#[tokio::test]
async fn permission_allowed() {
    let f = fixture();
    let mut stream = f.engine.reply(TurnRequest::user("tool: Bash ls -la"));
    let mut turn = Turn::default();
    let request = turn.until_permission(&mut stream).await;
    assert_eq!(request.tool_name, "Bash");
    assert_eq!(request.input, json!({"command": "ls -la"}));
    assert_eq!(request.request_id, "perm_3");
    request.answer(PermissionAnswer::Allow);
    turn.finish(&mut stream).await;
    assert_eq!(
        turn.text,
        "› Bash: `ls -la`\n\nallowed: {\"command\":\"ls -la\"}"
    );

    let responses: Vec<Value> = f
        .received()
        .into_iter()
        .filter(|v| v["type"] == "control_response")
        .collect();
    assert_eq!(
        responses,
        [
            json!({"type": "control_response", "response": {"subtype": "success",
            "request_id": "perm_3",
            "response": {"behavior": "allow", "updatedInput": {"command": "ls -la"}}}})
        ]
    );
}

#[tokio::test]
async fn permission_denied() {
    let f = fixture();
    let deny = PermissionAnswer::Deny {
        message: "not today".into(),
    };
    let turn = permission_turn(&f, "tool: Bash rm -rf build", Some(deny)).await;
    assert!(turn.text.ends_with("\n\ndenied: not today"), "{turn:?}");
}

#[tokio::test]
async fn a_dropped_permission_request_is_a_denial() {
    let f = fixture();
    let turn = permission_turn(&f, "tool: Bash rm -rf build", None).await;
    assert!(
        turn.text.ends_with("denied: the turn was cancelled"),
        "{turn:?}"
    );
}

#[tokio::test]
async fn a_late_answer_while_the_agent_keeps_talking() {
    let f = fixture();
    let mut stream = f.engine.reply(TurnRequest::user("tool: Bash make chatty"));
    let mut turn = Turn::default();
    let request = turn.until_permission(&mut stream).await;
    // The engine keeps reading the agent while the question waits.
    let mut said = 0;
    while said < 3 {
        match next(&mut stream).await.expect("the turn goes on") {
            Ok(EngineEvent::Delta(d)) => {
                assert!(d.contains("waiting…"), "{d:?}");
                turn.text.push_str(&d);
                said += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    request.answer(PermissionAnswer::Allow);
    turn.finish(&mut stream).await;
    assert!(
        turn.text
            .starts_with("› Bash: `make chatty`\n\nwaiting… waiting… waiting… "),
        "{turn:?}"
    );
    assert!(
        turn.text
            .ends_with("\n\nallowed: {\"command\":\"make chatty\"}"),
        "{turn:?}"
    );
}

#[tokio::test]
async fn a_withdrawn_permission_request() {
    let f = fixture();
    let mut stream = f.engine.reply(TurnRequest::user("cancel"));
    let mut turn = Turn::default();
    let request = turn.until_permission(&mut stream).await;
    let id = request.request_id.clone();
    turn.finish(&mut stream).await;
    assert_eq!(turn.withdrawn, std::slice::from_ref(&id));
    assert_eq!(turn.text, "Never mind.");
    assert_eq!(turn.usage, Some(USAGE));
    // Answering now reaches nobody, and nothing was sent for it.
    request.answer(PermissionAnswer::Allow);
    assert_eq!(
        reply(&f.engine, TurnRequest::user("next")).await,
        "You said: next"
    );
    assert!(
        !f.received()
            .iter()
            .any(|v| v["type"] == "control_response" && v["response"]["request_id"] == id.as_str()),
        "no answer to a withdrawn request"
    );
}

#[tokio::test]
async fn plan_mode_is_set_only_when_it_changes() {
    let f = fixture();
    let mode = |plan: bool| TurnRequest {
        plan_mode: plan,
        ..TurnRequest::user("mode?")
    };
    assert_eq!(reply(&f.engine, mode(false)).await, "mode: default");
    assert_eq!(reply(&f.engine, mode(true)).await, "mode: plan");
    assert_eq!(reply(&f.engine, mode(true)).await, "mode: plan");
    assert_eq!(reply(&f.engine, mode(false)).await, "mode: default");
    let modes: Vec<Value> = f
        .control_requests("set_permission_mode")
        .iter()
        .map(|v| v["request"]["mode"].clone())
        .collect();
    assert_eq!(modes, ["plan", "default"]);
    // Each switch precedes the message it is for.
    let kinds: Vec<String> = f
        .received()
        .iter()
        .map(|v| v["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "user",
            "control_request",
            "user",
            "user",
            "control_request",
            "user"
        ]
    );
}

/// Reads a turn until its first text, then drops it; returns when it was dropped.
async fn start_and_drop(engine: &Exec, text: &str) -> Instant {
    let mut stream = engine.reply(TurnRequest::user(text));
    match next(&mut stream).await {
        Some(Ok(EngineEvent::Delta(d))) => assert!(d.starts_with("tick"), "{d:?}"),
        other => panic!("unexpected {other:?}"),
    }
    drop(stream);
    Instant::now()
}

#[tokio::test]
async fn an_interrupt_is_prompt_and_the_next_turn_is_clean() {
    let f = fixture();
    let dropped = start_and_drop(&f.engine, "slow").await;
    let deadline = dropped + WAIT;
    while f.control_requests("interrupt").is_empty() {
        assert!(Instant::now() < deadline, "the agent was never interrupted");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = dropped.elapsed();
    assert!(
        took < Duration::from_millis(100),
        "the interrupt took {took:?}"
    );

    let history = vec![user("slow"), assistant("tick tick"), user("hello again")];
    let turn = run(&f.engine, request(history)).await;
    assert_eq!(
        turn.text, "You said: hello again",
        "nothing left of the interrupted turn"
    );
    assert_eq!(turn.usage, Some(USAGE));
    assert_eq!(f.starts(), 1, "the agent stopped in time and was kept");
    assert_eq!(f.control_requests("interrupt").len(), 1);
    assert_eq!(f.user_texts(), ["slow", "hello again"]);
}

#[tokio::test]
async fn an_agent_that_ignores_the_interrupt_is_replaced() {
    let grace = Duration::from_millis(300);
    let f = fixture_with(|c| c.interrupt_grace = grace);
    let dropped = start_and_drop(&f.engine, "stubborn").await;
    let history = vec![user("stubborn"), assistant("tick"), user("hello")];
    let turn = run(&f.engine, request(history)).await;
    assert!(
        dropped.elapsed() >= grace,
        "the next turn waited for the grace period"
    );
    assert_eq!(turn.text, "You said: hello");
    assert_eq!(f.starts(), 2, "a new agent");
    let texts = f.user_texts();
    assert!(
        texts[1].contains("Earlier in this conversation:\n\nUser: stubborn\n\nAssistant: tick\n\n"),
        "the new agent is told the conversation: {:?}",
        texts[1]
    );
    assert!(texts[1].ends_with("\n\nhello"), "{:?}", texts[1]);
}

#[tokio::test]
async fn a_crash_is_explained_and_the_next_turn_starts_again() {
    let f = fixture();
    let turn = run(&f.engine, TurnRequest::user("crash")).await;
    assert_eq!(turn.text, "Working on it");
    assert_eq!(turn.usage, None);
    let error = turn.error.expect("an error");
    assert!(
        error.contains("tether-fixture-agent"),
        "names the command: {error}"
    );
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(
        error.contains("fixture: something went wrong\n  fixture: giving up"),
        "the end of stderr: {error}"
    );

    let history = vec![user("crash"), assistant("Working on it"), user("hello")];
    assert_eq!(reply(&f.engine, request(history)).await, "You said: hello");
    assert_eq!(f.starts(), 2);
    assert!(f.user_texts()[1].contains("User: crash\n\nAssistant: Working on it"));
}

#[cfg(unix)]
#[tokio::test]
async fn an_agent_that_cannot_start_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let command = ["sh", "-c", "echo 'no API key configured' >&2; exit 1"];
    let engine = Exec::new(ExecConfig::new(
        command.iter().map(|s| s.to_string()).collect(),
        dir.path().to_path_buf(),
    ))
    .unwrap();
    let turn = run(&engine, TurnRequest::user("hi")).await;
    let error = turn.error.expect("an error");
    assert!(error.contains("`sh -c"), "{error}");
    assert!(error.contains("exit status: 1"), "{error}");
    assert!(error.contains("no API key configured"), "{error}");
}

#[tokio::test]
async fn garbage_lines_are_skipped() {
    let f = fixture();
    let turn = run(&f.engine, TurnRequest::user("garbage")).await;
    assert_eq!(turn.text, "You said: garbage");
    assert_eq!(turn.error, None);
    assert_eq!(turn.usage, Some(USAGE));
}

#[tokio::test]
async fn a_huge_line_is_refused() {
    let f = fixture();
    let turn = run(&f.engine, TurnRequest::user("huge")).await;
    assert_eq!(turn.text, "You said: huge");
    assert_eq!(turn.usage, Some(USAGE));
    assert_eq!(
        reply(&f.engine, TurnRequest::user("after")).await,
        "You said: after"
    );
}

#[tokio::test]
async fn a_missing_program_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let new = |command: &[&str]| {
        Exec::new(ExecConfig::new(
            command.iter().map(|s| s.to_string()).collect(),
            dir.path().to_path_buf(),
        ))
    };
    let error = new(&["tether-no-such-agent-anywhere", "-p"])
        .err()
        .unwrap()
        .0;
    assert!(error.contains("`tether-no-such-agent-anywhere`"), "{error}");
    assert!(error.contains("not found on PATH"), "{error}");
    assert!(new(&[]).err().unwrap().0.contains("needs a command"));
    let error = new(&["./missing-agent"]).err().unwrap().0;
    assert!(error.contains("does not exist"), "{error}");
    let error = new(&[dir.path().to_str().unwrap()]).err().unwrap().0;
    assert!(error.contains("not an executable"), "{error}");
}

#[tokio::test]
async fn reset_starts_a_fresh_agent_told_the_conversation() {
    let f = fixture();
    assert_eq!(
        reply(&f.engine, TurnRequest::user("hello")).await,
        "You said: hello"
    );
    f.engine.reset();
    let history = vec![
        user("Summary: the user said hello."),
        assistant("Noted."),
        user("and now?"),
    ];
    let turn = TurnRequest {
        system: Some("Answer in English.".into()),
        ..request(history)
    };
    assert_eq!(reply(&f.engine, turn).await, "You said: and now?");
    assert_eq!(f.starts(), 2);
    assert_eq!(f.engine.model(), "fixture-model");
    let texts = f.user_texts();
    assert_eq!(texts[0], "hello");
    let first = &texts[1];
    assert!(first.contains("Answer in English."), "{first}");
    assert!(
        first.contains(
            "Earlier in this conversation:\n\nUser: Summary: the user said hello.\n\nAssistant: Noted.\n\n"
        ),
        "{first}"
    );
    assert!(first.ends_with("\n\nand now?"), "{first}");

    // The next turn sends only the new message (the instructions have not changed).
    let history = vec![user("x"), assistant("y"), user("more")];
    let turn = TurnRequest {
        system: Some("Answer in English.".into()),
        ..request(history)
    };
    assert_eq!(reply(&f.engine, turn).await, "You said: more");
    assert_eq!(f.user_texts()[2], "more");
}

#[tokio::test]
async fn a_turn_dropped_before_it_starts_does_nothing() {
    let f = fixture();
    drop(f.engine.reply(TurnRequest::user("hello")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(f.starts(), 0);
    assert_eq!(
        reply(&f.engine, TurnRequest::user("hi")).await,
        "You said: hi"
    );
}

#[tokio::test]
async fn summaries_go_through_the_agent() {
    let f = fixture();
    let messages = vec![user("hello"), assistant("You said: hello")];
    let (text, usage) = f.engine.summarize(&messages, "").await.unwrap();
    assert!(
        text.starts_with("You said: Summarise the conversation above"),
        "{text}"
    );
    assert_eq!(usage, USAGE);
    // A fresh agent is told what it is to summarise.
    assert!(f.user_texts()[0].contains("User: hello\n\nAssistant: You said: hello"));
}
