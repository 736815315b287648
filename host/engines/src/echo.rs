//! The offline engine: answers at once, deterministically, without any model. It exists so that
//! tether works the moment it is installed, for demos and for tests, and it says plainly what it is.

use std::time::Duration;

use futures::StreamExt;

use crate::usage::{Price, TurnUsage};
use crate::{ChatMessage, ChatRole, Engine, EngineError, EngineEvent, EngineStream, TurnRequest};

/// The offline engine: it says what it is and repeats the user's last message, word by word.
pub struct Echo {
    /// Pause between streamed words, to show streaming (and let tests interrupt a reply).
    pub delay: Duration,
}

impl Echo {
    /// An engine that pauses `delay` between words.
    pub fn new(delay: Duration) -> Echo {
        Echo { delay }
    }
}

/// A rough token count (about four characters a token), good enough for an engine that has none.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// The reply, as words with their trailing space, so that streaming keeps the text intact.
pub fn reply_text(request: &TurnRequest) -> String {
    let said = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map(|m| m.text.as_str())
        .unwrap_or("");
    let mode = if request.plan_mode {
        " (plan mode: I would only propose a plan)"
    } else {
        ""
    };
    format!("No model is configured, so this is the offline echo engine{mode}. You said: {said}")
}

/// Splits text into chunks that each end after a space (the last may not), for streaming.
fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_string).collect()
}

#[async_trait::async_trait]
impl Engine for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    fn model(&self) -> String {
        "echo".into()
    }

    fn price(&self) -> Price {
        Price::default()
    }

    fn reply(&self, request: TurnRequest) -> EngineStream {
        let text = reply_text(&request);
        let input: u64 = request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.text))
            .sum::<u64>()
            + request.system.as_deref().map_or(0, estimate_tokens);
        let usage = TurnUsage {
            input_tokens: input,
            output_tokens: estimate_tokens(&text),
            ..Default::default()
        };
        let delay = self.delay;
        let deltas = futures::stream::iter(words(&text)).then(move |w| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(EngineEvent::Delta(w))
        });
        Box::pin(deltas.chain(futures::stream::once(async move {
            Ok(EngineEvent::Usage(usage))
        })))
    }

    /// An extractive summary: what each user turn asked, in order. Honest about what it is.
    async fn summarize(
        &self,
        messages: &[ChatMessage],
        focus: &str,
    ) -> Result<(String, TurnUsage), EngineError> {
        let asked: Vec<String> = messages
            .iter()
            .filter(|m| m.role == ChatRole::User)
            .map(|m| {
                let first: String = m
                    .text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect();
                format!("- {first}")
            })
            .collect();
        let mut text = format!(
            "Summary by the offline echo engine (no model is configured): {} messages, {} from the user.",
            messages.len(),
            asked.len()
        );
        if !focus.is_empty() {
            text.push_str(&format!(" Focus requested: {focus}."));
        }
        if !asked.is_empty() {
            text.push_str("\n\n");
            text.push_str(&asked.join("\n"));
        }
        let input = messages.iter().map(|m| estimate_tokens(&m.text)).sum();
        Ok((
            text.clone(),
            TurnUsage {
                input_tokens: input,
                output_tokens: estimate_tokens(&text),
                ..Default::default()
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_the_whole_reply_then_usage() {
        let events: Vec<_> = Echo::new(Duration::ZERO)
            .reply(TurnRequest::user("hi there"))
            .collect()
            .await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(EngineEvent::Delta(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, reply_text(&TurnRequest::user("hi there")));
        assert!(text.contains("No model is configured"));
        assert!(text.ends_with("You said: hi there"));
        assert!(events.len() > 3, "streamed in pieces");
        assert!(matches!(events.last(), Some(Ok(EngineEvent::Usage(u))) if u.output_tokens > 0));
    }

    #[test]
    fn plan_mode_is_mentioned() {
        let mut r = TurnRequest::user("x");
        r.plan_mode = true;
        assert!(reply_text(&r).contains("plan mode"));
    }

    #[tokio::test]
    async fn summary_lists_user_turns() {
        let m = vec![
            ChatMessage {
                role: ChatRole::User,
                text: "first question\nmore".into(),
            },
            ChatMessage {
                role: ChatRole::Assistant,
                text: "answer".into(),
            },
        ];
        let (s, _) = Echo::new(Duration::ZERO)
            .summarize(&m, "tests")
            .await
            .unwrap();
        assert!(s.contains("- first question") && !s.contains("more") && s.contains("tests"));
    }
}
