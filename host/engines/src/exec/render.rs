//! What the user sees of the agent's output, and what the agent is told.
//!
//! [`Reply`] turns the agent's stream into the turn's text: streamed text as it comes, the
//! complete message's text only when it did not stream (so that nothing is shown twice), a short
//! line for every tool the agent uses, and a blank line between blocks. [`compose`] writes the
//! message that goes to the agent, with the conversation so far when the agent starts afresh.

use std::collections::HashSet;

use serde_json::Value;

use super::protocol::{AssistantMessage, Block, StreamEvent};
use crate::{ChatMessage, ChatRole};

/// The longest tool summary shown, in characters.
const TOOL_SUMMARY_CHARS: usize = 80;

/// The most of the earlier conversation replayed to a fresh agent, in characters; the oldest
/// messages go first.
const MAX_CONTEXT_CHARS: usize = 200_000;

/// The turn's visible text, built from the agent's stream.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// Something has been shown this turn.
    shown: bool,
    /// How many newlines the shown text ends with (0, 1 or 2).
    trailing_newlines: u8,
    /// The next text starts a new block, to be set apart by a blank line.
    new_block: bool,
    /// The message being streamed, if the agent said which ("" when it did not).
    streaming: Option<String>,
    /// Messages whose text streamed: their complete form must not show it again.
    streamed: HashSet<String>,
    /// Tools already shown, by id.
    tools: HashSet<String>,
}

impl Reply {
    /// Text to show for a streaming event, if any.
    pub fn stream_event(&mut self, nested: bool, event: StreamEvent) -> Option<String> {
        if nested {
            return None;
        }
        match event {
            StreamEvent::MessageStart { id } => {
                self.streaming = Some(id.unwrap_or_default());
                self.new_block = true;
                None
            }
            StreamEvent::BlockStart { text } => {
                if text {
                    self.new_block = true;
                }
                None
            }
            StreamEvent::TextDelta(text) => {
                self.streamed
                    .insert(self.streaming.clone().unwrap_or_default());
                let mut out = String::new();
                self.push_text(&text, &mut out);
                (!out.is_empty()).then_some(out)
            }
            StreamEvent::Other => None,
        }
    }

    /// Text to show for a complete message: its text blocks unless they streamed, and a line
    /// for each tool use.
    pub fn assistant(&mut self, message: AssistantMessage) -> Option<String> {
        if message.nested {
            return None;
        }
        let streamed = self
            .streamed
            .contains(message.id.as_deref().unwrap_or_default());
        let mut out = String::new();
        for block in message.blocks {
            match block {
                Block::Text(text) if !streamed => {
                    self.new_block = true;
                    self.push_text(&text, &mut out);
                }
                Block::ToolUse { id, name, input } => {
                    if id.is_some_and(|id| !self.tools.insert(id)) {
                        continue;
                    }
                    self.new_block = true;
                    self.push_text(&tool_line(&name, &input), &mut out);
                    self.new_block = true;
                }
                _ => {}
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn push_text(&mut self, text: &str, out: &mut String) {
        if text.is_empty() {
            return;
        }
        if self.new_block && self.shown {
            out.push_str(&"\n\n"[usize::from(self.trailing_newlines.min(2))..]);
            self.trailing_newlines = 2;
        }
        self.new_block = false;
        self.shown = true;
        out.push_str(text);
        let newlines = text.bytes().rev().take_while(|b| *b == b'\n').count();
        self.trailing_newlines = if newlines == text.len() {
            self.trailing_newlines
                .saturating_add(newlines.min(2) as u8)
                .min(2)
        } else {
            newlines.min(2) as u8
        };
    }
}

/// The line that shows a tool use: `› Bash: `ls -la``, its most telling argument shortened.
pub(crate) fn tool_line(name: &str, input: &Value) -> String {
    let name = one_line(name, 40);
    let summary = tool_summary(input);
    if summary.is_empty() {
        return format!("› {name}");
    }
    if summary.contains('`') {
        format!("› {name}: `` {summary} ``")
    } else {
        format!("› {name}: `{summary}`")
    }
}

fn tool_summary(input: &Value) -> String {
    const KEYS: [&str; 10] = [
        "command",
        "file_path",
        "notebook_path",
        "path",
        "pattern",
        "url",
        "query",
        "description",
        "prompt",
        "skill",
    ];
    let text = match input {
        Value::Null => return String::new(),
        Value::Object(map) if map.is_empty() => return String::new(),
        Value::String(s) => s.clone(),
        Value::Object(map) => KEYS
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map_or_else(|| input.to_string(), str::to_string),
        other => other.to_string(),
    };
    one_line(&text, TOOL_SUMMARY_CHARS)
}

/// `text` on one line (runs of whitespace and control characters become one space), at most
/// `max` characters, with an ellipsis when cut.
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    let mut chars = 0;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            chars += 1;
            space = false;
        }
        if chars == max {
            out.pop();
            out.push('…');
            return out;
        }
        out.push(c);
        chars += 1;
    }
    out
}

