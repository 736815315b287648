//! Slash-command completion: the commands available at this terminal, with their descriptions.

use reedline::{Completer, Span, Suggestion};
use tether_protocol::untrusted::neutralise_line;
use tether_protocol::{Origin, gate::Context};
use tether_session::Session;

/// Completes `/na` to the commands available here, with their descriptions.
#[derive(Debug, Clone)]
pub struct SlashCompleter {
    commands: Vec<(String, String)>,
}

impl SlashCompleter {
    pub fn new(session: &Session) -> SlashCompleter {
        let context = Context::new(Origin::Terminal, session.remote().is_some());
        let mut commands = Vec::new();
        for c in session.registry().available(context) {
            for name in std::iter::once(&c.name).chain(&c.aliases) {
                let hint = c
                    .argument_hint
                    .as_deref()
                    .map(|h| format!(" {h}"))
                    .unwrap_or_default();
                // A user plugin's words, drawn by the completion menu.
                let description = format!("{}{hint}", c.description);
                commands.push((name.clone(), neutralise_line(&description).into_owned()));
            }
        }
        commands.sort();
        SlashCompleter { commands }
    }
}

impl Completer for SlashCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> reedline::CompletionResult {
        let typed = &line[..pos.min(line.len())];
        let suggestions: Vec<Suggestion> = match typed.strip_prefix('/') {
            Some(prefix) if !prefix.contains(char::is_whitespace) => self
                .commands
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(name, description)| Suggestion {
                    value: format!("/{name}"),
                    description: Some(description.clone()),
                    span: Span::new(0, pos),
                    append_whitespace: true,
                    ..Default::default()
                })
                .collect(),
            _ => Vec::new(),
        };
        reedline::CompletionResult::fresh(suggestions)
    }
}
