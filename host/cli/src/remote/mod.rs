//! `tether --remote`: the conversation published on a relay. Typing in the terminal and typing
//! on a phone feed one conversation, in the order they arrive; every reply goes to both.

pub mod calls;
pub mod lan;
pub mod link;

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use tether_bridge::{Inbound, Status};
use tether_protocol::api::WorkerState;
use tether_protocol::payload::WaitingFor;
use tether_protocol::untrusted::neutralise;
use tether_protocol::{Origin, Payload};
use tether_seal::{Order, Unverified};
use tether_session::driver::{Ask, Driver, Input, Options, Publisher};
use tether_session::{RemoteInfo, Session};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::console::EditorConsole;
use crate::render::{Mode, TerminalSink};
use crate::{signals, startup};
use calls::Caller;
use link::Link;

/// The session's worker on the relay, as the driver publishes through it.
struct Published<'a> {
    link: &'a mut Link,
    title: String,
    calls: Option<Caller>,
}

impl Publisher for Published<'_> {
    fn publish(&self, payload: Payload) -> String {
        if let Some(calls) = &self.calls {
            calls.published(&payload);
        }
        self.link.worker.publish(&payload)
    }

    fn state(&self, state: WorkerState, waiting: Option<WaitingFor>) {
        if let Some(calls) = &self.calls {
            calls.state(state);
        }
        self.link
            .worker
            .set_state(state, waiting.map(|w| w.to_value()));
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {
            self.link.worker.flush(Duration::from_secs(3)).await;
        })
    }

    fn refreshed_url(&mut self) -> Option<String> {
        self.link.refresh_pairing().then(|| self.link.url())
    }

    fn new_key(&mut self) -> Result<String, String> {
        self.link.rotate_key().map_err(|e| format!("{e:#}"))
    }

    fn title(&self) -> &str {
        &self.title
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

/// What the bridge hands the terminal, as driver inputs: each client event with its id, and
/// the worker stopping for good as a notice (its reason may quote the relay); a call the relay
/// held, to the caller.
fn forward_bridge(link: &mut Link, inputs: UnboundedSender<Input>, calls: Option<Caller>) {
    let mut inbound =
        std::mem::replace(&mut link.inbound, tokio::sync::mpsc::unbounded_channel().1);
    let mut status = link.worker.status();
    tokio::spawn(async move {
        let mut status_open = true;
        loop {
            tokio::select! {
                message = inbound.recv() => match message {
                    Some(Inbound::Event { id, payload, .. }) => {
                        if let (Payload::UserMessage(_), Some(calls)) = (&payload, &calls) {
                            calls.phone_spoke();
                        }
                        if inputs.send(Input::Client { id, payload }).is_err() {
                            return;
                        }
                    }
                    Some(Inbound::Unverified { why, kind, .. }) => {
                        let notice = unverified_notice(&kind, why);
                        if inputs.send(Input::Notice(notice)).is_err() {
                            return;
                        }
                    }
                    Some(Inbound::OutOfOrder { order, .. }) => {
                        if inputs.send(Input::Notice(out_of_order_notice(order))).is_err() {
                            return;
                        }
                    }
                    Some(Inbound::Held { tag, .. }) => {
                        if let Some(calls) = &calls {
                            calls.held(tag);
                        }
                    }
                    Some(Inbound::Stopped { .. }) | None => break,
                },
                // Polling a closed channel answers at once, so it is watched only while open.
                changed = status.changed(), if status_open => {
                    if changed.is_err() {
                        status_open = false;
                        continue;
                    }
                    let now = status.borrow_and_update().clone();
                    if let Status::Stopped { reason } = now {
                        let _ = inputs.send(Input::Notice(neutralise(&reason).into_owned()));
                    }
                }
            }
        }
        // The stream is over; a stop reported after it is still said.
        while status_open && status.changed().await.is_ok() {
            let now = status.borrow_and_update().clone();
            if let Status::Stopped { reason } = now {
                let _ = inputs.send(Input::Notice(neutralise(&reason).into_owned()));
            }
        }
    });
}

/// What the terminal says about a client event that did not open: it is ignored, and the
/// person is told, since a relay that tampers with a session must not go unnoticed.
fn unverified_notice(kind: &str, why: Unverified) -> String {
    let what = match kind {
        "user_message" => "A message from a connected device",
        "control_response" => "An answer from a connected device",
        "control_request" => "A request from a connected device",
        _ => "An event from a connected device",
    };
    let advice = match why {
        Unverified::OlderKey(_) => {
            " That device scanned the code before the key was changed: scan the new one (/session)."
        }
        Unverified::NewerKey(_)
        | Unverified::Unsealed
        | Unverified::Forged
        | Unverified::Malformed => " The relay may have changed it.",
    };
    format!("{what} could not be verified ({why}) and was ignored.{advice}")
}

/// What the terminal says when a device's events arrive out of their order.
fn out_of_order_notice(order: Order) -> String {
    match order {
        Order::Gap { missing } => format!(
            "Integrity warning: {missing} event(s) from a connected device are missing: the relay dropped them."
        ),
        _ => "Integrity warning: an event from a connected device arrived out of order: the relay held it back.".to_owned(),
    }
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

    let (inputs, received) = tokio::sync::mpsc::unbounded_channel();
    signals::forward(inputs.clone(), true)?;
    let about = calls::webhook::About {
        session: link.session_id.clone(),
        title: title.clone(),
        page: link.page.clone(),
    };
    let (calls, webhook_warning) = calls::from_config(&chosen.notify, &link.worker, about);
    // The terminal's own typing reaches the driver through the caller, which mutes calls while
    // someone is at the keyboard.
    let typed = match &calls {
        Some(c) => c.tap(inputs.clone()),
        None => inputs.clone(),
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut terminal = TerminalSink::new(Mode::Interactive, &prefs);
    terminal.answer_hint = "type y or n and press Enter, or answer on a connected device";
    // The editor shows nothing until the driver asks it to, so the banner comes first.
    let (mut console, warning) = if interactive {
        EditorConsole::spawn(
            &dirs,
            &prefs,
            &session,
            Ask::AtPrompt,
            typed,
            terminal.palette.clone(),
        )
    } else {
        (EditorConsole::stdin(typed, terminal.palette.clone()), None)
    };
    if let Some(printer) = console.printer() {
        terminal = terminal.with_printer(printer);
    }
    banner(&mut session, &mut terminal, &link, started).await;
    if let Some(hint) = chosen.hint {
        terminal.info(hint);
    }
    for w in [warning, webhook_warning].into_iter().flatten() {
        terminal.error(&w);
    }
    forward_bridge(&mut link, inputs, calls.clone());
    {
        let mut published = Published {
            link: &mut link,
            title,
            calls,
        };
        Driver::new(
            &mut session,
            &mut terminal,
            &mut console,
            Some(&mut published),
            received,
            Options::default(),
        )
        .run()
        .await;
        console.close();
    }
    link.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
