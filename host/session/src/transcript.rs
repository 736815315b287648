//! The conversation as every surface shows it.

use tether_protocol::Origin;

/// One entry of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A message from the user.
    User {
        /// What was sent.
        text: String,
        /// Where it was typed.
        origin: Origin,
    },
    /// A reply from the model.
    Assistant {
        /// The reply as it was kept (cut short if the turn was interrupted).
        text: String,
    },
    /// `/btw` notes: part of the record, never a model turn.
    Note {
        /// The note's text.
        text: String,
    },
    /// What a slash command printed.
    Command {
        /// The command's name, without the slash.
        command: String,
        /// What it printed.
        text: String,
    },
    /// What `/compact` left in place of the older conversation.
    Summary {
        /// The summary the model wrote.
        text: String,
        /// How many entries it replaced.
        replaced: usize,
    },
}

impl Entry {
    /// The entry's text, whatever its kind.
    pub fn text(&self) -> &str {
        match self {
            Entry::User { text, .. }
            | Entry::Assistant { text }
            | Entry::Note { text }
            | Entry::Command { text, .. }
            | Entry::Summary { text, .. } => text,
        }
    }
}

/// How a model turn ended, for what the conversation keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnding {
    /// The reply is whole.
    Complete,
    /// The user stopped it (Ctrl-C, a client's Stop).
    Interrupted,
    /// The engine failed.
    Failed,
}

/// What a turn leaves in the conversation: the user's message and the reply, however short.
/// A turn that failed before any reply arrived leaves nothing: kept, its message would be
/// sent again with every later one, so one permanent refusal (a content filter's 400) would
/// break every turn after it. The user is offered to send it again instead. A turn the user
/// stopped before any reply keeps the message (they saw it sent, and chose to stop).
pub fn turn_entries(user: Entry, reply: String, ending: TurnEnding) -> Vec<Entry> {
    match ending {
        TurnEnding::Failed if reply.is_empty() => Vec::new(),
        TurnEnding::Interrupted if reply.is_empty() => vec![user],
        _ => vec![user, Entry::Assistant { text: reply }],
    }
}

/// The conversation as every surface shows it and commands read it.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
}

impl Transcript {
    /// Adds an entry at the end.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the conversation is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets the whole conversation (`/clear`).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Settles the turn whose user message is at `start` (the length before it was pushed):
    /// what follows it is replaced by what [`turn_entries`] keeps of the turn.
    pub fn finish_turn(&mut self, start: usize, reply: String, ending: TurnEnding) {
        let mut turn = self.entries.split_off(start.min(self.entries.len()));
        if turn.is_empty() {
            return;
        }
        let user = turn.swap_remove(0);
        self.entries.extend(turn_entries(user, reply, ending));
    }

    /// Replaces everything with a summary, returning how many entries it replaced.
    pub fn compact(&mut self, summary: String) -> usize {
        let replaced = self.entries.len();
        self.entries = vec![Entry::Summary {
            text: summary,
            replaced,
        }];
        replaced
    }

    /// The turns a model sees: user and assistant messages, notes as context, summaries first.
    pub fn model_messages(&self) -> Vec<tether_engines::ChatMessage> {
        use tether_engines::{ChatMessage, ChatRole};
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::User { text, .. } => Some(ChatMessage {
                    role: ChatRole::User,
                    text: text.clone(),
                }),
                Entry::Assistant { text } => Some(ChatMessage {
                    role: ChatRole::Assistant,
                    text: text.clone(),
                }),
                Entry::Note { text } => Some(ChatMessage {
                    role: ChatRole::User,
                    text: format!("(A note for context, no reply needed: {text})"),
                }),
                Entry::Summary { text, .. } => Some(ChatMessage {
                    role: ChatRole::User,
                    text: format!("(Summary of the earlier conversation: {text})"),
                }),
                Entry::Command { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> Entry {
        Entry::User {
            text: text.into(),
            origin: Origin::Terminal,
        }
    }

    fn reply(text: &str) -> Entry {
        Entry::Assistant { text: text.into() }
    }

    #[test]
    fn what_a_turn_leaves() {
        use TurnEnding::*;
        let cases = [
            (Complete, "hello", vec![user("hi"), reply("hello")]),
            (Complete, "", vec![user("hi"), reply("")]),
            (Interrupted, "hel", vec![user("hi"), reply("hel")]),
            (Interrupted, "", vec![user("hi")]),
            (Failed, "hel", vec![user("hi"), reply("hel")]),
            (Failed, "", vec![]),
        ];
        for (ending, text, want) in cases {
            assert_eq!(
                turn_entries(user("hi"), text.into(), ending),
                want,
                "{ending:?} {text:?}"
            );
        }
    }

    #[test]
    fn a_failed_turn_leaves_the_transcript_as_it_was() {
        let mut t = Transcript::default();
        t.push(user("one"));
        t.push(reply("answer"));
        let before = t.entries().to_vec();
        let start = t.len();
        t.push(user("blocked"));
        t.finish_turn(start, String::new(), TurnEnding::Failed);
        assert_eq!(t.entries(), before.as_slice());
        let start = t.len();
        t.push(user("two"));
        t.finish_turn(start, "fine".into(), TurnEnding::Complete);
        assert_eq!(t.len(), 4);
        assert_eq!(t.entries()[3], reply("fine"));
        let roles: Vec<_> = t.model_messages().iter().map(|m| m.role).collect();
        use tether_engines::ChatRole::{Assistant as A, User as U};
        assert_eq!(roles, [U, A, U, A]);
        // A start beyond the end changes nothing.
        t.finish_turn(99, String::new(), TurnEnding::Failed);
        assert_eq!(t.len(), 4);
    }
}
