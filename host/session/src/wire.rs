//! What the session says on the bridge: each [`Output`] as the event PROTOCOL.md names for it.
//! A pure mapping, so that every surface shows the same conversation and the rule is tested in
//! one place. Outputs that only make sense on the terminal's machine (its clipboard, browser,
//! editor, key bindings) are not published.

use serde_json::{Value, json};
use tether_protocol::event::types;
use tether_protocol::gate::Context;
use tether_protocol::{Kind, Origin};

use crate::approvals::Resolution;
use crate::engine::PermissionAnswer;
use crate::output::{Format, Output};
use crate::session::Session;

/// An event to publish: its type and payload (the bridge adds the id).
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub kind: &'static str,
    pub payload: Value,
}

fn publication(kind: &'static str, payload: Value) -> Option<Publication> {
    Some(Publication { kind, payload })
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Terminal => "terminal",
        Origin::Bridge => "client",
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text",
        Format::Markdown => "markdown",
    }
}

/// The event for `output`, if it is one every surface should see.
pub fn publication_for(output: &Output) -> Option<Publication> {
    match output {
        // A client's message is already in the log (the client published it); the terminal's
        // is republished so that every surface shows it.
        Output::User {
            text,
            origin: Origin::Terminal,
        } => publication(
            types::USER_MESSAGE,
            json!({ "text": text, "origin": origin_name(Origin::Terminal) }),
        ),
        Output::User {
            origin: Origin::Bridge,
            ..
        } => None,
        Output::AssistantStart { .. } => None,
        Output::AssistantDelta { message_id, text } => publication(
            types::ASSISTANT_DELTA,
            json!({ "message_id": message_id, "text": text }),
        ),
        Output::AssistantEnd {
            message_id,
            text,
            usage,
            interrupted,
        } => publication(
            types::ASSISTANT_MESSAGE,
            json!({
                "message_id": message_id,
                "text": text,
                "usage": { "input_tokens": usage.total_input(), "output_tokens": usage.output_tokens },
                "interrupted": interrupted,
            }),
        ),
        Output::Command {
            command,
            text,
            format,
        } => publication(
            types::COMMAND_OUTPUT,
            json!({ "command": command, "text": text, "format": format_name(*format) }),
        ),
        Output::Note(text) => publication(
            types::COMMAND_OUTPUT,
            json!({ "command": "btw", "text": format!("Noted: {text}"), "format": "text" }),
        ),
        Output::Error(text) => publication(
            types::COMMAND_OUTPUT,
            json!({ "command": "", "text": text, "format": "text", "error": true }),
        ),
        // The error, as any other, plus the message that was taken back out of the conversation,
        // so that a client can mark it as not sent and offer to send it again (PROTOCOL.md has
        // no event for this; a payload field keeps older clients showing the error as before).
        Output::TurnFailed { text, error, .. } => publication(
            types::COMMAND_OUTPUT,
            json!({ "command": "", "text": error, "format": "text", "error": true, "unsent": text }),
        ),
        Output::Info(text) | Output::Warning(text) => publication(
            types::COMMAND_OUTPUT,
            json!({ "command": "", "text": text, "format": "text" }),
        ),
        // Not in PROTOCOL.md's table; unknown types pass through relays, and clients that know
        // it clear their view.
        Output::Cleared => publication("conversation_cleared", json!({})),
        Output::PermissionRequest(q) => publication(
            types::CONTROL_REQUEST,
            json!({
                "request_id": q.request_id,
                "subtype": "can_use_tool",
                "tool_name": q.tool_name,
                "input": q.input,
                "description": q.description,
            }),
        ),
        // Every surface stops asking, whoever answered: the one that answered has nothing left
        // to show, the others must not answer too. `reason` (and who answered) is extra.
        Output::PermissionResolved {
            request_id,
            resolution,
        } => {
            let mut payload = json!({ "request_id": request_id });
            match resolution {
                Resolution::Answered { answer, by } => {
                    payload["reason"] = "answered".into();
                    payload["by"] = origin_name(*by).into();
                    payload["behavior"] = match answer {
                        PermissionAnswer::Allow => "allow",
                        PermissionAnswer::Deny { .. } => "deny",
                    }
                    .into();
                }
                Resolution::Withdrawn => payload["reason"] = "withdrawn".into(),
                Resolution::Cancelled => payload["reason"] = "cancelled".into(),
            }
            publication(types::CONTROL_CANCEL, payload)
        }
        Output::PreferencesChanged(_)
        | Output::Clipboard(_)
        | Output::OpenUrl(_)
        | Output::OpenEditor(_)
        | Output::CommandsChanged => None,
    }
}

