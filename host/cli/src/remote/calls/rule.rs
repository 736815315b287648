//! When the terminal calls its person (issue: notifications): a pure machine fed what the
//! session publishes and when the terminal was typed in, answering with the calls to make and
//! withdraw. Time is passed in, so every rule is tested without a clock.
//!
//! - A permission request (or the agent's question, `AskUserQuestion`) that nobody answered
//!   within `wait` is called once; answered anywhere, its call is withdrawn.
//! - A turn that ran `long_turn` or longer is called "done" when it ends; the next turn
//!   withdraws that call.
//! - Someone at the terminal is looking: nothing is called within `quiet` of the terminal's
//!   last line or key; a request that comes due then is called once that time has passed, if
//!   it still waits.
//! - Someone is looking at the session on a page (the relay held the call): the request is
//!   called again every `RECALL` while it waits, so it reaches the person once they look away.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tether_protocol::push::PushKind;
use tether_protocol::untrusted::is_unsafe;

/// The tag of the "done" call: one per session, a later one replaces it.
pub const DONE_TAG: &str = "done";

/// How soon a call the relay held (someone was looking) is made again.
pub const RECALL: Duration = Duration::from_secs(3);

/// The longest body a call carries, in characters: a notification shows a few lines.
pub const MAX_BODY: usize = 240;

/// The times the rules use (`[notify]` in config.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a request waits unanswered before it is called.
    pub wait: Duration,
    /// A turn at least this long is called when it ends.
    pub long_turn: Duration,
    /// How long the terminal counts as watched after it was typed in.
    pub quiet: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            wait: Duration::from_secs(5),
            long_turn: Duration::from_secs(20),
            quiet: Duration::from_secs(15),
        }
    }
}

/// What the machine is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The agent asks to use a tool (`control_request` / `can_use_tool`).
    Asked {
        request_id: String,
        tool: String,
        /// What the call does, in one line: the agent's description or the tool's key input.
        summary: String,
    },
    /// A request stopped waiting (`control_cancel`), whoever answered.
    Settled { request_id: String },
    /// A reply was completed; its text is the "done" call's body.
    Replied { text: String },
    /// A turn runs.
    Running,
    /// The session is idle: the turn ended.
    Idle,
    /// The terminal was typed in.
    Typed,
    /// The relay held call `tag`: someone was looking at the session.
    Held { tag: String },
    /// A device sent a message: the next turn is the device's.
    PhoneSpoke,
}

/// What the machine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Call the person: `title` and `body` are sealed for their devices.
    Call {
        kind: PushKind,
        tag: String,
        title: String,
        body: String,
    },
    /// Withdraw an earlier call.
    Withdraw { kind: PushKind, tag: String },
    /// Notify in the terminal itself: the turn needing attention was started from a device,
    /// so the person may be looking elsewhere on this machine. Once per call.
    Ring { title: String, body: String },
}

#[derive(Debug)]
struct Waiting {
    kind: PushKind,
    title: String,
    body: String,
    due: Instant,
    called: bool,
    rung: bool,
}

/// The machine.
#[derive(Debug)]
pub struct Calls {
    timing: Timing,
    waiting: BTreeMap<String, Waiting>,
    turn_started: Option<Instant>,
    last_reply: String,
    done_called: bool,
    typed: Option<Instant>,
    /// The last message came from a device, not the terminal.
    phone_last: bool,
    /// The turn running was started by a device's message.
    turn_by_phone: bool,
}

impl Calls {
    pub fn new(timing: Timing) -> Calls {
        Calls {
            timing,
            waiting: BTreeMap::new(),
            turn_started: None,
            last_reply: String::new(),
            done_called: false,
            typed: None,
            phone_last: false,
            turn_by_phone: false,
        }
    }

