//! The `exec` engine: an external agent process (Claude Code, or anything that speaks its
//! `stream-json` protocol) does the work, with its own tools, context and permission prompts.
//!
//! Run Claude Code as
//! `claude -p --input-format stream-json --output-format stream-json --verbose
//! --include-partial-messages --permission-prompt-tool stdio`.
//!
//! One process serves the whole conversation. It starts with the first turn and keeps its own
//! context, so each turn sends only the new message; when a process starts while tether's
//! transcript already holds messages (after `/compact`, or after the agent died or was
//! killed), the first message replays them. Tool permission requests become
//! [`EngineEvent::Permission`], and the process keeps being read while one waits. Dropping a
//! turn's stream interrupts the agent; the rest of that turn is read and discarded before the
//! next begins, and an agent that does not stop within [`ExecConfig::interrupt_grace`] is
//! killed.
//!
//! `protocol` is the wire format, `process` the child and its pipes, `render` what the user
//! sees and what the agent is told.

mod process;
mod protocol;
mod render;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{AbortHandle, Abortable, BoxFuture};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::usage::Price;
use crate::{
    ChatRole, Engine, EngineError, EngineEvent, EngineStream, PermissionAnswer, PermissionRequest,
    TurnRequest,
};
use process::{AgentProcess, ReadItem};
use protocol::Incoming;
use render::Reply;

/// How long an interrupted agent has to finish its turn before it is killed.
pub const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(3);

/// The longest line accepted from the agent. A longer one is skipped (and never held whole in
/// memory).
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// How many of the agent's last stderr lines an error shows.
const STDERR_IN_ERRORS: usize = 5;

/// The answer given to the agent when a permission request goes unanswered because the turn
/// ended.
const CANCELLED: &str = "the turn was cancelled";

/// Which agent to run, where, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// The program, then its arguments.
    pub command: Vec<String>,
    /// Where the agent runs.
    pub cwd: PathBuf,
    /// How long an interrupted agent may take to finish its turn before it is killed.
    pub interrupt_grace: Duration,
    /// The longest line accepted from the agent.
    pub max_line_bytes: usize,
}

