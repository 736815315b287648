//! The terminal calls its person on their devices when the session needs them (Web Push through
//! the relay, docs/protocol.md 5.10). What to call and when is [`rule`]; this is the task that
//! feeds it what the session publishes and the terminal's typing, keeps its timers, and hands
//! its calls to the worker, which seals their text under the session key.

pub mod ring;
pub mod rule;
pub mod webhook;

use std::time::{Duration, Instant};

use tether_bridge::WorkerHandle;
use tether_protocol::Payload;
use tether_protocol::api::WorkerState;
use tether_protocol::payload::ControlRequest;
use tether_session::driver::Input;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use rule::{Act, Calls, Seen, Timing};
use webhook::Webhook;

use crate::engines::config::{NotifySection, TerminalNotify};

/// The caller `[notify]` asks for in this published session, if any call would go anywhere,
/// and what the person must be told about a setting that cannot be used as it stands.
pub fn from_config(
    section: &NotifySection,
    worker: &WorkerHandle,
    about: webhook::About,
) -> (Option<Caller>, Option<String>) {
    let (webhook, warning) = match Webhook::from_config(section, about) {
        Ok(webhook) => (webhook, None),
        Err(why) => (None, Some(why)),
    };
    let ways = Ways {
        worker: (section.push != Some(false)).then(|| worker.clone()),
        webhook,
        terminal: section.terminal,
    };
    let caller = ways.any().then(|| Caller::spawn(ways, timing(section)));
    (caller, warning)
}

/// The rules' times from `[notify]` in config.toml.
fn timing(section: &NotifySection) -> Timing {
    let default = Timing::default();
    let secs = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_secs);
    Timing {
        wait: secs(section.wait_seconds, default.wait),
        long_turn: secs(section.long_turn_seconds, default.long_turn),
        quiet: secs(section.quiet_seconds, default.quiet),
    }
}

/// Where calls go: each of these that is set.
struct Ways {
    /// Web Push through the relay.
    pub worker: Option<WorkerHandle>,
    /// `[notify] webhook`.
    pub webhook: Option<Webhook>,
    /// `[notify] terminal`.
    pub terminal: TerminalNotify,
}

impl Ways {
    /// Whether any call would go anywhere.
    fn any(&self) -> bool {
        self.worker.is_some() || self.webhook.is_some() || self.terminal != TerminalNotify::Off
    }
}

/// The handle the publisher and the terminal's input tell what happened.
#[derive(Clone)]
pub struct Caller {
    seen: UnboundedSender<(Seen, Instant)>,
}

impl Caller {
    /// Starts the task, calling through the relay (`worker`: Web Push) and the webhook, each
    /// if given; it ends when every handle is dropped.
    fn spawn(ways: Ways, timing: Timing) -> Caller {
        let (seen, received) = unbounded_channel();
        tokio::spawn(run(ways, Calls::new(timing), received));
        Caller { seen }
    }

    fn see(&self, seen: Seen) {
        let _ = self.seen.send((seen, Instant::now()));
    }

    /// What a published payload tells the rules.
    pub fn published(&self, payload: &Payload) {
        let seen = match payload {
            Payload::ControlRequest(ControlRequest::CanUseTool {
                request_id,
                tool_name,
                input,
                description,
            }) => Seen::Asked {
                request_id: request_id.clone(),
                tool: tool_name.clone(),
                summary: rule::summary(tool_name, input, description.as_deref()),
            },
            Payload::ControlCancel(c) => Seen::Settled {
                request_id: c.request_id.clone(),
            },
            // Only what a "done" call can show is kept, not the whole reply.
            Payload::AssistantMessage(m) => Seen::Replied {
                text: rule::headline(&m.text),
            },
            // The terminal's own lines are seen where they are typed (`tap`).
            _ => return,
        };
        self.see(seen);
    }

    /// A device sent a message.
    pub fn phone_spoke(&self) {
        self.see(Seen::PhoneSpoke);
    }

    /// The relay held call `tag`: someone is looking at the session.
    pub fn held(&self, tag: String) {
        self.see(Seen::Held { tag });
    }

    /// What a reported worker state tells the rules.
    pub fn state(&self, state: WorkerState) {
        match state {
            WorkerState::Running => self.see(Seen::Running),
            WorkerState::Idle => self.see(Seen::Idle),
            WorkerState::RequiresAction => {}
        }
    }

    /// A sender of terminal input that marks the terminal typed in for each line, key answer
    /// or Ctrl-C, and passes everything on to `inputs` unchanged, in order.
    pub fn tap(&self, inputs: UnboundedSender<Input>) -> UnboundedSender<Input> {
        let (tapped, mut received) = unbounded_channel();
        let caller = self.clone();
        tokio::spawn(async move {
            while let Some(input) = received.recv().await {
                if matches!(
                    input,
                    Input::Line(_) | Input::Answer { .. } | Input::Interrupt
                ) {
                    caller.see(Seen::Typed);
                }
                if inputs.send(input).is_err() {
                    return;
                }
            }
        });
        tapped
    }
}

async fn run(ways: Ways, mut calls: Calls, mut received: UnboundedReceiver<(Seen, Instant)>) {
    loop {
        let next = calls.next();
        let acts = tokio::select! {
            seen = received.recv() => match seen {
                Some((seen, at)) => calls.see(seen, at),
                None => return,
            },
            _ = sleep_until(next), if next.is_some() => calls.due(Instant::now()),
        };
        for act in acts {
            if let Some(webhook) = &ways.webhook {
                webhook.send(&act);
            }
            match (&act, &ways.worker) {
                (Act::Ring { title, body }, _) => ring::ring(ways.terminal, title, body),
                (
                    Act::Call {
                        kind,
                        tag,
                        title,
                        body,
                    },
                    Some(worker),
                ) => {
                    tracing::debug!(?kind, %tag, "calling the person");
                    worker.call(*kind, tag, title, body);
                }
                (Act::Withdraw { kind, tag }, Some(worker)) => {
                    tracing::debug!(?kind, %tag, "withdrawing the call");
                    worker.withdraw(*kind, tag);
                }
                (_, None) => {}
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
