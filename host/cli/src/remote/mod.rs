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
    /// URLs to open once pending events are delivered (`/desktop` hands over the session).
    open: Vec<String>,
}

impl Sink for Surfaces<'_> {
    fn emit(&mut self, output: Output) {
        if let Some(p) = publication_for(&output) {
            self.worker.publish(p.kind, p.payload);
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
    let mut loaded = startup::load()?;
    let prefs = startup::preferences(&loaded.dirs, &mut loaded.warnings);
    let engine = startup::engine(args.engine);
    let dirs = loaded.dirs.clone();
    let title = title();
    let mut link = Link::start(&args.remote, &dirs, &title).await?;
    let remote = RemoteInfo {
        session_id: link.session_id.clone(),
        url: link.url(),
    };
    let mut session = startup::session_with(loaded, engine, prefs.clone(), Some(remote))?;
    let init = system_init(&session, &title);
    link.worker.publish(init.kind, init.payload);

    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let external = ExternalPrinter::<String>::default();
    let printer = prompt::PromptPrinter::new(external.sender());
    let mut terminal = TerminalSink::new(Mode::Interactive, &prefs);
    if interactive {
        terminal = terminal.with_printer(printer.clone());
    }
    banner(&mut session, &mut terminal, &link, started).await;

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
    let prompt_for = |session: &Session, terminal: &mut TerminalSink| {
        let prefs = terminal.prefs_changed.take();
        Prompt {
            prompt: StatusPrompt::new(session),
            completer: std::mem::take(&mut terminal.commands_changed)
                .then(|| SlashCompleter::new(session)),
            vim: prefs.as_ref().map(|p| p.vim),
            colors: prefs.as_ref().map(|p| p.theme != "mono"),
        }
    };
    let _ = editor.prompts.send(prompt_for(&session, &mut terminal));

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
                open: Vec::new(),
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
                            Some(Typed::Line(line)) => queue.push_back((line, Origin::Terminal)),
                            Some(Typed::Interrupt) => cancel.cancel(),
                            Some(Typed::Eof) | None => { leaving = true; typing_open = false; }
                            Some(Typed::InputClosed) => typing_open = false,
                            Some(Typed::Failed(e)) => { tracing::error!("{e}"); leaving = true; typing_open = false; }
                        },
                        message = link.inbound.recv(), if !stopped => match message {
                            Some(message) => {
                                if let Some(input) = inbound(message, &cancel, &mut stopped) {
                                    queue.push_back((input, Origin::Bridge));
                                }
                            }
                            None => stopped = true,
                        },
                    }
                }
            };
            let open = std::mem::take(&mut surfaces.open);
            link.worker.set_state(WorkerState::Idle, None);
            if !open.is_empty() {
                // Hand-off: the browser must find the conversation complete when it opens.
                link.worker.flush(Duration::from_secs(3)).await;
                for url in open {
                    terminal.emit(Output::OpenUrl(url));
                }
            }
            if terminal.commands_changed {
                let init = system_init(&session, &title);
                link.worker.publish(init.kind, init.payload);
            }
            if origin == Origin::Terminal && typing_open {
                let _ = editor.prompts.send(prompt_for(&session, &mut terminal));
            }
            if flow == Flow::Exit {
                break;
            }
            continue;
        }
        tokio::select! {
            typed = editor.typed.recv(), if typing_open => match typed {
                Some(Typed::Line(line)) => {
                    if line.trim().is_empty() {
                        let _ = editor.prompts.send(prompt_for(&session, &mut terminal));
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
                    if let Some(input) = inbound(message, &cancel, &mut stopped) {
                        queue.push_back((input, Origin::Bridge));
                    }
                }
                None => stopped = true,
            },
            changed = status.changed(), if status_open => {
                if changed.is_ok() {
                    let now = status.borrow_and_update().clone();
                    if let tether_bridge::Status::Stopped { reason } = now {
                        terminal.error(&reason);
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
fn inbound(message: Inbound, running: &CancellationToken, stopped: &mut bool) -> Option<String> {
    match message {
        Inbound::UserMessage { text, .. } => Some(text),
        Inbound::ControlRequest { subtype, .. } if subtype == "interrupt" => {
            running.cancel();
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
