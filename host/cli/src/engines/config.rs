//! `config.toml`: what the user chose once, so that `tether` alone starts the right engine.
//! Unknown keys are errors (a typo such as `modle` must not be silently ignored), and API keys
//! are not accepted here: they stay in the environment, out of dotfiles and backups.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tether_session::usage::Price;

use crate::args::EngineChoice;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The engine `tether` starts with when no --engine is given.
    pub engine: Option<EngineChoice>,
    #[serde(default)]
    pub anthropic: Provider,
    /// Present (even empty) means "an OpenAI-compatible server is configured".
    pub openai: Option<Provider>,
    pub exec: Option<ExecSection>,
    /// Prices per model, in dollars per million tokens; they replace the built-in table.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceEntry>,
    /// When a published session calls its person (`tether --remote`).
    #[serde(default)]
    pub notify: NotifySection,
}

/// `[notify]`: when `tether --remote` calls the person on the devices that asked for it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    /// `false`: no Web Push calls from this machine (a webhook is still called). Default: on.
    pub push: Option<bool>,
    /// Seconds a permission request or question waits unanswered before it is called.
    pub wait_seconds: Option<u64>,
    /// A turn at least this many seconds long is called when it ends.
    pub long_turn_seconds: Option<u64>,
    /// Seconds after a line typed at the terminal during which nothing is called.
    pub quiet_seconds: Option<u64>,
    /// A URL of the user's own that gets the same calls, in plain text: see [`WebhookFormat`].
    pub webhook: Option<String>,
    /// How the webhook is spoken to. Default: `json`.
    #[serde(default)]
    pub webhook_format: WebhookFormat,
    /// The environment variable holding a token sent as `Authorization: Bearer …` (an ntfy
    /// access token, say); the token itself never goes in this file.
    pub webhook_token_env: Option<String>,
    /// A notification from this terminal itself when a turn a device started needs attention.
    /// Default: off.
    #[serde(default)]
    pub terminal: TerminalNotify,
}

/// How the terminal itself notifies (an escape sequence the terminal emulator turns into a
/// desktop notification).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TerminalNotify {
    #[default]
    Off,
    /// OSC 9 (iTerm2, WezTerm, Windows Terminal, kitty, foot): one line of text.
    Osc9,
    /// OSC 777 (foot, WezTerm, rxvt-unicode, Ghostty): a title and a body.
    Osc777,
}

/// The webhook's form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A JSON POST of tether's own (docs/protocol.md 5.10): calls and withdrawals.
    #[default]
    Json,
    /// ntfy's JSON publishing: `webhook` is the topic's URL (`https://ntfy.sh/my-topic`); the
    /// call is POSTed to the server with its topic, title, message, priority and click URL.
    Ntfy,
}

/// The longest any `[notify]` time may be: a day.
const MAX_NOTIFY_SECONDS: u64 = 86_400;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub max_tokens: Option<u32>,
    /// The environment variable holding the key, when it is not the provider's usual one.
    pub api_key_env: Option<String>,
}

impl Provider {
    /// The variable holding the key: `api_key_env`, else the provider's usual one.
    pub fn key_var<'a>(&'a self, usual: &'a str) -> &'a str {
        self.api_key_env.as_deref().unwrap_or(usual)
    }

    /// The model: `--model`, else this section's, else the provider's default.
    pub fn model(&self, asked: Option<&str>, default: &str) -> String {
        asked
            .or(self.model.as_deref())
            .unwrap_or(default)
            .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSection {
    /// The program and its arguments.
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

impl PriceEntry {
    pub fn price(&self) -> Price {
        let mut price = Price::per_mtok(self.input, self.output);
        let micros = |usd: f64| Price::per_mtok(usd, 0.0).input_micros_per_mtok;
        if let Some(read) = self.cache_read {
            price.cache_read_micros_per_mtok = micros(read);
        }
        if let Some(write) = self.cache_write {
            price.cache_write_micros_per_mtok = micros(write);
        }
        price
    }
}

impl Config {
    /// The `[openai]` section, or its defaults when there is none.
    pub fn openai_or_default(&self) -> Provider {
        self.openai.clone().unwrap_or_default()
    }

    /// Parses the file's text; the error names the line and what is wrong.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| place(text, &e))?;
        config.check()?;
        Ok(config)
    }

    /// Reads the file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Config, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn check(&self) -> Result<(), String> {
        if let Some(exec) = &self.exec
            && exec.command.first().is_none_or(|p| p.trim().is_empty())
        {
            return Err(
                "[exec] command must name a program, e.g. command = [\"claude\", \"-p\", …]".into(),
            );
        }
        for (key, value) in [
            ("wait_seconds", self.notify.wait_seconds),
            ("long_turn_seconds", self.notify.long_turn_seconds),
            ("quiet_seconds", self.notify.quiet_seconds),
        ] {
            if value.is_some_and(|v| v > MAX_NOTIFY_SECONDS) {
                return Err(format!(
                    "[notify] {key} is seconds, at most {MAX_NOTIFY_SECONDS} (a day)"
                ));
            }
        }
        if let Some(url) = &self.notify.webhook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "[notify] webhook must start with http:// or https://, not {url:?}"
            ));
        }
        if self.notify.webhook_format == WebhookFormat::Ntfy
            && let Some(url) = &self.notify.webhook
            && crate::remote::calls::webhook::ntfy_topic(url).is_none()
        {
            return Err(format!(
                "[notify] webhook must be an ntfy topic's URL such as https://ntfy.sh/my-topic, not {url:?}"
            ));
        }
        for (model, p) in &self.prices {
            let all = [Some(p.input), Some(p.output), p.cache_read, p.cache_write];
            if all.into_iter().flatten().any(|v| !v.is_finite() || v < 0.0) {
                return Err(format!(
                    "[prices.\"{model}\"]: prices are dollars per million tokens, zero or more"
                ));
            }
        }
        for (name, provider) in [
            ("anthropic", Some(&self.anthropic)),
            ("openai", self.openai.as_ref()),
        ] {
            if let Some(url) = provider.and_then(|p| p.base_url.as_deref())
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(format!(
                    "[{name}] base_url must start with http:// or https://, not {url:?}"
                ));
            }
            if provider.and_then(|p| p.max_tokens) == Some(0) {
                return Err(format!("[{name}] max_tokens must be at least 1"));
            }
        }
        Ok(())
    }
}

