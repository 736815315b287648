//! What the prompt shows: the status line (engine, tokens, cost) or a question.

use std::borrow::Cow;

use reedline::{Prompt, PromptEditMode, PromptHistorySearch, PromptViMode};
use tether_protocol::untrusted::neutralise_line;
use tether_session::Session;

/// The prompt, with the status line (engine, tokens, cost) on the right when it is on.
#[derive(Debug, Clone)]
pub struct StatusPrompt {
    status: String,
    plan: bool,
    /// A question asked at the prompt instead of the usual marker (a permission request).
    question: Option<String>,
}

impl StatusPrompt {
    pub fn new(session: &Session) -> StatusPrompt {
        let prefs = session.preferences();
        let status = if prefs.statusline {
            let u = session.usage();
            // An agent names its own model: shown, never obeyed.
            let status = format!(
                "{}/{} · {} tokens · ${:.4}{}",
                session.engine().name(),
                session.engine().model(),
                u.total_tokens(),
                u.cost_micros as f64 / 1e6,
                if prefs.plan_mode { " · plan" } else { "" }
            );
            neutralise_line(&status).into_owned()
        } else {
            String::new()
        };
        StatusPrompt {
            status,
            plan: prefs.plan_mode,
            question: None,
        }
    }

    /// A prompt that asks `question` (the answer is the typed line).
    pub fn question(question: String) -> StatusPrompt {
        StatusPrompt {
            status: String::new(),
            plan: false,
            question: Some(question),
        }
    }
}

impl Prompt for StatusPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        match &self.question {
            Some(q) => Cow::Borrowed(q),
            None => Cow::Borrowed(if self.plan { "plan " } else { "" }),
        }
    }
    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.status)
    }
    fn render_prompt_indicator(&self, mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed(match mode {
            PromptEditMode::Vi(PromptViMode::Normal) => "[N] › ",
            PromptEditMode::Vi(_) => "[I] › ",
            _ => "› ",
        })
    }
    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("  ")
    }
    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        Cow::Owned(format!("(search: {}) › ", search.term))
    }
}
