//! The conversation loop every surface shares. The REPL, `tether -p`, piped standard input and
//! `--remote` are this one driver with different surfaces attached:
//!
//! - [`Input`]s arrive on one channel, from whatever the surfaces are (the line editor, standard
//!   input, the bridge, signals, a key reader) — so there is one `select!`, not one per mode;
//! - the terminal draws every [`Output`] (a [`Sink`]), and a [`Console`] is where it reads lines
//!   and asks permission questions;
//! - a [`Publisher`] (the bridge worker), when the session is published, gets every output as a
//!   typed [`Payload`] and the worker state.
//!
//! The driver owns what used to be spread across the modes: the queue (input that arrives while a
//! turn runs waits its turn, in order), the worker-state rule, the approvals (an answer typed at
//! the prompt, a client's `control_response`), and the prompt: while a question waits it is on
//! screen and answerable, and any other line typed meanwhile is queued and said to be.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tether_engines::PermissionAnswer;
use tether_engines::permission::PermissionQuestion;
use tether_protocol::Origin;
use tether_protocol::api::WorkerState;
use tether_protocol::payload::{ControlRequest, Payload, Verdict, WaitingFor};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::approvals::{Approvals, parse_answer};
use crate::output::{Output, Sink};
use crate::preferences::Preferences;
use crate::session::{Flow, Session};
use crate::wire;

/// Everything that can happen to a conversation, from any surface.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A line typed at the terminal (or read from standard input).
    Line(String),
    /// An event a client published, with its id, from the bridge.
    Client {
        /// The event's id.
        id: String,
        /// What it says.
        payload: Payload,
    },
    /// Ctrl-C at the prompt: stop the reply that is running, if any.
    Interrupt,
    /// SIGINT: stop the reply that is running; with nothing running, end the session.
    Signal,
    /// A permission answer given at the terminal without a line (a key).
    Answer {
        /// The request answered.
        request_id: String,
        /// The answer.
        answer: PermissionAnswer,
    },
    /// The terminal will type nothing more, but clients may: keep serving them.
    InputClosed,
    /// The end of input (Ctrl-D, the end of a pipe): finish what is queued, then end.
    Eof,
    /// The terminal failed; finish what is queued, then end.
    Failed(String),
    /// SIGTERM: stop the reply that is running, finish what is queued, then end.
    Shutdown,
    /// Something the person must know that no turn produced (the relay link stopped for
    /// good): shown as an error once nothing runs.
    Notice(String),
}

/// How the console asks permission questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The question is the prompt; the answer is a typed line (`y`, `n`).
    AtPrompt,
    /// The console reads single keys while the question waits and sends an [`Input::Answer`].
    ByKey,
    /// No one is there to ask (`-p`, a pipe): every request is denied at once, saying why.
    Refuse,
}

/// The prompt the console is asked to show for the next line.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    /// Text to put back in the line before it is read (a message whose turn failed).
    pub refill: Option<String>,
    /// The installed commands changed since the last prompt: completion must be rebuilt.
    pub commands_changed: bool,
    /// The preferences changed since the last prompt (key bindings, colours).
    pub preferences: Option<Preferences>,
}

/// Where the terminal reads lines and asks questions. The driver decides when; the console only
/// shows what it is told, and sends what is typed as [`Input`]s.
pub trait Console {
    /// How this console asks permission questions.
    fn asks(&self) -> Ask;
    /// Whether a message whose turn failed can be put back in the line (an editor can; a pipe
    /// cannot).
    fn refills(&self) -> bool;
    /// Show the prompt and read one line.
    fn ready(&mut self, session: &Session, ready: Ready);
    /// Ask about `question` (by [`Console::asks`]: as the prompt, or by key).
    fn ask(&mut self, question: &PermissionQuestion);
    /// `request_id` stopped waiting (answered anywhere, withdrawn, or its turn ended).
    fn settled(&mut self, _request_id: &str) {}
    /// `line` was typed while something ran or a question waited: it runs later.
    fn queued(&mut self, _line: &str) {}
}

