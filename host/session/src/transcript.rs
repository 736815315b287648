//! The conversation as every surface shows it.

use tether_protocol::Origin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    User {
        text: String,
        origin: Origin,
    },
    Assistant {
        text: String,
    },
    /// `/btw` notes: part of the record, never a model turn.
    Note {
        text: String,
    },
    /// What a slash command printed.
    Command {
        command: String,
        text: String,
    },
    /// What `/compact` left in place of the older conversation.
    Summary {
        text: String,
        replaced: usize,
    },
}

impl Entry {
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

#[derive(Debug, Clone, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
}

impl Transcript {
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
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
    pub fn model_messages(&self) -> Vec<crate::engine::ChatMessage> {
        use crate::engine::{ChatMessage, ChatRole};
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
