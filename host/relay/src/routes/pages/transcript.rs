//! The session's latest messages as HTML, for the page's `<noscript>`.

use tether_protocol::Payload;

use super::render::escape;

/// The most recent messages as escaped HTML, for browsers without scripts (inside
/// `<noscript>`): at most [`TRANSCRIPT_BYTES`], newest kept.
pub(super) fn transcript(recent: &[tether_protocol::Event]) -> String {
    let mut parts = Vec::new();
    let mut size = 0;
    for e in recent.iter().rev() {
        let (who, text) = match e.typed() {
            Payload::UserMessage(m) => ("you", m.text),
            Payload::AssistantMessage(m) => ("assistant", m.text),
            Payload::CommandOutput(o) => ("command", o.text),
            _ => continue,
        };
        let class = if who == "you" {
            "event client"
        } else {
            "event"
        };
        let part = format!(
            "<div class=\"{class}\"><div class=\"meta\">{who}</div>{}</div>",
            escape(&text)
        );
        size += part.len();
        if size > TRANSCRIPT_BYTES && !parts.is_empty() {
            break;
        }
        parts.push(part);
    }
    if parts.is_empty() {
        return "<p>Nothing has been said in this session yet.</p>".to_owned();
    }
    parts.reverse();
    parts.concat()
}

const TRANSCRIPT_BYTES: usize = 32 * 1024;