/// The relay's side of a published session, as the driver uses it (the bridge worker).
pub trait Publisher {
    /// Publish `payload` to every client; never blocks. Returns the event's id.
    fn publish(&self, payload: Payload) -> String;
    /// Report the terminal's state, with what it waits for in `requires_action`.
    fn state(&self, state: WorkerState, waiting: Option<WaitingFor>);
    /// Wait (bounded) until what was published is delivered: a hand-off opens a browser only
    /// once the conversation is complete there.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Before each turn: the session's new link, when it changed (a spent pairing secret is
    /// replaced by a fresh one).
    fn refreshed_url(&mut self) -> Option<String> {
        None
    }
    /// The title `system_init` carries.
    fn title(&self) -> &str;
}

/// How the conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// A signal stopped it (print mode exits 130).
    pub interrupted: bool,
}

/// What the driver is told besides its surfaces.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// SIGINT ends the session at once, even mid-turn (print mode: a script's Ctrl-C).
    pub signal_ends: bool,
}

/// One message waiting to run.
#[derive(Debug, Clone, PartialEq)]
struct Queued {
    text: String,
    origin: Origin,
    /// The id of the client's `user_message` event that carried it.
    event: Option<String>,
}

/// What the console shows now.
#[derive(Debug, Clone, PartialEq)]
enum Showing {
    Nothing,
    Ready,
    /// The question about this request.
    Question(String),
}

/// What a client's event asks of the conversation: a pure rule over the typed payload.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAction {
    /// A message for the conversation.
    Message(String),
    /// Stop the running reply.
    Interrupt,
    /// Answer a permission request.
    Answer {
        /// The request.
        request_id: String,
        /// The answer.
        answer: PermissionAnswer,
    },
    /// Nothing to do (relay notices, unknown types, a malformed answer).
    Ignore,
}

/// The deny message a client's answer carries at most, in characters.
const DENY_MESSAGE_MAX: usize = 2000;

/// What `payload`, published by a client, asks for.
pub fn client_action(payload: Payload) -> ClientAction {
    match payload {
        Payload::UserMessage(m) => ClientAction::Message(m.text),
        Payload::ControlRequest(ControlRequest::Interrupt { .. }) => ClientAction::Interrupt,
        Payload::ControlResponse(r) => ClientAction::Answer {
            request_id: r.request_id,
            answer: answer_from(r.response),
        },
        Payload::Unknown { kind, .. }
            if kind == tether_protocol::event::types::CONTROL_RESPONSE =>
        {
            tracing::warn!("a control_response without a behavior of allow or deny was ignored");
            ClientAction::Ignore
        }
        _ => ClientAction::Ignore,
    }
}

/// A client's verdict as the agent gets it: a deny always says something, and not too much.
pub fn answer_from(verdict: Verdict) -> PermissionAnswer {
    match verdict {
        Verdict::Allow => PermissionAnswer::Allow,
        Verdict::Deny { message } => PermissionAnswer::Deny {
            message: message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| "The user denied this from a connected device.".into())
                .chars()
                .take(DENY_MESSAGE_MAX)
                .collect(),
        },
    }
}

/// The worker state an output moves the session to, if any: a waiting request is
/// `requires_action`; once none waits, `running` again.
pub fn state_after(
    output: &Output,
    still_waiting: bool,
) -> Option<(WorkerState, Option<WaitingFor>)> {
    match output {
        Output::PermissionRequest(q) => Some((
            WorkerState::RequiresAction,
            Some(WaitingFor {
                request_id: q.request_id.clone(),
                tool_name: q.tool_name.clone(),
            }),
        )),
        Output::PermissionResolved { .. } if !still_waiting => Some((WorkerState::Running, None)),
        _ => None,
    }
}

