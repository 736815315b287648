//! The loop: one message at a time from the queue, every input handled as it arrives, during a
//! turn and between turns alike.

use std::collections::VecDeque;
use std::sync::Arc;

use tether_protocol::Origin;
use tether_protocol::api::WorkerState;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::fanout::Fanout;
use super::state::{Queued, Showing, State};
use super::{Console, Ended, Input, Options, Publisher};
use crate::output::{Output, Sink};
use crate::session::{Flow, Session};
use crate::wire;

/// The conversation loop; [`Driver::run`] drives it until it ends.
pub struct Driver<'a> {
    session: &'a mut Session,
    terminal: &'a mut dyn Sink,
    publisher: Option<&'a mut dyn Publisher>,
    inputs: UnboundedReceiver<Input>,
    state: State<'a>,
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
            new_key: false,
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
            new_key,
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
        if new_key {
            self.new_key().await;
        }
        flow
    }

    /// `/session revoke`: a new key generation through the publisher, the new code shown in the
    /// terminal only (it must never travel through the relay), and the command list published
    /// again under the new key for the devices that scan it.
    async fn new_key(&mut self) {
        let Some(p) = self.publisher.as_deref_mut() else {
            return;
        };
        match p.new_key() {
            Ok(url) => {
                self.session.set_remote_url(url);
                let cancel = CancellationToken::new();
                self.session
                    .submit("/session", Origin::Terminal, &mut *self.terminal, &cancel)
                    .await;
                self.terminal.emit(Output::Info(
                    "New session key: devices that scanned the old code can no longer read or send. Scan this one."
                        .into(),
                ));
                if let Some(p) = self.publisher.as_deref() {
                    p.publish(wire::system_init(self.session, p.title()));
                }
            }
            Err(e) => self.terminal.emit(Output::Error(e)),
        }
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
