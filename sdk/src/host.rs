//! Read-only queries to the host. Each needs its [`Capability`](crate::Capability) declared in the
//! manifest: calling an undeclared one traps, and one the administrator did not grant returns `Err`
//! with a message fit to show the user (so `?` is usually the right way to handle it).
//!
//! [`commands`] lists what may run where the calling command was invoked, and each entry's
//! `remote_safe` and `bridge_safe` say where tether's gate lets it run (after the administrator's
//! policy), not merely how it was tagged: a `prompt` command is bridge-safe, an `interactive` one
//! never. Show them as they are rather than applying the rule again.

pub use crate::bindings::tether::command::host::{
    AppLink, CommandInfo, ContextFile, Message, Preferences, Role, SessionInfo, TokenUsage,
    commands, files, session, settings, transcript, usage,
};

impl TokenUsage {
    /// The cost in US dollars.
    pub fn cost_usd(&self) -> f64 {
        self.cost_micros as f64 / 1_000_000.0
    }

    /// Input and output tokens together.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// The text of the most recent assistant message, if there is one (needs `transcript`).
pub fn last_assistant_message() -> Result<Option<String>, String> {
    Ok(transcript(u32::MAX)?
        .into_iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
        .map(|m| m.text))
}

/// Formats a token count the way people read it: `950`, `12.3k`, `4.1M`.
pub fn format_tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// Formats a cost in millionths of a dollar: `$0.0000`, `$1.2345`, `$12.35`.
pub fn format_cost(micros: u64) -> String {
    let usd = micros as f64 / 1_000_000.0;
    if usd < 10.0 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(format_tokens(0), "0");
        assert_eq!(format_tokens(999), "999");
        assert_eq!(format_tokens(12_345), "12.3k");
        assert_eq!(format_tokens(4_100_000), "4.1M");
    }

    #[test]
    fn cost() {
        assert_eq!(format_cost(0), "$0.0000");
        assert_eq!(format_cost(1_234_500), "$1.2345");
        assert_eq!(format_cost(12_345_000), "$12.35");
    }
}
