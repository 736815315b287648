//! `tether --remote`: the conversation published on a relay. Typing in the terminal and typing
//! on a phone feed one conversation, in the order they arrive; every reply goes to both.

pub mod editor;
pub mod lan;
pub mod link;
pub mod prompt;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use reedline::ExternalPrinter;
use tether_bridge::{Inbound, WorkerHandle};
use tether_protocol::Origin;
use tether_protocol::api::WorkerState;
use tether_protocol::untrusted::neutralise_line;
use tether_session::approvals::{Approvals, parse_answer};
use tether_session::engine::PermissionAnswer;
use tether_session::wire::{publication_for, system_init};
use tether_session::{Flow, Output, RemoteInfo, Session, Sink};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::render::{Mode, TerminalSink};
use crate::repl::{SlashCompleter, StatusPrompt};
use crate::startup;
use editor::{Prompt, Typed};
use link::Link;

/// Every surface at once: the terminal draws, the bridge publishes.
struct Surfaces<'a> {
    terminal: &'a mut TerminalSink,
    worker: &'a WorkerHandle,
    approvals: &'a Approvals,
    /// URLs to open once pending events are delivered (`/desktop` hands over the session).
    open: Vec<String>,
    /// The terminal's message of a turn that failed before any reply: it goes back on the
    /// prompt, as in a local session.
    unsent: Option<String>,
}

impl Sink for Surfaces<'_> {
    fn emit(&mut self, output: Output) {
        if let Some(p) = publication_for(&output) {
            self.worker.publish(p.kind, p.payload);
        }
        match &output {
            Output::PermissionRequest(q) => self.worker.set_state(
                WorkerState::RequiresAction,
                Some(serde_json::json!({ "request_id": q.request_id, "tool_name": q.tool_name })),
            ),
            Output::PermissionResolved { .. } if self.approvals.pending().is_empty() => {
                self.worker.set_state(WorkerState::Running, None)
            }
            _ => {}
        }
        if let Output::TurnFailed {
            text,
            origin: Origin::Terminal,
            ..
        } = &output
        {
            self.unsent = Some(text.clone());
        }
        match output {
            Output::OpenUrl(url) => self.open.push(url),
            other => self.terminal.emit(other),
        }
    }
}

fn title() -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = cwd
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    format!("tether in {dir}")
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(conversation(args, started))
}