/// The driver's own sink during a turn: the terminal draws, the publisher publishes, and what
/// the driver must know afterwards is noted.
struct Fanout<'a> {
    terminal: &'a mut dyn Sink,
    /// The event that carries the turn's message: the client's, or the terminal's once published.
    event: Option<String>,
    publisher: Option<&'a dyn Publisher>,
    approvals: &'a Approvals,
    /// URLs to open once pending events are delivered (`/desktop` hands over the session).
    open: Vec<String>,
    /// The terminal's message of a turn that failed before any reply.
    unsent: Option<String>,
    commands_changed: bool,
    preferences: Option<Preferences>,
}

impl Sink for Fanout<'_> {
    fn emit(&mut self, output: Output) {
        if let Some(publisher) = self.publisher {
            if let Some(mut payload) = wire::publication_for(&output) {
                if let Payload::CommandOutput(o) = &mut payload
                    && o.unsent.is_some()
                {
                    o.unsent_id = self.event.clone();
                }
                let id = publisher.publish(payload);
                if let Output::User {
                    origin: Origin::Terminal,
                    ..
                } = output
                {
                    self.event = Some(id);
                }
            }
            let waiting = !self.approvals.pending().is_empty();
            if let Some((state, details)) = state_after(&output, waiting) {
                publisher.state(state, details);
            }
        }
        match &output {
            Output::TurnFailed {
                text,
                origin: Origin::Terminal,
                ..
            } => self.unsent = Some(text.clone()),
            Output::CommandsChanged => self.commands_changed = true,
            Output::PreferencesChanged(p) => self.preferences = Some(p.clone()),
            _ => {}
        }
        match output {
            Output::OpenUrl(url) if self.publisher.is_some() => self.open.push(url),
            other => self.terminal.emit(other),
        }
    }
}

/// The conversation loop; [`Driver::run`] drives it until it ends.
pub struct Driver<'a> {
    session: &'a mut Session,
    terminal: &'a mut dyn Sink,
    publisher: Option<&'a mut dyn Publisher>,
    inputs: UnboundedReceiver<Input>,
    state: State<'a>,
}

/// What inputs change, kept apart from the session so that a running turn (which holds the
/// session) and the inputs arriving meanwhile can be handled at once.
struct State<'a> {
    console: &'a mut dyn Console,
    approvals: Arc<Approvals>,
    options: Options,
    queue: VecDeque<Queued>,
    showing: Showing,
    /// The console can still read lines.
    typing: bool,
    leaving: bool,
    interrupted: bool,
    /// The request the console was last asked about (so each is asked once).
    asked: Option<String>,
    /// Errors to show once nothing runs (the terminal failed, the relay link stopped).
    problems: Vec<String>,
    /// For the next prompt: a message whose turn failed, and what changed.
    unsent: Option<String>,
    commands_changed: bool,
    preferences: Option<Preferences>,
    /// The model `system_init` last named (an agent names its model only once it has started).
    model: String,
}