/// "line L, column C: message", without the quoted source line that toml's own message
/// carries: that line could hold a secret someone pasted where it does not belong.
fn place(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file() {
        let c = Config::parse(
            r#"
engine = "openai"
[anthropic]
model = "claude-opus-4-5"
[openai]
base_url = "http://localhost:11434/v1"
model = "llama3.2"
[exec]
command = ["claude", "-p"]
[prices."llama3.2"]
input = 0.5
output = 1.5
cache_read = 0.05
"#,
        )
        .unwrap();
        assert_eq!(c.engine, Some(EngineChoice::Openai));
        assert_eq!(c.anthropic.model.as_deref(), Some("claude-opus-4-5"));
        assert_eq!(c.openai.unwrap().model.as_deref(), Some("llama3.2"));
        let p = c.prices["llama3.2"].price();
        assert_eq!(
            (
                p.input_micros_per_mtok,
                p.output_micros_per_mtok,
                p.cache_read_micros_per_mtok
            ),
            (500_000, 1_500_000, 50_000)
        );
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let c = Config::parse("[notify]\npush = false\nwait_seconds = 0\nlong_turn_seconds = 60")
            .unwrap();
        assert_eq!(
            c.notify,
            NotifySection {
                push: Some(false),
                wait_seconds: Some(0),
                long_turn_seconds: Some(60),
                ..NotifySection::default()
            }
        );
    }

    #[test]
    fn hostile_files_are_refused_with_the_place() {
        for (text, needle) in [
            ("modle = \"x\"", "unknown field"),
            ("[anthropic]\nmodle = \"x\"", "unknown field"),
            ("[anthropic]\napi_key = \"sk-ant-123\"", "unknown field"),
            ("engine = \"gpt\"", "unknown variant"),
            ("\n\nengine = ", "line 3"),
            ("[exec]\ncommand = []", "must name a program"),
            ("[prices.m]\ninput = -1.0\noutput = 1.0", "zero or more"),
            ("[prices.m]\ninput = nan\noutput = 1.0", "zero or more"),
            ("[openai]\nbase_url = \"localhost:11434\"", "http://"),
            ("[anthropic]\nmax_tokens = 0", "at least 1"),
            ("[anthropic]\nmax_tokens = -5", "line 2, column 14"),
            ("[notify]\nwait = 5", "unknown field"),
            ("[notify]\nwait_seconds = -1", "line 2"),
            ("[notify]\nquiet_seconds = 86401", "at most 86400"),
            ("[notify]\npush = \"yes\"", "line 2"),
            ("[notify]\nwebhook = \"hook.example/x\"", "http://"),
            (
                "[notify]\nwebhook = \"https://ntfy.sh/\"\nwebhook_format = \"ntfy\"",
                "topic",
            ),
            ("[notify]\nwebhook_format = \"slack\"", "unknown variant"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains("sk-ant-123"), "a secret is never quoted: {e}");
        }
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../../examples/config.toml");
        Config::parse(text).unwrap();
        // Its commented [notify] keys, uncommented, parse too.
        let notify = text.split("[notify]").nth(1).unwrap();
        let keys: String = notify
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{}\n", l.split("  #").next().unwrap().trim()))
            .collect();
        let c = Config::parse(&format!("[notify]\n{keys}")).unwrap();
        assert_eq!(c.notify.webhook_format, WebhookFormat::Ntfy);
        assert_eq!(c.notify.terminal, TerminalNotify::Osc9);
    }

    #[test]
    fn missing_file_is_empty_and_unreadable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Config::load(&dir.path().join("none.toml")).unwrap(),
            Config::default()
        );
        let e = Config::load(dir.path()).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
    }
}