async fn conversation(args: &Args, started: Instant) -> Result<ExitCode> {
    let mut loaded = startup::load_for(tether_plugins::policy::Mode::Remote)?;
    let prefs = startup::preferences(&loaded.dirs, &mut loaded.warnings);
    let chosen = startup::engine(args, &loaded.dirs)?;
    let dirs = loaded.dirs.clone();
    let title = title();
    let mut link = Link::start(&args.remote, &dirs, &title).await?;
    let remote = RemoteInfo {
        session_id: link.session_id.clone(),
        url: link.url(),
    };
    let mut session = startup::session_with(loaded, chosen.engine, prefs.clone(), Some(remote))?;
    let approvals = session.approvals();
    let mut waiting = approvals.watch();
    let init = system_init(&session, &title);
    link.worker.publish(init.kind, init.payload);
    // An agent process names its model only once it has started.
    let mut model = session.engine().model();

    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let external = ExternalPrinter::<String>::default();
    let printer = prompt::PromptPrinter::new(external.sender());
    let mut terminal = TerminalSink::new(Mode::Interactive, &prefs);
    terminal.answer_hint = "type y or n and press Enter, or answer on a connected device";
    if interactive {
        terminal = terminal.with_printer(printer.clone());
    }
    banner(&mut session, &mut terminal, &link, started).await;
    if let Some(hint) = chosen.hint {
        terminal.info(hint);
    }

    let mut editor = if interactive {
        let (editor, warning) = editor::spawn(
            dirs.clone(),
            prefs.clone(),
            SlashCompleter::new(&session),
            printer,
            external,
        );
        if let Some(w) = warning {
            terminal.error(&w);
        }
        editor
    } else {
        editor::spawn_stdin()
    };
    // A failed terminal message waits here until the editor next shows the prompt.
    let mut unsent: Option<String> = None;
    let prompt_for =
        |session: &Session, terminal: &mut TerminalSink, unsent: &mut Option<String>| {
            let prefs = terminal.prefs_changed.take();
            let refill = unsent.take();
            if refill.is_some() {
                terminal.info("Your message is back at the prompt: Enter sends it again.");
            }
            Prompt {
                refill,
                prompt: StatusPrompt::new(session),
                completer: std::mem::take(&mut terminal.commands_changed)
                    .then(|| SlashCompleter::new(session)),
                vim: prefs.as_ref().map(|p| p.vim),
                colors: prefs.as_ref().map(|p| p.theme != "mono"),
            }
        };
    let _ = editor
        .prompts
        .send(prompt_for(&session, &mut terminal, &mut unsent));
    // Whether the editor shows a prompt now (it reads one line per prompt it is sent), and
    // whether that prompt asks a permission question.
    let mut reading = true;
    let mut asking = false;

    // Installed once, up front: a signal that arrives between two polls must still find a
    // handler rather than the default action, which would kill the process mid-event.
    let mut interrupts = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut queue: VecDeque<(String, Origin)> = VecDeque::new();
    let mut typing_open = true;
    let mut leaving = false;
    let mut stopped = false;
    let mut status = link.worker.status();
    // The worker's status channel closes when the worker stops for good; polling a closed
    // channel answers at once, so it is watched only while open (else the loop would spin).
    let mut status_open = true;
    loop {
        if leaving && queue.is_empty() {
            break;
        }
        if let Some((input, origin)) = queue.pop_front() {
            if link.refresh_pairing() {
                session.set_remote_url(link.url());
            }
            let cancel = CancellationToken::new();
            link.worker.set_state(WorkerState::Running, None);
            let mut surfaces = Surfaces {
                terminal: &mut terminal,
                worker: &link.worker,
                approvals: &approvals,
                open: Vec::new(),
                unsent: None,
            };
            let flow = {
                let turn = session.submit(&input, origin, &mut surfaces, &cancel);
                tokio::pin!(turn);
                loop {
                    tokio::select! {
                        flow = &mut turn => break flow,
                        _ = interrupts.recv() => cancel.cancel(),
                        _ = terminate.recv() => { cancel.cancel(); leaving = true; }
                        typed = editor.typed.recv(), if typing_open => match typed {
                            Some(Typed::Line(line)) => {
                                reading = false;
                                let asked = std::mem::take(&mut asking);
                                let first = approvals.pending().into_iter().next();
                                match (first, parse_answer(&line)) {
                                    (Some(q), Some(answer)) => {
                                        let _ = approvals.answer(&q.request_id, answer, Origin::Terminal);
                                    }
                                    // The question was answered elsewhere while the prompt showed it.
                                    (None, Some(_)) if asked => {}
                                    _ => queue.push_back((line, Origin::Terminal)),
                                }
                            }
                            Some(Typed::Interrupt) => cancel.cancel(),
                            Some(Typed::Eof) | None => { leaving = true; typing_open = false; }
                            Some(Typed::InputClosed) => typing_open = false,
                            Some(Typed::Failed(e)) => { tracing::error!("{e}"); leaving = true; typing_open = false; }
                        },
                        message = link.inbound.recv(), if !stopped => match message {
                            Some(message) => {
                                if let Some(input) = inbound(message, &cancel, &approvals, &mut stopped) {
                                    queue.push_back((input, Origin::Bridge));
                                }
                            }
                            None => stopped = true,
                        },
                        // A permission request: ask at the prompt too, if the editor is not
                        // already reading (a terminal turn hides the prompt while it runs).
                        changed = waiting.changed() => {
                            if changed.is_ok() {
                                let first = waiting.borrow_and_update().first().cloned();
                                if let Some(q) = first && !reading && typing_open {
                                    let question = format!("allow {}? [y/n] ", neutralise_line(&q.tool_name));
                                    let _ = editor.prompts.send(Prompt {
                                        refill: None,
                                        prompt: StatusPrompt::question(question),
                                        completer: None,
                                        vim: None,
                                        colors: None,
                                    });
                                    reading = true;
                                    asking = true;
                                }
                            }
                        }
                    }
                }
            };
            let open = std::mem::take(&mut surfaces.open);
            // Without an editor (standard input) there is no prompt to put it back on.
            if let Some(text) = surfaces.unsent.take()
                && interactive
            {
                unsent = Some(text);
            }
            link.worker.set_state(WorkerState::Idle, None);
            if !open.is_empty() {
                // Hand-off: the browser must find the conversation complete when it opens.
                link.worker.flush(Duration::from_secs(3)).await;
                for url in open {
                    terminal.emit(Output::OpenUrl(url));
                }
            }
            if terminal.commands_changed || session.engine().model() != model {
                model = session.engine().model();
                let init = system_init(&session, &title);
                link.worker.publish(init.kind, init.payload);
            }
            // The editor reads again once nothing typed here is waiting to run.
            let terminal_queued = queue.iter().any(|(_, o)| *o == Origin::Terminal);
            if typing_open && !reading && !terminal_queued {
                let _ = editor
                    .prompts
                    .send(prompt_for(&session, &mut terminal, &mut unsent));
                reading = true;
            }
            if flow == Flow::Exit {
                break;
            }
            continue;
        }
        tokio::select! {
            typed = editor.typed.recv(), if typing_open => match typed {
                Some(Typed::Line(line)) => {
                    reading = false;
                    let asked = std::mem::take(&mut asking);
                    if line.trim().is_empty() || (asked && parse_answer(&line).is_some()) {
                        let _ = editor.prompts.send(prompt_for(&session, &mut terminal, &mut unsent));
                        reading = true;
                    } else {
                        queue.push_back((line, Origin::Terminal));
                    }
                }
                Some(Typed::Interrupt) => {}
                Some(Typed::Eof) | None => leaving = true,
                Some(Typed::InputClosed) => typing_open = false,
                Some(Typed::Failed(e)) => { terminal.error(&e); leaving = true; }
            },
            message = link.inbound.recv(), if !stopped => match message {
                Some(message) => {
                    let cancel = CancellationToken::new();
                    if let Some(input) = inbound(message, &cancel, &approvals, &mut stopped) {
                        queue.push_back((input, Origin::Bridge));
                    }
                }
                None => stopped = true,
            },
            changed = status.changed(), if status_open => {
                if changed.is_ok() {
                    let now = status.borrow_and_update().clone();
                    if let tether_bridge::Status::Stopped { reason } = now {
                        // It may quote the relay.
                        terminal.error(&tether_protocol::untrusted::neutralise(&reason));
                    }
                } else {
                    status_open = false;
                }
            }
            // Nothing running: SIGINT (not a Ctrl-C at the prompt, which the editor reads) or
            // SIGTERM ends the session, as it would a server.
            _ = interrupts.recv() => leaving = true,
            _ = terminate.recv() => leaving = true,
        }
    }
    link.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// What a client said: text for the conversation, or a control to apply now.
fn inbound(
    message: Inbound,
    running: &CancellationToken,
    approvals: &Approvals,
    stopped: &mut bool,
) -> Option<String> {
    match message {
        Inbound::UserMessage { text, .. } => Some(text),
        Inbound::ControlRequest { subtype, .. } if subtype == "interrupt" => {
            running.cancel();
            None
        }
        Inbound::ControlResponse {
            request_id,
            payload,
            ..
        } => {
            match answer_in(&payload) {
                // A second answer (another device, or the terminal was first) changes nothing.
                Some(answer) => {
                    let _ = approvals.answer(&request_id, answer, Origin::Bridge);
                }
                None => {
                    tracing::warn!(%request_id, "a control_response without a behavior of allow or deny was ignored")
                }
            }
            None
        }
        Inbound::Stopped { .. } => {
            *stopped = true;
            None
        }
        _ => None,
    }
}

/// The QR code and URL, drawn by the `/session` command itself so the two always agree.
async fn banner(session: &mut Session, terminal: &mut TerminalSink, link: &Link, started: Instant) {
    let p = terminal.palette.clone();
    let cancel = CancellationToken::new();
    session
        .submit("/session", Origin::Terminal, terminal, &cancel)
        .await;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "QR code shown"
    );
    let relay = if link.embedded.is_some() {
        "this machine's relay".to_owned()
    } else {
        "your relay".to_owned()
    };
    terminal.info(&format!(
        "{} {} · session {} on {relay}\n{}",
        p.paint(p.heading, "tether"),
        env!("CARGO_PKG_VERSION"),
        link.session_id,
        p.paint(p.dim, "Scan the code or open the link; what you type here and there is one conversation. /session shows it again."),
    ));
}