/// `system_init`: what a client needs to draw the session, with only the commands a client may
/// run over the bridge (a `prompt` command, or a bridge-safe `local` one).
pub fn system_init(session: &Session, title: &str) -> Publication {
    let commands: Vec<Value> = session
        .registry()
        .available(Context::Bridge)
        .into_iter()
        .filter(|c| c.kind != Kind::Interactive)
        .map(|c| {
            json!({
                "name": c.name,
                "description": c.description,
                "argument_hint": c.argument_hint.unwrap_or_default(),
            })
        })
        .collect();
    Publication {
        kind: types::SYSTEM_INIT,
        payload: json!({
            "commands": commands,
            "engine": session.engine().name(),
            "model": session.engine().model(),
            "cwd": session.cwd().display().to_string(),
            "title": title,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::TurnUsage;

    #[test]
    fn conversation_outputs_become_protocol_events() {
        let cases = [
            (
                Output::User {
                    text: "hi".into(),
                    origin: Origin::Terminal,
                },
                Some(("user_message", json!({"text": "hi", "origin": "terminal"}))),
            ),
            (
                Output::User {
                    text: "hi".into(),
                    origin: Origin::Bridge,
                },
                None,
            ),
            (
                Output::AssistantStart {
                    message_id: "m".into(),
                },
                None,
            ),
            (
                Output::AssistantDelta {
                    message_id: "m".into(),
                    text: "he".into(),
                },
                Some(("assistant_delta", json!({"message_id": "m", "text": "he"}))),
            ),
            (
                Output::AssistantEnd {
                    message_id: "m".into(),
                    text: "hello".into(),
                    usage: TurnUsage {
                        input_tokens: 2,
                        cache_read_tokens: 1,
                        output_tokens: 1,
                        ..Default::default()
                    },
                    interrupted: false,
                },
                Some((
                    "assistant_message",
                    json!({"message_id": "m", "text": "hello", "usage": {"input_tokens": 3, "output_tokens": 1}, "interrupted": false}),
                )),
            ),
            (
                Output::Command {
                    command: "cost".into(),
                    text: "$0".into(),
                    format: Format::Markdown,
                },
                Some((
                    "command_output",
                    json!({"command": "cost", "text": "$0", "format": "markdown"}),
                )),
            ),
            (
                Output::Error("boom".into()),
                Some((
                    "command_output",
                    json!({"command": "", "text": "boom", "format": "text", "error": true}),
                )),
            ),
            (
                Output::TurnFailed {
                    text: "tell me".into(),
                    origin: Origin::Bridge,
                    error: "openai: refused. Not sent.".into(),
                },
                Some((
                    "command_output",
                    json!({"command": "", "text": "openai: refused. Not sent.", "format": "text",
                           "error": true, "unsent": "tell me"}),
                )),
            ),
            (Output::Cleared, Some(("conversation_cleared", json!({})))),
            (
                Output::PermissionRequest(crate::engine::permission::PermissionQuestion {
                    request_id: "r1".into(),
                    tool_name: "Bash".into(),
                    input: json!({"command": "ls"}),
                    description: Some("List files".into()),
                }),
                Some((
                    "control_request",
                    json!({"request_id": "r1", "subtype": "can_use_tool", "tool_name": "Bash",
                           "input": {"command": "ls"}, "description": "List files"}),
                )),
            ),
            (
                Output::PermissionResolved {
                    request_id: "r1".into(),
                    resolution: Resolution::Answered {
                        answer: PermissionAnswer::Allow,
                        by: Origin::Terminal,
                    },
                },
                Some((
                    "control_cancel",
                    json!({"request_id": "r1", "reason": "answered", "by": "terminal", "behavior": "allow"}),
                )),
            ),
            (
                Output::PermissionResolved {
                    request_id: "r2".into(),
                    resolution: Resolution::Cancelled,
                },
                Some((
                    "control_cancel",
                    json!({"request_id": "r2", "reason": "cancelled"}),
                )),
            ),
            (Output::Clipboard("secret".into()), None),
            (Output::OpenUrl("http://x".into()), None),
            (Output::CommandsChanged, None),
        ];
        for (output, expected) in cases {
            let got = publication_for(&output).map(|p| (p.kind, p.payload));
            assert_eq!(got, expected, "{output:?}");
        }
    }
}