impl ExecConfig {
    /// A configuration with the default grace and line limit.
    pub fn new(command: Vec<String>, cwd: PathBuf) -> ExecConfig {
        ExecConfig {
            command,
            cwd,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// The engine. Cheap to share: turns run one at a time, each in a task of its own.
pub struct Exec {
    shared: Arc<Shared>,
}

struct Shared {
    config: ExecConfig,
    /// The program as found on `PATH` (or made absolute).
    program: PathBuf,
    /// The command as the user wrote it, shortened, for messages.
    display: String,
    /// The model the agent last named.
    model: Mutex<Option<String>>,
    /// The running agent, if any. A turn holds the lock from start to end (including the
    /// drain after an interrupt), which is what makes turns run one at a time.
    slot: Arc<tokio::sync::Mutex<Option<Agent>>>,
    /// Bumped by [`Engine::reset`]: an agent started before the last reset is stale.
    generation: AtomicU64,
    /// Ids for our control requests.
    next_request: AtomicU64,
}

/// A running agent and what tether knows of its conversation.
struct Agent {
    process: AgentProcess,
    generation: u64,
    /// From the agent's `init`; empty until then.
    session_id: String,
    /// User messages sent: none means the agent knows nothing of the conversation yet.
    turns: u64,
    /// The permission mode last set (a new agent starts in its default mode).
    plan_mode: bool,
    /// The standing instructions last sent.
    instructions: Option<String>,
}

impl Exec {
    /// An engine for `config`. Fails if the command is empty or its program cannot be found or
    /// run; the process itself starts with the first turn.
    pub fn new(config: ExecConfig) -> Result<Exec, EngineError> {
        let Some(program) = config.command.first().filter(|p| !p.trim().is_empty()) else {
            return Err(EngineError(
                "The exec engine needs a command: the agent program and its arguments, for \
                 example `claude -p --input-format stream-json --output-format stream-json \
                 --verbose --include-partial-messages --permission-prompt-tool stdio`."
                    .into(),
            ));
        };
        if !config.cwd.is_dir() {
            return Err(EngineError(format!(
                "The agent's working directory {} is not a directory.",
                config.cwd.display()
            )));
        }
        let resolved = find_program(program, &config.cwd).map_err(EngineError)?;
        Ok(Exec {
            shared: Arc::new(Shared {
                display: display_command(&config.command),
                program: resolved,
                config,
                model: Mutex::new(None),
                slot: Arc::new(tokio::sync::Mutex::new(None)),
                generation: AtomicU64::new(0),
                next_request: AtomicU64::new(1),
            }),
        })
    }

    /// What the engine was started with.
    pub fn config(&self) -> &ExecConfig {
        &self.shared.config
    }
}

/// The executable `program` names: a path (relative to `cwd`) if it has a separator, otherwise
/// the first match on `PATH`.
fn find_program(program: &str, cwd: &Path) -> Result<PathBuf, String> {
    let as_path = Path::new(program);
    if as_path.components().count() > 1 || as_path.is_absolute() {
        let path = cwd.join(as_path);
        if !path.exists() {
            return Err(format!("The agent program `{program}` does not exist."));
        }
        if !is_executable(&path) {
            return Err(format!(
                "The agent program `{program}` is not an executable file."
            ));
        }
        return Ok(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in candidate_names(program) {
            let candidate = dir.join(&name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "The agent program `{program}` was not found on PATH. Install it, or give its full path."
    ))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(windows)]
fn candidate_names(program: &str) -> Vec<String> {
    let mut names = vec![program.to_string()];
    if Path::new(program).extension().is_none() {
        names.extend([".exe", ".cmd", ".bat", ".com"].map(|ext| format!("{program}{ext}")));
    }
    names
}

#[cfg(not(windows))]
fn candidate_names(program: &str) -> [String; 1] {
    [program.to_string()]
}

/// The command for messages: words quoted when needed, at most a line long.
fn display_command(command: &[String]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|w| {
            if !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect();
    let text = words.join(" ");
    if text.chars().count() > 120 {
        let short: String = text.chars().take(119).collect();
        format!("{short}…")
    } else {
        text
    }
}

type Item = Result<EngineEvent, EngineError>;

#[async_trait::async_trait]
impl Engine for Exec {
    fn name(&self) -> &str {
        "exec"
    }

    fn model(&self) -> String {
        self.shared
            .model
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "agent".into())
    }

    /// The agent reports its own cost with each turn.
    fn price(&self) -> Price {
        Price::default()
    }

    fn reply(&self, request: TurnRequest) -> EngineStream {
        let shared = self.shared.clone();
        let (tx, rx) = mpsc::channel::<Item>(32);
        // The turn starts when the stream is first polled (inside the runtime); until then
        // dropping the stream costs nothing.
        let start = futures::stream::once(async move {
            tokio::spawn(run_turn(shared, request, tx));
        })
        .filter_map(|()| async { None::<Item> });
        let events = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Box::pin(start.chain(events))
    }

    /// Stops the agent: the next turn starts a new one, which is told the conversation as
    /// tether's transcript now holds it.
    fn reset(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        // A turn in progress holds the agent; it is dropped when the next turn finds it stale.
        if let Ok(mut slot) = self.shared.slot.try_lock() {
            *slot = None;
        }
    }
}

impl Shared {
    fn request_id(&self) -> String {
        format!(
            "tether-{}",
            self.next_request.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn remember_model(&self, model: String) {
        *self.model.lock().unwrap_or_else(|e| e.into_inner()) = Some(model);
    }

    /// A message about the agent, without anything shaped like a key and without the value of
    /// any environment variable that looks like a secret (the agent may print its own).
    fn error(&self, text: String) -> EngineError {
        let vars = std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        });
        EngineError(redact_secrets(&text, vars))
    }
}

/// `text` without key shapes, and without the values of the secret-looking variables in `vars`.
fn redact_secrets(text: &str, vars: impl Iterator<Item = (String, String)>) -> String {
    const SECRET_WORDS: [&str; 7] = [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "AUTH",
    ];
    let mut out = crate::secret::redact(text, None);
    for (name, value) in vars {
        let name = name.to_ascii_uppercase();
        let secret = SECRET_WORDS.iter().any(|w| name.contains(w));
        if secret && value.trim().len() >= 8 && out.contains(value.as_str()) {
            out = out.replace(value.as_str(), "<redacted>");
        }
    }
    out
}

/// How a turn's reading ended.
enum TurnOutcome {
    /// The agent finished the turn (successfully or not; what it said has been sent on).
    Finished,
    /// The stream was dropped: the agent must be interrupted. Carries the permission
    /// requests still waiting, to be denied.
    Cancelled(Vec<String>),
    /// The agent's stdout closed: it exited.
    Exited,
}

async fn run_turn(shared: Arc<Shared>, request: TurnRequest, tx: mpsc::Sender<Item>) {
    // Wait for the previous turn (and the drain of an interrupted one) to be over, unless this
    // turn is given up first.
    let mut slot = tokio::select! {
        slot = shared.slot.clone().lock_owned() => slot,
        () = tx.closed() => return,
    };
    let generation = shared.generation.load(Ordering::SeqCst);
    if slot.as_ref().is_some_and(|a| a.generation != generation) {
        *slot = None;
    }

    let Some(last) = request.messages.last().filter(|m| m.role == ChatRole::User) else {
        let _ = tx
            .send(Err(EngineError(
                "There is no new message to send to the agent.".into(),
            )))
            .await;
        return;
    };

    if slot.is_none() {
        match AgentProcess::spawn(
            &shared.program,
            &shared.config.command[1..],
            &shared.config.cwd,
            shared.config.max_line_bytes,
        ) {
            Ok(process) => {
                *slot = Some(Agent {
                    process,
                    generation,
                    session_id: String::new(),
                    turns: 0,
                    plan_mode: false,
                    instructions: None,
                });
            }
            Err(e) => {
                let error = shared.error(format!(
                    "Could not start the agent (`{}`): {e}.",
                    shared.display
                ));
                let _ = tx.send(Err(error)).await;
                return;
            }
        }
    }
    let Some(agent) = slot.as_mut() else {
        return;
    };

    if agent.plan_mode != request.plan_mode {
        agent.process.send(protocol::set_permission_mode(
            &shared.request_id(),
            request.plan_mode,
        ));
        agent.plan_mode = request.plan_mode;
    }
    let earlier = if agent.turns == 0 {
        &request.messages[..request.messages.len() - 1]
    } else {
        &[]
    };
    let instructions = request
        .system
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let new_instructions = instructions.filter(|i| agent.instructions.as_deref() != Some(*i));
    let text = render::compose(new_instructions, earlier, &last.text);
    agent.instructions = instructions.map(str::to_string);
    agent
        .process
        .send(protocol::user_message(&text, &agent.session_id));
    agent.turns += 1;

    match read_turn(&shared, agent, &tx).await {
        TurnOutcome::Finished => {}
        TurnOutcome::Cancelled(pending) => {
            if !interrupt(&shared, agent, &pending).await {
                *slot = None;
            }
        }
        TurnOutcome::Exited => {
            let (status, stderr) = agent.process.exit_report(STDERR_IN_ERRORS).await;
            *slot = None;
            let status = status.map_or("its exit status is unknown".into(), |s| s.to_string());
            let mut text = format!(
                "The agent (`{}`) exited ({status}) before finishing the turn.",
                shared.display
            );
            if stderr.is_empty() {
                text.push_str(" It wrote nothing to stderr.");
            } else {
                text.push_str(" The last lines it wrote to stderr:");
                for line in stderr {
                    text.push_str("\n  ");
                    text.push_str(&line);
                }
            }
            text.push_str("\nThe next message starts it again.");
            let _ = tx.send(Err(shared.error(text))).await;
        }
    }
}

/// A permission request waiting for its answer: the id, the input to allow, and the answer.
type Waiting = BoxFuture<
    'static,
    (
        String,
        Value,
        Result<PermissionAnswer, oneshot::error::RecvError>,
    ),
>;

/// Reads the agent's output for one turn and passes it on, until the agent ends the turn,
/// exits, or the stream is dropped.
async fn read_turn(shared: &Shared, agent: &mut Agent, tx: &mpsc::Sender<Item>) -> TurnOutcome {
    let mut reply = Reply::default();
    let mut waiting: FuturesUnordered<Abortable<Waiting>> = FuturesUnordered::new();
    let mut handles: Vec<(String, AbortHandle)> = Vec::new();
    let pending = |handles: &Vec<(String, AbortHandle)>| {
        handles.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
    };
    macro_rules! emit {
        ($item:expr) => {
            if tx.send($item).await.is_err() {
                return TurnOutcome::Cancelled(pending(&handles));
            }
        };
    }

    loop {
        let item = tokio::select! {
            biased;
            () = tx.closed() => return TurnOutcome::Cancelled(pending(&handles)),
            Some(answered) = waiting.next(), if !waiting.is_empty() => {
                // An aborted wait is a withdrawn request: nothing to say.
                if let Ok((id, input, answer)) = answered {
                    handles.retain(|(h, _)| *h != id);
                    let line = match answer {
                        Ok(PermissionAnswer::Allow) => protocol::allow(&id, &input),
                        Ok(PermissionAnswer::Deny { message }) => protocol::deny(&id, &message),
                        Err(_) => protocol::deny(&id, CANCELLED),
                    };
                    agent.process.send(line);
                }
                continue;
            }
            item = agent.process.next() => item,
        };
        let line = match item {
            None => return TurnOutcome::Exited,
            Some(ReadItem::TooLong(n)) => {
                tracing::warn!(
                    "skipped a line of {n} bytes from the agent: longer than the limit of {}",
                    shared.config.max_line_bytes
                );
                continue;
            }
            Some(ReadItem::Line(line)) => line,
        };
        let incoming = match protocol::parse_line(&line) {
            Ok(incoming) => incoming,
            Err(why) => {
                tracing::warn!(
                    "skipped a line from the agent ({} bytes): {why}",
                    line.len()
                );
                continue;
            }
        };
        match incoming {
            Incoming::Init { model, session_id } => {
                if let Some(model) = model {
                    shared.remember_model(model);
                }
                if let Some(id) = session_id {
                    agent.session_id = id;
                }
            }
            Incoming::Stream { nested, event } => {
                if let Some(text) = reply.stream_event(nested, event) {
                    emit!(Ok(EngineEvent::Delta(text)));
                }
            }
            Incoming::Assistant(message) => {
                if let Some(text) = reply.assistant(message) {
                    emit!(Ok(EngineEvent::Delta(text)));
                }
            }
            Incoming::Result(result) => {
                // Requests still open are moot now: let whoever shows them take them down.
                for (id, handle) in handles.drain(..) {
                    handle.abort();
                    let _ = tx
                        .send(Ok(EngineEvent::PermissionWithdrawn { request_id: id }))
                        .await;
                }
                let _ = tx.send(Ok(EngineEvent::Usage(result.usage))).await;
                if let Some(error) = result.error {
                    let _ = tx
                        .send(Err(shared.error(crate::sentence::end_sentence(&format!(
                            "The agent ended the turn with an error: {error}"
                        )))))
                        .await;
                }
                return TurnOutcome::Finished;
            }
            Incoming::Permission(ask) => {
                let (request, answer) = PermissionRequest::new(
                    ask.request_id.clone(),
                    ask.tool_name,
                    ask.input.clone(),
                    ask.description,
                );
                let id = ask.request_id;
                let input = ask.input;
                let wait: Waiting = {
                    let id = id.clone();
                    async move { (id, input, answer.await) }.boxed()
                };
                let (handle, registration) = AbortHandle::new_pair();
                waiting.push(Abortable::new(wait, registration));
                handles.push((id, handle));
                emit!(Ok(EngineEvent::Permission(request)));
            }
            Incoming::CancelRequest { request_id } => {
                if let Some(at) = handles.iter().position(|(id, _)| *id == request_id) {
                    handles.remove(at).1.abort();
                    emit!(Ok(EngineEvent::PermissionWithdrawn { request_id }));
                }
            }
            Incoming::UnsupportedRequest {
                request_id,
                subtype,
            } => {
                tracing::debug!("declined the agent's `{subtype}` request");
                agent.process.send(protocol::control_error(
                    &request_id,
                    &format!("tether does not support `{subtype}` requests"),
                ));
            }
            Incoming::ControlResponse { request_id, error } => {
                if let Some(error) = error {
                    tracing::warn!(
                        "the agent refused request {}: {error}",
                        request_id.unwrap_or_default()
                    );
                }
            }
            Incoming::Ignored => {}
        }
    }
}

/// Interrupts the turn in progress and reads what is left of it, up to its `result`. Denies
/// the permission requests still open, and any the agent makes meanwhile. Returns whether the
/// agent is still usable; if it did not finish in time, it is killed.
async fn interrupt(shared: &Shared, agent: &mut Agent, pending: &[String]) -> bool {
    agent
        .process
        .send(protocol::interrupt(&shared.request_id()));
    for id in pending {
        agent.process.send(protocol::deny(id, CANCELLED));
    }
    let deadline = tokio::time::Instant::now() + shared.config.interrupt_grace;
    loop {
        let item = match tokio::time::timeout_at(deadline, agent.process.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => return false,
            Err(_) => {
                tracing::warn!(
                    "the agent did not stop within {:?} of being interrupted; killing it",
                    shared.config.interrupt_grace
                );
                agent.process.kill();
                return false;
            }
        };
        let ReadItem::Line(line) = item else {
            continue;
        };
        match protocol::parse_line(&line) {
            Ok(Incoming::Result(_)) => return true,
            Ok(Incoming::Init { model, session_id }) => {
                if let Some(model) = model {
                    shared.remember_model(model);
                }
                if let Some(id) = session_id {
                    agent.session_id = id;
                }
            }
            Ok(Incoming::Permission(ask)) => {
                agent
                    .process
                    .send(protocol::deny(&ask.request_id, CANCELLED));
            }
            Ok(Incoming::UnsupportedRequest { request_id, .. }) => {
                agent
                    .process
                    .send(protocol::control_error(&request_id, CANCELLED));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_and_shortens() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(display_command(&words(&["claude", "-p"])), "claude -p");
        assert_eq!(
            display_command(&words(&["agent", "two words", "it's", ""])),
            "agent 'two words' 'it'\\''s' ''"
        );
        let long = display_command(&words(&["x", &"y".repeat(500)]));
        assert_eq!(long.chars().count(), 120);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn errors_leave_secrets_out() {
        let vars = [
            ("MY_SERVICE_TOKEN", "tok-1234567890"),
            ("ANTHROPIC_API_KEY", "not-an-sk-shape-abcdef"),
            ("HOME", "/home/someone"),
            ("SHORT_KEY", "abc"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        let text = "exited: token tok-1234567890, key not-an-sk-shape-abcdef, \
                    sk-ant-api03-AAAAAAAAAAAAAAAAAAAA, home /home/someone, abc";
        let out = redact_secrets(text, vars.into_iter());
        assert_eq!(
            out,
            "exited: token <redacted>, key <redacted>, <redacted>, home /home/someone, abc"
        );
    }

    #[test]
    fn config_defaults() {
        let c = ExecConfig::new(vec!["claude".into()], PathBuf::from("/"));
        assert_eq!(c.interrupt_grace, Duration::from_secs(3));
        assert_eq!(c.max_line_bytes, 8 * 1024 * 1024);
    }

    #[cfg(unix)]
    #[test]
    fn programs_are_found_or_refused() {
        let cwd = std::env::temp_dir();
        let err = |command: Vec<String>| match Exec::new(ExecConfig::new(command, cwd.clone())) {
            Err(e) => e.0,
            Ok(_) => panic!("expected an error"),
        };
        assert!(err(vec![]).contains("needs a command"));
        assert!(err(vec!["  ".into()]).contains("needs a command"));
        assert!(err(vec!["tether-no-such-agent-zz".into()]).contains("not found on PATH"));
        assert!(err(vec!["/no/such/agent".into()]).contains("does not exist"));
        let plain = cwd.join(format!("tether-exec-test-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        let refused = err(vec![plain.to_string_lossy().into_owned()]);
        std::fs::remove_file(&plain).unwrap();
        assert!(refused.contains("not an executable"), "{refused}");
        assert!(err(vec!["/".into()]).contains("not an executable"));
        assert!(Exec::new(ExecConfig::new(vec!["sh".into()], cwd.clone())).is_ok());
        let bad_cwd = ExecConfig::new(vec!["sh".into()], PathBuf::from("/no/such/dir"));
        assert!(
            Exec::new(bad_cwd)
                .err()
                .unwrap()
                .0
                .contains("not a directory")
        );
    }
}