/// The answer a `control_response` carries: `{response: {behavior: "allow" | "deny", message?}}`.
fn answer_in(payload: &serde_json::Value) -> Option<PermissionAnswer> {
    let response = payload.get("response")?;
    match response.get("behavior")?.as_str()? {
        "allow" => Some(PermissionAnswer::Allow),
        "deny" => Some(PermissionAnswer::Deny {
            message: response
                .get("message")
                .and_then(|m| m.as_str())
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("The user denied this from a connected device.")
                .chars()
                .take(2000)
                .collect(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_response_answers() {
        assert_eq!(
            answer_in(&json!({"request_id": "r", "response": {"behavior": "allow"}})),
            Some(PermissionAnswer::Allow)
        );
        assert_eq!(
            answer_in(&json!({"response": {"behavior": "deny", "message": "not now"}})),
            Some(PermissionAnswer::Deny {
                message: "not now".into()
            })
        );
        assert!(matches!(
            answer_in(&json!({"response": {"behavior": "deny", "message": "  "}})),
            Some(PermissionAnswer::Deny { message }) if message.contains("connected device")
        ));
        for hostile in [
            json!({}),
            json!({"response": "allow"}),
            json!({"response": {"behavior": "ALLOW"}}),
            json!({"response": {"behavior": true}}),
            json!({"behavior": "allow"}),
        ] {
            assert_eq!(answer_in(&hostile), None, "{hostile}");
        }
        let long = "x".repeat(10_000);
        assert!(matches!(
            answer_in(&json!({"response": {"behavior": "deny", "message": long}})),
            Some(PermissionAnswer::Deny { message }) if message.len() == 2000
        ));
    }
}