    /// Takes in what happened at `now`; the calls it makes or withdraws at once.
    pub fn see(&mut self, seen: Seen, now: Instant) -> Vec<Act> {
        let mut acts = Vec::new();
        match seen {
            Seen::Asked {
                request_id,
                tool,
                summary,
            } => {
                let kind = if tool == "AskUserQuestion" {
                    PushKind::Question
                } else {
                    PushKind::Permission
                };
                let title = match kind {
                    PushKind::Question => "The agent asks a question".to_owned(),
                    _ => format!("Allow {}?", clip(&tool, 60)),
                };
                self.waiting.insert(
                    request_id,
                    Waiting {
                        kind,
                        title,
                        body: clip(&summary, MAX_BODY),
                        due: now + self.timing.wait,
                        called: false,
                        rung: false,
                    },
                );
            }
            Seen::Settled { request_id } => {
                if let Some(w) = self.waiting.remove(&request_id)
                    && w.called
                {
                    acts.push(Act::Withdraw {
                        kind: w.kind,
                        tag: request_id,
                    });
                }
            }
            Seen::Replied { text } => self.last_reply = text,
            Seen::Running => {
                if self.turn_started.is_none() {
                    self.turn_started = Some(now);
                    self.turn_by_phone = self.phone_last;
                    self.last_reply.clear();
                    if std::mem::take(&mut self.done_called) {
                        acts.push(Act::Withdraw {
                            kind: PushKind::Done,
                            tag: DONE_TAG.to_owned(),
                        });
                    }
                }
            }
            Seen::Idle => {
                // A turn that ends stops every request it made; their calls go with them.
                for (tag, w) in std::mem::take(&mut self.waiting) {
                    if w.called {
                        acts.push(Act::Withdraw { kind: w.kind, tag });
                    }
                }
                if let Some(started) = self.turn_started.take()
                    && now.saturating_duration_since(started) >= self.timing.long_turn
                    && !self.watched(now)
                {
                    self.done_called = true;
                    let body = match first_line(&self.last_reply) {
                        "" => "The agent finished its turn.".to_owned(),
                        line => clip(line, MAX_BODY),
                    };
                    let title = "The agent is done".to_owned();
                    if self.turn_by_phone {
                        acts.push(Act::Ring {
                            title: title.clone(),
                            body: body.clone(),
                        });
                    }
                    acts.push(Act::Call {
                        kind: PushKind::Done,
                        tag: DONE_TAG.to_owned(),
                        title,
                        body,
                    });
                }
            }
            Seen::Typed => {
                self.typed = Some(now);
                self.phone_last = false;
            }
            Seen::PhoneSpoke => self.phone_last = true,
            Seen::Held { tag } => match self.waiting.get_mut(&tag) {
                Some(w) => {
                    w.called = false;
                    w.due = now + RECALL;
                }
                // A "done" seen on a page needs no call later.
                None if tag == DONE_TAG => self.done_called = false,
                None => {}
            },
        }
        acts.extend(self.due(now));
        acts
    }

    /// The calls that came due by `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Act> {
        let quiet_until = self.quiet_until(now);
        let mut acts = Vec::new();
        for (tag, w) in &mut self.waiting {
            if w.called || w.due > now {
                continue;
            }
            if let Some(until) = quiet_until {
                w.due = w.due.max(until);
                continue;
            }
            w.called = true;
            if self.turn_by_phone && !std::mem::replace(&mut w.rung, true) {
                acts.push(Act::Ring {
                    title: w.title.clone(),
                    body: w.body.clone(),
                });
            }
            acts.push(Act::Call {
                kind: w.kind,
                tag: tag.clone(),
                title: w.title.clone(),
                body: w.body.clone(),
            });
        }
        acts
    }

    /// When [`Calls::due`] next has something to do.
    pub fn next(&self) -> Option<Instant> {
        self.waiting
            .values()
            .filter(|w| !w.called)
            .map(|w| w.due)
            .min()
    }

    fn quiet_until(&self, now: Instant) -> Option<Instant> {
        let until = self.typed? + self.timing.quiet;
        (until > now).then_some(until)
    }

    fn watched(&self, now: Instant) -> bool {
        self.quiet_until(now).is_some()
    }
}

/// One line of a request for its call, at most [`MAX_BODY`] characters: the agent's
/// description, else the tool's key input (the command, the path, the pattern, the URL, the
/// question), else the head of its input as JSON. Bounded work however large the input.
pub fn summary(tool: &str, input: &serde_json::Value, description: Option<&str>) -> String {
    if let Some(d) = description.map(str::trim).filter(|d| !d.is_empty()) {
        return clip(d, MAX_BODY);
    }
    if tool == "AskUserQuestion"
        && let Some(q) = input
            .pointer("/questions/0/question")
            .and_then(|q| q.as_str())
    {
        return clip(q, MAX_BODY);
    }
    for key in [
        "command",
        "file_path",
        "path",
        "notebook_path",
        "pattern",
        "url",
        "query",
        "prompt",
    ] {
        if let Some(v) = input.get(key).and_then(|v| v.as_str()) {
            return clip(v, MAX_BODY);
        }
    }
    match input {
        serde_json::Value::Null => String::new(),
        other => clip(&json_head(other, MAX_BODY * 4), MAX_BODY),
    }
}