/// The message for the agent: the new text, preceded by the standing instructions when they
/// are new to this agent, and by the earlier conversation when the agent starts afresh.
pub(crate) fn compose(instructions: Option<&str>, earlier: &[ChatMessage], text: &str) -> String {
    let mut out = String::new();
    if let Some(instructions) = instructions.map(str::trim).filter(|s| !s.is_empty()) {
        out.push_str("[tether] Standing instructions from the user's memory file:\n\n");
        out.push_str(instructions);
        out.push_str("\n\n");
    }
    if !earlier.is_empty() {
        out.push_str(
            "[tether] You are starting afresh in a conversation that is already under way. \
             Earlier in this conversation:\n\n",
        );
        let mut kept = Vec::new();
        let mut size = 0;
        for message in earlier.iter().rev() {
            size += message.text.len() + 16;
            if size > MAX_CONTEXT_CHARS && !kept.is_empty() {
                break;
            }
            kept.push(message);
        }
        let omitted = earlier.len() - kept.len();
        if omitted > 0 {
            out.push_str(&format!("({omitted} earlier messages left out.)\n\n"));
        }
        for message in kept.into_iter().rev() {
            let role = match message.role {
                ChatRole::User => "User",
                ChatRole::Assistant => "Assistant",
            };
            out.push_str(role);
            out.push_str(": ");
            out.push_str(message.text.trim_end());
            out.push_str("\n\n");
        }
        out.push_str("[tether] End of the earlier conversation. The user's new message:\n\n");
    }
    out.push_str(text);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn delta(r: &mut Reply, text: &str) -> String {
        r.stream_event(false, StreamEvent::TextDelta(text.into()))
            .unwrap_or_default()
    }

    fn start(r: &mut Reply, id: &str) {
        r.stream_event(
            false,
            StreamEvent::MessageStart {
                id: Some(id.into()),
            },
        );
        r.stream_event(false, StreamEvent::BlockStart { text: true });
    }

    fn message(id: Option<&str>, blocks: Vec<Block>) -> AssistantMessage {
        AssistantMessage {
            id: id.map(str::to_string),
            nested: false,
            blocks,
        }
    }

    fn text(s: &str) -> Block {
        Block::Text(s.into())
    }

    #[test]
    fn streamed_text_is_not_shown_twice() {
        let mut r = Reply::default();
        start(&mut r, "m1");
        let mut shown = delta(&mut r, "You ") + &delta(&mut r, "said: hi");
        shown += &r
            .assistant(message(Some("m1"), vec![text("You said: hi")]))
            .unwrap_or_default();
        assert_eq!(shown, "You said: hi");
    }

    #[test]
    fn unstreamed_text_is_shown_and_blocks_are_set_apart() {
        let mut r = Reply::default();
        let shown = r
            .assistant(message(Some("m1"), vec![text("First."), text("Second.\n")]))
            .unwrap();
        assert_eq!(shown, "First.\n\nSecond.\n");
        // A later message after a single trailing newline gets one more.
        let more = r
            .assistant(message(Some("m2"), vec![text("Third.")]))
            .unwrap();
        assert_eq!(more, "\nThird.");
    }

    #[test]
    fn tools_are_shown_once_between_blocks() {
        let mut r = Reply::default();
        start(&mut r, "m1");
        let mut shown = delta(&mut r, "Let me look.");
        let tool = Block::ToolUse {
            id: Some("t1".into()),
            name: "Read".into(),
            input: json!({"file_path": "src/main.rs"}),
        };
        shown += &r
            .assistant(message(Some("m1"), vec![text("Let me look.")]))
            .unwrap_or_default();
        shown += &r
            .assistant(message(Some("m1"), vec![tool.clone()]))
            .unwrap_or_default();
        shown += &r
            .assistant(message(Some("m1"), vec![tool]))
            .unwrap_or_default();
        start(&mut r, "m2");
        shown += &delta(&mut r, "Done.");
        shown += &r
            .assistant(message(Some("m2"), vec![text("Done.")]))
            .unwrap_or_default();
        assert_eq!(shown, "Let me look.\n\n› Read: `src/main.rs`\n\nDone.");
    }

    #[test]
    fn a_tool_first_has_no_leading_blank_line() {
        let mut r = Reply::default();
        let shown = r
            .assistant(message(
                None,
                vec![Block::ToolUse {
                    id: None,
                    name: "Bash".into(),
                    input: json!({"command": "ls -la"}),
                }],
            ))
            .unwrap();
        assert_eq!(shown, "› Bash: `ls -la`");
    }

    #[test]
    fn sub_agents_are_not_shown() {
        let mut r = Reply::default();
        assert_eq!(
            r.stream_event(true, StreamEvent::TextDelta("x".into())),
            None
        );
        let mut m = message(Some("m9"), vec![text("inner")]);
        m.nested = true;
        assert_eq!(r.assistant(m), None);
    }

    #[test]
    fn tool_lines_are_short_and_single() {
        assert_eq!(
            tool_line("Bash", &json!({"command": "ls -la", "description": "List"})),
            "› Bash: `ls -la`"
        );
        assert_eq!(tool_line("TodoWrite", &json!({})), "› TodoWrite");
        assert_eq!(tool_line("X", &Value::Null), "› X");
        assert_eq!(tool_line("X", &json!({"n": 1})), "› X: `{\"n\":1}`");
        assert_eq!(
            tool_line("Bash", &json!({"command": "echo `date`"})),
            "› Bash: `` echo `date` ``"
        );
        let long = tool_line(
            "Bash",
            &json!({"command": format!("for i in 1 2 3\ndo\n  echo {}\ndone", "x".repeat(500))}),
        );
        assert!(
            long.starts_with("› Bash: `for i in 1 2 3 do echo xxx"),
            "{long}"
        );
        assert!(long.ends_with("…`"), "{long}");
        assert!(long.chars().count() < 100, "{long}");
        assert!(!long.contains('\n'));
        assert_eq!(one_line("  a \u{1b}[31m b  ", 10), "a [31m b");
        assert_eq!(one_line("ééééé", 3), "éé…");
    }

    fn chat(role: ChatRole, text: &str) -> ChatMessage {
        ChatMessage {
            role,
            text: text.into(),
        }
    }

    #[test]
    fn compose_adds_context_only_when_given() {
        assert_eq!(compose(None, &[], "hi"), "hi");
        assert_eq!(compose(Some("  "), &[], "hi"), "hi");
        let with = compose(
            Some("Be brief."),
            &[
                chat(ChatRole::User, "hello"),
                chat(ChatRole::Assistant, "Hi!\n"),
            ],
            "and now?",
        );
        assert!(with.starts_with("[tether] Standing instructions"), "{with}");
        assert!(with.contains("Be brief.\n\n"));
        assert!(
            with.contains("Earlier in this conversation:\n\nUser: hello\n\nAssistant: Hi!\n\n"),
            "{with}"
        );
        assert!(with.ends_with("new message:\n\nand now?"), "{with}");
    }

    #[test]
    fn compose_keeps_the_latest_context() {
        let big = "x".repeat(MAX_CONTEXT_CHARS / 2);
        let earlier = vec![
            chat(ChatRole::User, "oldest"),
            chat(ChatRole::User, &big),
            chat(ChatRole::User, &big),
            chat(ChatRole::User, "newest"),
        ];
        let text = compose(None, &earlier, "q");
        assert!(!text.contains("oldest") && text.contains("newest"));
        assert!(
            text.contains("2 earlier messages left out"),
            "{}",
            &text[..200]
        );
        // A single message larger than the budget is still kept.
        let huge = vec![chat(ChatRole::User, &"y".repeat(MAX_CONTEXT_CHARS * 2))];
        assert!(compose(None, &huge, "q").len() > MAX_CONTEXT_CHARS * 2);
    }
}
