//! What the session says on the bridge: each [`Output`] as the typed [`Payload`] of the event
//! docs/protocol.md names for it. A pure mapping, so that every surface shows the same
//! conversation and the rule is tested in one place. Outputs that only make sense on the
//! terminal's machine (its clipboard, browser, editor, key bindings) are not published.

use tether_engines::PermissionAnswer;
use tether_protocol::gate::Context;
use tether_protocol::payload::{
    AssistantDelta, AssistantMessage, Behavior, CancelReason, CommandEntry, CommandOutput,
    ControlCancel, ControlRequest, MessageUsage, Payload, Speaker, SystemInit, TextFormat,
    UserMessage,
};
use tether_protocol::{Kind, Origin};

use crate::approvals::Resolution;
use crate::output::{Format, Output};
use crate::session::Session;

fn text_format(format: Format) -> TextFormat {
    match format {
        Format::Text => TextFormat::Text,
        Format::Markdown => TextFormat::Markdown,
    }
}

/// A plain `command_output` from tether itself.
fn notice(text: &str, error: bool) -> Payload {
    Payload::CommandOutput(CommandOutput {
        command: String::new(),
        text: text.to_owned(),
        format: TextFormat::Text,
        error,
        unsent: None,
        unsent_id: None,
    })
}

/// The event for `output`, if it is one every surface should see.
pub fn publication_for(output: &Output) -> Option<Payload> {
    Some(match output {
        // A client's message is already in the log (the client published it); the terminal's
        // is republished so that every surface shows it.
        Output::User {
            text,
            origin: Origin::Terminal,
        } => Payload::UserMessage(UserMessage {
            text: text.clone(),
            origin: Some(Speaker::Terminal),
        }),
        Output::User {
            origin: Origin::Bridge,
            ..
        } => return None,
        Output::AssistantStart { .. } => return None,
        Output::AssistantDelta { message_id, text } => Payload::AssistantDelta(AssistantDelta {
            message_id: message_id.clone(),
            text: text.clone(),
        }),
        Output::AssistantEnd {
            message_id,
            text,
            usage,
            interrupted,
        } => Payload::AssistantMessage(AssistantMessage {
            message_id: message_id.clone(),
            text: text.clone(),
            usage: MessageUsage {
                input_tokens: usage.total_input(),
                output_tokens: usage.output_tokens,
            },
            interrupted: *interrupted,
        }),
        Output::Command {
            command,
            text,
            format,
        } => Payload::CommandOutput(CommandOutput {
            command: command.clone(),
            text: text.clone(),
            format: text_format(*format),
            error: false,
            unsent: None,
            unsent_id: None,
        }),
        Output::Note(text) => Payload::CommandOutput(CommandOutput {
            command: "btw".into(),
            text: format!("Noted: {text}"),
            format: TextFormat::Text,
            error: false,
            unsent: None,
            unsent_id: None,
        }),
        Output::Error(text) => notice(text, true),
        // The error, as any other, plus the message that was taken back out of the conversation,
        // so that a client can mark it as not sent and offer to send it again.
        Output::TurnFailed { text, error, .. } => Payload::CommandOutput(CommandOutput {
            command: String::new(),
            text: error.clone(),
            format: TextFormat::Text,
            error: true,
            unsent: Some(text.clone()),
            // The driver knows which event carried it.
            unsent_id: None,
        }),
        Output::Info(text) | Output::Warning(text) => notice(text, false),
        Output::Cleared => Payload::ConversationCleared,
        Output::PermissionRequest(q) => Payload::ControlRequest(ControlRequest::CanUseTool {
            request_id: q.request_id.clone(),
            tool_name: q.tool_name.clone(),
            input: q.input.clone(),
            description: q.description.clone(),
        }),
        // Every surface stops asking, whoever answered: the one that answered has nothing left
        // to show, the others must not answer too.
        Output::PermissionResolved {
            request_id,
            resolution,
        } => Payload::ControlCancel(ControlCancel {
            request_id: request_id.clone(),
            reason: match resolution {
                Resolution::Answered { answer, by } => CancelReason::Answered {
                    by: Speaker::from(*by),
                    behavior: match answer {
                        PermissionAnswer::Allow => Behavior::Allow,
                        PermissionAnswer::Deny { .. } => Behavior::Deny,
                    },
                },
                Resolution::Withdrawn => CancelReason::Withdrawn,
                Resolution::Cancelled => CancelReason::Cancelled,
            },
        }),
        Output::PreferencesChanged(_)
        | Output::Clipboard(_)
        | Output::OpenUrl(_)
        | Output::OpenEditor(_)
        | Output::CommandsChanged
        | Output::NewSessionKey => return None,
    })
}

/// `system_init`: what a client needs to draw the session, with only the commands a client may
/// run over the bridge (a `prompt` command, or a bridge-safe `local` one).
pub fn system_init(session: &Session, title: &str) -> Payload {
    let commands = session
        .registry()
        .available(Context::Bridge)
        .into_iter()
        .filter(|c| c.kind != Kind::Interactive)
        .map(|c| CommandEntry {
            name: c.name,
            description: c.description,
            argument_hint: c.argument_hint.unwrap_or_default(),
        })
        .collect();
    Payload::SystemInit(SystemInit {
        commands,
        engine: session.engine().name().to_owned(),
        model: session.engine().model(),
        cwd: session.cwd().display().to_string(),
        title: title.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::TurnUsage;
    use serde_json::json;

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
                Output::PermissionRequest(tether_engines::permission::PermissionQuestion {
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
            let got = publication_for(&output).map(|p| (p.kind().to_owned(), p.to_value()));
            let expected = expected.map(|(k, v): (&str, serde_json::Value)| (k.to_owned(), v));
            assert_eq!(got, expected, "{output:?}");
        }
    }
}
