//! The boundary where session output enters the renderer: every text in an [`Output`] that
//! tether did not write itself (a phone's message, the model's reply, a plugin's output, an
//! agent's tool name and input, a provider's error) is neutralised here, once, before any of
//! tether's own styling is added, so that styling still works and nothing else can steer the
//! terminal (see `tether_protocol::untrusted`).

use std::borrow::Cow;

use serde_json::Value;
use tether_engines::permission::PermissionQuestion;
use tether_protocol::untrusted::{neutralise, neutralise_line};
use tether_session::Output;

/// `output` with its untrusted text neutralised. What is not drawn as text is left as it is: a
/// clipboard's content (sent base64-encoded in OSC 52, or handed to a script that asked for it),
/// a URL to open and a file to edit (the sink shows those through [`text`] itself).
pub fn neutralised(output: Output) -> Output {
    match output {
        Output::User { text: t, origin } => Output::User {
            text: text(t),
            origin,
        },
        Output::AssistantDelta {
            message_id,
            text: t,
        } => Output::AssistantDelta {
            message_id,
            text: text(t),
        },
        Output::AssistantEnd {
            message_id,
            text: t,
            usage,
            interrupted,
        } => Output::AssistantEnd {
            message_id,
            text: text(t),
            usage,
            interrupted,
        },
        Output::TurnFailed {
            text: t,
            origin,
            error,
        } => Output::TurnFailed {
            text: text(t),
            origin,
            error: text(error),
        },
        Output::Command {
            command,
            text: t,
            format,
        } => Output::Command {
            command: line(command),
            text: text(t),
            format,
        },
        Output::Note(t) => Output::Note(text(t)),
        Output::Error(t) => Output::Error(text(t)),
        Output::Info(t) => Output::Info(text(t)),
        Output::Warning(t) => Output::Warning(text(t)),
        Output::PermissionRequest(q) => Output::PermissionRequest(PermissionQuestion {
            request_id: q.request_id,
            tool_name: line(q.tool_name),
            input: value(q.input),
            description: q.description.map(text),
        }),
        same @ (Output::AssistantStart { .. }
        | Output::Cleared
        | Output::PreferencesChanged(_)
        | Output::Clipboard(_)
        | Output::OpenUrl(_)
        | Output::OpenEditor(_)
        | Output::CommandsChanged
        | Output::NewSessionKey
        | Output::PermissionResolved { .. }) => same,
    }
}

/// Untrusted text for the terminal, new lines kept; no copy when there is nothing to change.
pub fn text(t: String) -> String {
    changed(neutralise(&t)).unwrap_or(t)
}

/// Untrusted text that must stay on one line.
pub fn line(t: String) -> String {
    changed(neutralise_line(&t)).unwrap_or(t)
}

fn changed(converted: Cow<'_, str>) -> Option<String> {
    match converted {
        Cow::Borrowed(_) => None,
        Cow::Owned(changed) => Some(changed),
    }
}

/// A tool's input: every string in it, keys too. (Shown as JSON, which escapes C0 controls but
/// not DEL, the C1 controls or bidi overrides.)
fn value(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(line(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(value).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (line(k), value(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tether_protocol::Origin;
    use tether_session::Format;

    use super::*;

    const HOSTILE: &str = "a\x1b]52;c;eA==\x07\x1b]0;t\x07\x1b[2J\u{9b}31m\u{202e}b\nc";
    const SHOWN: &str = "a^[]52;c;eA==^G^[]0;t^G^[[2J<U+009B>31m<U+202E>b\nc";

    #[test]
    fn every_text_output_is_neutralised() {
        let s = || HOSTILE.to_string();
        let cases = [
            (
                Output::User {
                    text: s(),
                    origin: Origin::Bridge,
                },
                Output::User {
                    text: SHOWN.into(),
                    origin: Origin::Bridge,
                },
            ),
            (
                Output::AssistantDelta {
                    message_id: "m".into(),
                    text: s(),
                },
                Output::AssistantDelta {
                    message_id: "m".into(),
                    text: SHOWN.into(),
                },
            ),
            (
                Output::Command {
                    command: "x\x1b".into(),
                    text: s(),
                    format: Format::Markdown,
                },
                Output::Command {
                    command: "x^[".into(),
                    text: SHOWN.into(),
                    format: Format::Markdown,
                },
            ),
            (
                Output::TurnFailed {
                    text: s(),
                    origin: Origin::Bridge,
                    error: s(),
                },
                Output::TurnFailed {
                    text: SHOWN.into(),
                    origin: Origin::Bridge,
                    error: SHOWN.into(),
                },
            ),
            (Output::Note(s()), Output::Note(SHOWN.into())),
            (Output::Error(s()), Output::Error(SHOWN.into())),
            (Output::Info(s()), Output::Info(SHOWN.into())),
            (Output::Warning(s()), Output::Warning(SHOWN.into())),
        ];
        for (hostile, shown) in cases {
            assert_eq!(neutralised(hostile), shown);
        }
        let Output::AssistantEnd { text, .. } = neutralised(Output::AssistantEnd {
            message_id: "m".into(),
            text: s(),
            usage: Default::default(),
            interrupted: false,
        }) else {
            unreachable!()
        };
        assert_eq!(text, SHOWN);
    }

    #[test]
    fn a_permission_request_is_neutralised_name_input_and_description() {
        let q = PermissionQuestion {
            request_id: "r".into(),
            tool_name: "Bash\n\x1b[2J".into(),
            input: json!({"command": "ls\u{9b}2J", "nested": [{"k\u{7f}": "\u{202e}x"}], "n": 1}),
            description: Some(HOSTILE.into()),
        };
        let Output::PermissionRequest(q) = neutralised(Output::PermissionRequest(q)) else {
            unreachable!()
        };
        assert_eq!(q.tool_name, "Bash^J^[[2J");
        assert_eq!(
            q.input,
            json!({"command": "ls<U+009B>2J", "nested": [{"k^?": "<U+202E>x"}], "n": 1})
        );
        assert_eq!(q.description.as_deref(), Some(SHOWN));
        assert_eq!(q.request_id, "r");
    }

    #[test]
    fn what_is_not_drawn_as_text_is_left_alone() {
        for same in [
            Output::Clipboard(HOSTILE.into()),
            Output::OpenUrl("https://x/\x1b".into()),
            Output::Cleared,
            Output::CommandsChanged,
        ] {
            assert_eq!(neutralised(same.clone()), same);
        }
    }
}
