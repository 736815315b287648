//! What inputs change — the queue, what the console shows, whether anyone can still type — and
//! the prompt rule: while a question waits it stays on screen; the prompt comes back once nothing
//! typed at the terminal waits to run.

use std::collections::VecDeque;
use std::sync::Arc;

use tether_engines::PermissionAnswer;
use tether_engines::permission::PermissionQuestion;
use tether_protocol::Origin;
use tokio_util::sync::CancellationToken;

use super::rules::{ClientAction, client_action};
use super::{Ask, Console, Input, Options, Ready};
use crate::approvals::{Approvals, parse_answer};
use crate::preferences::Preferences;

/// One message waiting to run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Queued {
    pub(super) text: String,
    pub(super) origin: Origin,
    /// The id of the client's `user_message` event that carried it.
    pub(super) event: Option<String>,
}

/// What the console shows now.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Showing {
    Nothing,
    Ready,
    /// The question about this request.
    Question(String),
}

/// What inputs change, kept apart from the session so that a running turn (which holds the
/// session) and the inputs arriving meanwhile can be handled at once.
pub(super) struct State<'a> {
    pub(super) console: &'a mut dyn Console,
    pub(super) approvals: Arc<Approvals>,
    pub(super) options: Options,
    pub(super) queue: VecDeque<Queued>,
    pub(super) showing: Showing,
    /// The console can still read lines.
    pub(super) typing: bool,
    pub(super) leaving: bool,
    pub(super) interrupted: bool,
    /// The request the console was last asked about (so each is asked once).
    pub(super) asked: Option<String>,
    /// Errors to show once nothing runs (the terminal failed, the relay link stopped).
    pub(super) problems: Vec<String>,
    /// For the next prompt: a message whose turn failed, and what changed.
    pub(super) unsent: Option<String>,
    pub(super) commands_changed: bool,
    pub(super) preferences: Option<Preferences>,
    /// The model `system_init` last named (an agent names its model only once it has started).
    pub(super) model: String,
}

impl State<'_> {
    /// One input; `running` is the cancel of the turn that runs, if one does.
    pub(super) fn input(&mut self, input: Input, running: Option<&CancellationToken>) {
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
            Input::Notice(e) => {
                if running.is_none() || !self.console.notice(&e) {
                    self.problems.push(e);
                }
            }
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
    pub(super) fn question(&mut self, first: Option<PermissionQuestion>) {
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
    pub(super) fn next_prompt(&mut self) -> Option<Ready> {
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