impl<'a> Driver<'a> {
    /// A driver over `session`, drawing on `terminal`, reading and asking at `console`,
    /// publishing through `publisher` when given, with every surface's input on `inputs`.
    pub fn new(
        session: &'a mut Session,
        terminal: &'a mut dyn Sink,
        console: &'a mut dyn Console,
        publisher: Option<&'a mut dyn Publisher>,
        inputs: UnboundedReceiver<Input>,
        options: Options,
    ) -> Driver<'a> {
        let approvals = session.approvals();
        let model = session.engine().model();
        Driver {
            session,
            terminal,
            publisher,
            inputs,
            state: State {
                console,
                approvals,
                options,
                queue: VecDeque::new(),
                showing: Showing::Nothing,
                typing: true,
                leaving: false,
                interrupted: false,
                asked: None,
                problems: Vec::new(),
                unsent: None,
                commands_changed: false,
                preferences: None,
                model,
            },
        }
    }

    /// Runs the conversation until an input or a command ends it.
    pub async fn run(mut self) -> Ended {
        if let Some(p) = &self.publisher {
            p.publish(wire::system_init(self.session, p.title()));
        }
        let mut waiting = self.state.approvals.watch();
        self.prompt();
        loop {
            if self.state.leaving && self.state.queue.is_empty() {
                break;
            }
            if let Some(next) = self.state.queue.pop_front() {
                if self.turn(next, &mut waiting).await == Flow::Exit {
                    break;
                }
                if self.state.interrupted && self.state.options.signal_ends {
                    break;
                }
                self.prompt();
                continue;
            }
            let Some(input) = self.inputs.recv().await else {
                break;
            };
            self.state.input(input, None);
            for e in self.state.problems.drain(..) {
                self.terminal.emit(Output::Error(e));
            }
            self.prompt();
        }
        Ended {
            interrupted: self.state.interrupted,
        }
    }

    /// One queued message, start to end, with every input that arrives meanwhile.
    async fn turn(
        &mut self,
        next: Queued,
        waiting: &mut tokio::sync::watch::Receiver<crate::approvals::Pending>,
    ) -> Flow {
        if let Some(p) = self.publisher.as_deref_mut() {
            if let Some(url) = p.refreshed_url() {
                self.session.set_remote_url(url);
            }
            p.state(WorkerState::Running, None);
        }
        let cancel = CancellationToken::new();
        let approvals = Arc::clone(&self.state.approvals);
        let mut fanout = Fanout {
            terminal: &mut *self.terminal,
            event: next.event.clone(),
            publisher: self.publisher.as_deref().map(|p| p as &dyn Publisher),
            approvals: &approvals,
            open: Vec::new(),
            unsent: None,
            commands_changed: false,
            preferences: None,
        };
        let flow = {
            let turn = self
                .session
                .submit(&next.text, next.origin, &mut fanout, &cancel);
            tokio::pin!(turn);
            loop {
                tokio::select! {
                    flow = &mut turn => break flow,
                    input = self.inputs.recv() => match input {
                        Some(input) => self.state.input(input, Some(&cancel)),
                        None => {
                            cancel.cancel();
                            self.state.leaving = true;
                        }
                    },
                    changed = waiting.changed() => {
                        if changed.is_ok() {
                            let first = waiting.borrow_and_update().first().cloned();
                            self.state.question(first);
                        }
                    }
                }
            }
        };
        let Fanout {
            open,
            unsent,
            commands_changed,
            preferences,
            ..
        } = fanout;
        let state = &mut self.state;
        state.commands_changed |= commands_changed;
        if preferences.is_some() {
            state.preferences = preferences;
        }
        if unsent.is_some() && state.console.refills() {
            state.unsent = unsent;
        }
        for e in state.problems.drain(..) {
            self.terminal.emit(Output::Error(e));
        }
        if let Some(asked) = state.asked.take() {
            state.console.settled(&asked);
        }
        if let Some(p) = self.publisher.as_deref() {
            p.state(WorkerState::Idle, None);
            if !open.is_empty() {
                // Hand-off: the browser must find the conversation complete when it opens.
                p.flush().await;
                for url in open {
                    self.terminal.emit(Output::OpenUrl(url));
                }
            }
            let model = self.session.engine().model();
            if commands_changed || model != state.model {
                state.model = model;
                p.publish(wire::system_init(self.session, p.title()));
            }
        }
        flow
    }

    /// Shows the console the prompt it should have now, if it shows none.
    fn prompt(&mut self) {
        let Some(ready) = self.state.next_prompt() else {
            return;
        };
        if ready.refill.is_some() {
            self.terminal.emit(Output::Info(
                "Your message is back at the prompt: Enter sends it again.".into(),
            ));
        }
        self.state.console.ready(self.session, ready);
        self.state.showing = Showing::Ready;
    }
}