/// The reply's first line that says something, at most [`MAX_BODY`] characters: all a "done"
/// call shows of it.
pub fn headline(text: &str) -> String {
    clip(first_line(text), MAX_BODY)
}

/// The first `max` bytes (or fewer) of `value` as JSON, without writing the rest.
fn json_head(value: &serde_json::Value, max: usize) -> String {
    struct Head(Vec<u8>, usize);
    impl std::io::Write for Head {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let room = self.1 - self.0.len();
            if room == 0 {
                return Err(std::io::Error::other("enough"));
            }
            let n = room.min(bytes.len());
            self.0.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut head = Head(Vec::new(), max);
    // Stopping early is the point: what was written is kept.
    let _ = serde_json::to_writer(&mut head, value);
    String::from_utf8_lossy(&head.0).into_owned()
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// At most `max` characters, with an ellipsis when cut; control characters and bidi controls
/// (the ones the terminal neutralises, `untrusted::is_unsafe`) become spaces: a notification
/// is one plain text, whatever the agent wrote.
fn clip(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if is_unsafe(c) { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().nth(max).is_some() {
        out.pop();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: Duration = Duration::from_secs(1);

    fn asked(id: &str, tool: &str) -> Seen {
        Seen::Asked {
            request_id: id.into(),
            tool: tool.into(),
            summary: "ls -la".into(),
        }
    }

    fn settled(id: &str) -> Seen {
        Seen::Settled {
            request_id: id.into(),
        }
    }

    fn call(kind: PushKind, tag: &str, title: &str, body: &str) -> Act {
        Act::Call {
            kind,
            tag: tag.into(),
            title: title.into(),
            body: body.into(),
        }
    }

    fn withdraw(kind: PushKind, tag: &str) -> Act {
        Act::Withdraw {
            kind,
            tag: tag.into(),
        }
    }

    #[test]
    fn a_request_unanswered_for_the_wait_is_called_once_and_withdrawn_when_answered() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        assert_eq!(c.see(Seen::Running, t0), vec![]);
        assert_eq!(c.see(asked("r1", "Bash"), t0), vec![]);
        assert_eq!(c.next(), Some(t0 + 5 * S));
        assert_eq!(c.due(t0 + 4 * S), vec![]);
        assert_eq!(
            c.due(t0 + 5 * S),
            vec![call(PushKind::Permission, "r1", "Allow Bash?", "ls -la")]
        );
        assert_eq!(c.due(t0 + 60 * S), vec![], "called once");
        assert_eq!(c.next(), None);
        assert_eq!(
            c.see(settled("r1"), t0 + 61 * S),
            vec![withdraw(PushKind::Permission, "r1")]
        );
        assert_eq!(c.see(settled("r1"), t0 + 62 * S), vec![], "withdrawn once");
    }

    #[test]
    fn a_request_answered_within_the_wait_is_never_called() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(asked("r1", "Bash"), t0);
        assert_eq!(c.see(settled("r1"), t0 + 2 * S), vec![]);
        assert_eq!(c.next(), None);
        assert_eq!(c.due(t0 + 10 * S), vec![]);
    }

    #[test]
    fn the_agents_question_is_a_question() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(asked("q", "AskUserQuestion"), t0);
        assert_eq!(
            c.due(t0 + 5 * S),
            vec![call(
                PushKind::Question,
                "q",
                "The agent asks a question",
                "ls -la"
            )]
        );
    }

    #[test]
    fn two_waiting_requests_are_two_calls_each_withdrawn_on_its_own() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(asked("a", "Bash"), t0);
        c.see(asked("b", "Edit"), t0 + S);
        assert_eq!(c.due(t0 + 5 * S).len(), 1);
        assert_eq!(c.due(t0 + 6 * S).len(), 1);
        assert_eq!(
            c.see(settled("b"), t0 + 7 * S),
            vec![withdraw(PushKind::Permission, "b")]
        );
        assert_eq!(
            c.see(Seen::Idle, t0 + 8 * S),
            vec![withdraw(PushKind::Permission, "a")],
            "the turn's end stops what it asked"
        );
    }

    #[test]
    fn typing_at_the_terminal_holds_calls_until_it_has_been_quiet() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(Seen::Typed, t0);
        c.see(asked("r1", "Bash"), t0 + S);
        assert_eq!(c.due(t0 + 6 * S), vec![], "the terminal is watched");
        assert_eq!(c.next(), Some(t0 + 15 * S));
        assert_eq!(c.due(t0 + 14 * S), vec![]);
        assert_eq!(c.due(t0 + 15 * S).len(), 1, "quiet long enough");
        // Typed again while one is held: held until quiet again.
        c.see(asked("r2", "Bash"), t0 + 31 * S);
        c.see(Seen::Typed, t0 + 33 * S);
        assert_eq!(c.due(t0 + 36 * S), vec![]);
        assert_eq!(c.next(), Some(t0 + 48 * S));
        assert_eq!(c.due(t0 + 48 * S).len(), 1);
    }

    #[test]
    fn a_call_the_relay_held_is_made_again_while_the_request_waits() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(asked("r1", "Bash"), t0);
        assert_eq!(c.due(t0 + 5 * S).len(), 1);
        let held = |tag: &str| Seen::Held { tag: tag.into() };
        assert_eq!(c.see(held("r1"), t0 + 5 * S), vec![]);
        assert_eq!(c.next(), Some(t0 + 5 * S + RECALL));
        assert_eq!(c.due(t0 + 7 * S), vec![]);
        assert_eq!(c.due(t0 + 8 * S).len(), 1, "called again");
        c.see(held("r1"), t0 + 8 * S);
        // Answered meanwhile (on the page being looked at): never called again, and nothing
        // to withdraw, since nothing was shown.
        assert_eq!(c.see(settled("r1"), t0 + 9 * S), vec![]);
        assert_eq!(c.due(t0 + 20 * S), vec![]);
        // A held "done" is not withdrawn by the next turn, and a stray tag changes nothing.
        c.see(Seen::Running, t0 + 30 * S);
        assert_eq!(c.see(Seen::Idle, t0 + 60 * S).len(), 1);
        assert_eq!(c.see(held(DONE_TAG), t0 + 60 * S), vec![]);
        assert_eq!(c.see(held("nobody"), t0 + 60 * S), vec![]);
        assert_eq!(c.see(Seen::Running, t0 + 61 * S), vec![]);
    }

    #[test]
    fn a_turn_a_device_started_rings_the_terminal_once_per_call() {
        let t0 = Instant::now();
        let timing = Timing {
            quiet: Duration::ZERO,
            ..Timing::default()
        };
        let mut c = Calls::new(timing);
        let ring = |title: &str, body: &str| Act::Ring {
            title: title.into(),
            body: body.into(),
        };
        c.see(Seen::PhoneSpoke, t0);
        c.see(Seen::Running, t0);
        c.see(asked("r1", "Bash"), t0);
        assert_eq!(
            c.due(t0 + 5 * S),
            vec![
                ring("Allow Bash?", "ls -la"),
                call(PushKind::Permission, "r1", "Allow Bash?", "ls -la")
            ]
        );
        c.see(Seen::Held { tag: "r1".into() }, t0 + 5 * S);
        assert_eq!(
            c.due(t0 + 8 * S),
            vec![call(PushKind::Permission, "r1", "Allow Bash?", "ls -la")],
            "a recall does not ring again"
        );
        c.see(settled("r1"), t0 + 9 * S);
        let acts = c.see(Seen::Idle, t0 + 30 * S);
        assert_eq!(
            acts[0],
            ring("The agent is done", "The agent finished its turn.")
        );
        // The terminal's own turn: the person is here, nothing rings.
        c.see(Seen::Typed, t0 + 31 * S);
        c.see(Seen::Running, t0 + 31 * S);
        c.see(asked("r2", "Bash"), t0 + 31 * S);
        let acts = c.due(t0 + 40 * S);
        assert_eq!(acts.len(), 1, "{acts:?}");
        assert!(matches!(acts[0], Act::Call { .. }));
    }

    #[test]
    fn a_held_request_answered_meanwhile_is_never_called() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(Seen::Typed, t0);
        c.see(asked("r1", "Bash"), t0);
        assert_eq!(c.due(t0 + 10 * S), vec![]);
        assert_eq!(c.see(settled("r1"), t0 + 11 * S), vec![]);
        assert_eq!(c.due(t0 + 40 * S), vec![]);
    }

    #[test]
    fn a_long_turn_is_called_done_with_the_replys_first_line_and_withdrawn_by_the_next() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(Seen::Running, t0);
        c.see(Seen::Running, t0 + 10 * S);
        c.see(
            Seen::Replied {
                text: "\n  All 12 tests pass.\nDetails…".into(),
            },
            t0 + 19 * S,
        );
        assert_eq!(
            c.see(Seen::Idle, t0 + 20 * S),
            vec![call(
                PushKind::Done,
                DONE_TAG,
                "The agent is done",
                "All 12 tests pass."
            )]
        );
        assert_eq!(
            c.see(Seen::Running, t0 + 30 * S),
            vec![withdraw(PushKind::Done, DONE_TAG)]
        );
        assert_eq!(c.see(Seen::Idle, t0 + 31 * S), vec![], "a short turn");
    }

    #[test]
    fn a_short_turn_or_a_watched_one_is_not_called_done() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(Seen::Running, t0);
        assert_eq!(c.see(Seen::Idle, t0 + 19 * S), vec![]);
        c.see(Seen::Running, t0 + 20 * S);
        c.see(Seen::Typed, t0 + 30 * S);
        assert_eq!(c.see(Seen::Idle, t0 + 44 * S), vec![]);
        assert_eq!(
            c.see(Seen::Running, t0 + 51 * S),
            vec![],
            "nothing to withdraw"
        );
    }

    #[test]
    fn a_done_turn_without_text_says_so() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        c.see(Seen::Running, t0);
        let acts = c.see(Seen::Idle, t0 + 25 * S);
        assert_eq!(
            acts,
            vec![call(
                PushKind::Done,
                DONE_TAG,
                "The agent is done",
                "The agent finished its turn."
            )]
        );
    }

    #[test]
    fn hostile_text_is_one_short_plain_line() {
        let t0 = Instant::now();
        let mut c = Calls::new(Timing::default());
        let tool = format!("\x1b]0;evil\x07{}", "T".repeat(500));
        c.see(
            Seen::Asked {
                request_id: "r".into(),
                tool,
                summary: format!("rm\r\n-rf \x1b[2J{}", "x".repeat(10_000)),
            },
            t0,
        );
        let acts = c.due(t0 + 5 * S);
        let Act::Call { title, body, .. } = &acts[0] else {
            panic!("{acts:?}")
        };
        assert!(title.chars().count() <= 60 + 7, "{title}");
        assert_eq!(body.chars().count(), MAX_BODY);
        assert!(body.ends_with('…'));
        for text in [title, body] {
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
    }

    #[test]
    fn a_huge_tool_input_is_summarised_from_its_head_and_bidi_is_blanked() {
        let huge = json!({"edits": ["x".repeat(5 << 20)]});
        let s = summary("MultiEdit", &huge, None);
        assert_eq!(s.chars().count(), MAX_BODY);
        assert!(s.starts_with("{\"edits\":[\"xxx"), "{s}");
        assert_eq!(json_head(&huge, 16).len(), 16, "the rest is never written");
        let command = format!("ls \u{202e}txt.exe{}", "y".repeat(5 << 20));
        assert_eq!(
            summary("Bash", &json!({ "command": command }), None)
                .chars()
                .count(),
            MAX_BODY
        );
        assert_eq!(headline("\u{2067}evil\u{2069} done"), " evil  done");
    }

    #[test]
    fn a_summary_is_the_description_else_the_key_input() {
        assert_eq!(
            summary("Bash", &json!({"command": "ls"}), Some("List files")),
            "List files"
        );
        assert_eq!(summary("Bash", &json!({"command": "ls"}), Some("  ")), "ls");
        assert_eq!(
            summary(
                "Edit",
                &json!({"file_path": "src/a.rs", "old_string": "x"}),
                None
            ),
            "src/a.rs"
        );
        assert_eq!(
            summary("WebFetch", &json!({"url": "https://x.example"}), None),
            "https://x.example"
        );
        assert_eq!(
            summary(
                "AskUserQuestion",
                &json!({"questions": [{"question": "Which DB?", "options": []}]}),
                None
            ),
            "Which DB?"
        );
        assert_eq!(summary("Mcp", &json!({"n": 1}), None), "{\"n\":1}");
        assert_eq!(summary("Mcp", &serde_json::Value::Null, None), "");
    }
}
