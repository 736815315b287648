//! The conversation as the chat APIs accept it. Anthropic refuses two messages of one role in a
//! row, and OpenAI-compatible servers either refuse them or answer the first as well; the
//! transcript can still hold them (a note before a message, a message kept after a failed
//! turn by an older tether), so every HTTP engine sends this shape.

use crate::{ChatMessage, ChatRole};

/// What a transcript that starts with the assistant (a compaction summary answered, say) gets
/// first, so that the conversation opens with the user.
pub const CONTINUED: &str = "(The conversation so far, continued.)";

/// `messages` with no empty messages, roles alternating (consecutive messages of one role are
/// joined with a blank line), starting with the user.
pub fn alternating(messages: &[ChatMessage]) -> Vec<ChatMessage> {
    let mut out: Vec<ChatMessage> = Vec::new();
    for m in messages {
        if m.text.trim().is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == m.role => {
                last.text.push_str("\n\n");
                last.text.push_str(&m.text);
            }
            _ => out.push(m.clone()),
        }
    }
    if out.first().is_some_and(|m| m.role == ChatRole::Assistant) {
        out.insert(
            0,
            ChatMessage {
                role: ChatRole::User,
                text: CONTINUED.to_string(),
            },
        );
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ChatRole::{Assistant as A, User as U};

    pub(crate) fn m(role: ChatRole, text: &str) -> ChatMessage {
        ChatMessage {
            role,
            text: text.into(),
        }
    }

    /// The roles of a request body's `messages`, in order: what the engines' tests check the
    /// alternation by.
    pub(crate) fn roles(body: &serde_json::Value) -> Vec<&str> {
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect()
    }

    fn shape(messages: &[ChatMessage]) -> Vec<(ChatRole, String)> {
        alternating(messages)
            .into_iter()
            .map(|m| (m.role, m.text))
            .collect()
    }

    #[test]
    fn roles_alternate_and_start_with_the_user() {
        let got = shape(&[
            m(A, "summary of before"),
            m(U, "one"),
            m(U, "  "),
            m(U, "two"),
            m(A, ""),
            m(A, "answer"),
            m(U, "three"),
        ]);
        let want = [
            (U, CONTINUED),
            (A, "summary of before"),
            (U, "one\n\ntwo"),
            (A, "answer"),
            (U, "three"),
        ];
        let want: Vec<(ChatRole, String)> = want.iter().map(|(r, t)| (*r, t.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn edge_cases() {
        assert!(shape(&[]).is_empty());
        assert!(shape(&[m(U, " "), m(A, "\n")]).is_empty());
        assert_eq!(shape(&[m(U, "hi")]), vec![(U, "hi".to_string())]);
        assert_eq!(
            shape(&[m(U, "a"), m(U, "b"), m(U, "c")]),
            vec![(U, "a\n\nb\n\nc".to_string())]
        );
        assert_eq!(
            shape(&[m(A, "a"), m(A, "b")]),
            vec![(U, CONTINUED.to_string()), (A, "a\n\nb".to_string())]
        );
        // Never two of a role in a row, whatever comes in.
        let roles = [U, A, U, U, A, A, A, U, A, U, U];
        let input: Vec<ChatMessage> = roles.iter().map(|r| m(*r, "x")).collect();
        let out = alternating(&input);
        assert!(out.windows(2).all(|w| w[0].role != w[1].role), "{out:?}");
        assert_eq!(out[0].role, U);
    }
}