impl State<'_> {
    /// One input; `running` is the cancel of the turn that runs, if one does.
    fn input(&mut self, input: Input, running: Option<&CancellationToken>) {
        match input {
            Input::Line(line) => self.line(line, running.is_some()),
            Input::Client { id, payload } => match client_action(payload) {
                ClientAction::Message(text) => self.queue.push_back(Queued {
                    text,
                    origin: Origin::Bridge,
                    event: Some(id),
                }),
                ClientAction::Interrupt => {
                    if let Some(c) = running {
                        c.cancel();
                    }
                }
                ClientAction::Answer { request_id, answer } => {
                    // A second answer (another device, or the terminal was first) changes nothing.
                    let _ = self.approvals.answer(&request_id, answer, Origin::Bridge);
                }
                ClientAction::Ignore => {
                    tracing::debug!(event = %id, "a client event with nothing to do")
                }
            },
            Input::Interrupt => {
                if let Some(c) = running {
                    c.cancel();
                }
            }
            // Mid-turn a signal stops the reply (and, in print mode, the session); with
            // nothing running it ends the session, as it would a server.
            Input::Signal => match running {
                Some(c) => {
                    c.cancel();
                    self.interrupted |= self.options.signal_ends;
                }
                None => {
                    self.interrupted |= self.options.signal_ends;
                    self.leaving = true;
                }
            },
            Input::Answer { request_id, answer } => {
                let _ = self.approvals.answer(&request_id, answer, Origin::Terminal);
            }
            Input::InputClosed => self.stop_typing(),
            Input::Eof => {
                self.stop_typing();
                self.leaving = true;
            }
            Input::Notice(e) => self.problems.push(e),
            Input::Failed(e) => {
                self.problems.push(e);
                self.stop_typing();
                self.leaving = true;
            }
            Input::Shutdown => {
                if let Some(c) = running {
                    c.cancel();
                }
                self.leaving = true;
            }
        }
    }

    fn stop_typing(&mut self) {
        self.typing = false;
        self.showing = Showing::Nothing;
    }

    /// A typed line: the answer to the waiting question, or a message (for later, if something
    /// runs).
    fn line(&mut self, line: String, running: bool) {
        let was = std::mem::replace(&mut self.showing, Showing::Nothing);
        let first = self.approvals.pending().into_iter().next();
        match (first, parse_answer(&line)) {
            (Some(q), Some(answer)) => {
                let _ = self
                    .approvals
                    .answer(&q.request_id, answer, Origin::Terminal);
            }
            // The question was answered elsewhere while the prompt showed it.
            (None, Some(_)) if matches!(was, Showing::Question(_)) => {}
            _ if line.trim().is_empty() => {}
            _ => {
                if running {
                    self.console.queued(&line);
                }
                self.queue.push_back(Queued {
                    text: line,
                    origin: Origin::Terminal,
                    event: None,
                });
            }
        }
        // A question still waiting stays on screen, answerable.
        if running {
            let first = self.approvals.pending().into_iter().next();
            self.question(first);
        }
    }

    /// The first waiting request changed: ask about it, as the console asks.
    fn question(&mut self, first: Option<PermissionQuestion>) {
        let Some(q) = first else {
            if let Some(asked) = self.asked.take() {
                self.console.settled(&asked);
            }
            return;
        };
        match self.console.asks() {
            Ask::Refuse => {
                let _ = self.approvals.answer(
                    &q.request_id,
                    PermissionAnswer::Deny {
                        message: "tether is not running interactively, so no one can approve \
                                  this; allow the tool in the agent's own settings instead"
                            .into(),
                    },
                    Origin::Terminal,
                );
            }
            Ask::ByKey => {
                if self.asked.as_deref() != Some(q.request_id.as_str()) {
                    if let Some(old) = self.asked.replace(q.request_id.clone()) {
                        self.console.settled(&old);
                    }
                    self.console.ask(&q);
                }
            }
            // The prompt can only change when it is not reading: a line typed at a prompt
            // already showing answers the question too.
            Ask::AtPrompt => {
                if self.typing && self.showing == Showing::Nothing {
                    self.console.ask(&q);
                    self.showing = Showing::Question(q.request_id.clone());
                    self.asked = Some(q.request_id);
                }
            }
        }
    }

    /// The prompt the console should be shown now, if it shows none.
    fn next_prompt(&mut self) -> Option<Ready> {
        if !self.typing || self.showing != Showing::Nothing {
            return None;
        }
        // The console reads again once nothing typed here is waiting to run.
        if self.queue.iter().any(|q| q.origin == Origin::Terminal) {
            return None;
        }
        Some(Ready {
            refill: self.unsent.take(),
            commands_changed: std::mem::take(&mut self.commands_changed),
            preferences: self.preferences.take(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_client(kind: &str, payload: serde_json::Value) -> ClientAction {
        client_action(Payload::parse(kind, &payload))
    }

    #[test]
    fn control_response_answers() {
        assert_eq!(
            from_client(
                "control_response",
                json!({"request_id": "r", "response": {"behavior": "allow"}})
            ),
            ClientAction::Answer {
                request_id: "r".into(),
                answer: PermissionAnswer::Allow
            }
        );
        assert_eq!(
            from_client(
                "control_response",
                json!({"request_id": "r", "response": {"behavior": "deny", "message": "not now"}})
            ),
            ClientAction::Answer {
                request_id: "r".into(),
                answer: PermissionAnswer::Deny {
                    message: "not now".into()
                }
            }
        );
        assert!(matches!(
            from_client("control_response", json!({"request_id": "r", "response": {"behavior": "deny", "message": "  "}})),
            ClientAction::Answer { answer: PermissionAnswer::Deny { message }, .. } if message.contains("connected device")
        ));
        for hostile in [
            json!({"request_id": "r"}),
            json!({"request_id": "r", "response": "allow"}),
            json!({"request_id": "r", "response": {"behavior": "ALLOW"}}),
            json!({"request_id": "r", "response": {"behavior": true}}),
            json!({"request_id": "r", "behavior": "allow"}),
            json!({"response": {"behavior": "allow"}}),
        ] {
            assert_eq!(
                from_client("control_response", hostile.clone()),
                ClientAction::Ignore,
                "{hostile}"
            );
        }
        let long = "x".repeat(10_000);
        assert!(matches!(
            from_client("control_response", json!({"request_id": "r", "response": {"behavior": "deny", "message": long}})),
            ClientAction::Answer { answer: PermissionAnswer::Deny { message }, .. } if message.len() == 2000
        ));
    }

    #[test]
    fn client_events_become_actions() {
        assert_eq!(
            from_client("user_message", json!({"text": "hi", "origin": "client"})),
            ClientAction::Message("hi".into())
        );
        assert_eq!(
            from_client(
                "control_request",
                json!({"request_id": "r", "subtype": "interrupt"})
            ),
            ClientAction::Interrupt
        );
        for (kind, payload) in [
            ("user_message", json!({"origin": "client"})),
            // Only the terminal asks permission; a client's request is not acted on.
            (
                "control_request",
                json!({"request_id": "r", "subtype": "can_use_tool", "tool_name": "Bash"}),
            ),
            ("control_request", json!({"subtype": "interrupt"})),
            ("catch_up_truncated", json!({"oldest_seq": 3})),
            ("some_future_type", json!({})),
        ] {
            assert_eq!(
                from_client(kind, payload.clone()),
                ClientAction::Ignore,
                "{kind} {payload}"
            );
        }
    }

    #[test]
    fn the_worker_state_follows_the_requests() {
        let q = PermissionQuestion {
            request_id: "r1".into(),
            tool_name: "Bash".into(),
            input: json!({}),
            description: None,
        };
        assert_eq!(
            state_after(&Output::PermissionRequest(q), true),
            Some((
                WorkerState::RequiresAction,
                Some(WaitingFor {
                    request_id: "r1".into(),
                    tool_name: "Bash".into()
                })
            ))
        );
        let resolved = Output::PermissionResolved {
            request_id: "r1".into(),
            resolution: crate::approvals::Resolution::Cancelled,
        };
        assert_eq!(
            state_after(&resolved, false),
            Some((WorkerState::Running, None))
        );
        assert_eq!(state_after(&resolved, true), None, "another still waits");
        assert_eq!(state_after(&Output::Info("x".into()), false), None);
    }
}
