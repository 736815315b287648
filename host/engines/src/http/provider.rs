//! Who is being talked to, as messages name them, and how what they send is quoted.

use super::url::host_of;
use crate::secret::{self, ApiKey};
use tether_protocol::text::{one_line, shorten};

/// Which API's conventions the error messages follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Anthropic,
    OpenAi,
}

/// Who is being talked to, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    pub flavor: Flavor,
    /// "Anthropic", "OpenAI", or "the server at localhost:11434".
    pub name: String,
    /// host[:port], for "the connection to … closed".
    pub host: String,
    /// The base URL as configured.
    pub base_url: String,
    /// The API key sent, if any: what the provider sends back is redacted of it before it is
    /// shortened for a message (a key cut in two would escape redaction).
    pub key: Option<ApiKey>,
}

impl Flavor {
    /// The environment variable that holds the key.
    pub(crate) fn key_var(self) -> &'static str {
        match self {
            Flavor::Anthropic => "ANTHROPIC_API_KEY",
            Flavor::OpenAi => "OPENAI_API_KEY",
        }
    }

    /// The API's name, as in "the OpenAI API key".
    pub(crate) fn api(self) -> &'static str {
        match self {
            Flavor::Anthropic => "Anthropic",
            Flavor::OpenAi => "OpenAI",
        }
    }
}

impl Provider {
    /// Who is at `base`, configured as `base_url`, called `name` in messages.
    pub fn new(
        flavor: Flavor,
        name: String,
        base: &reqwest::Url,
        base_url: &str,
        key: Option<ApiKey>,
    ) -> Provider {
        Provider {
            flavor,
            name,
            host: host_of(base),
            base_url: base_url.trim().to_string(),
            key,
        }
    }

    /// Text the provider sent, fit to quote: without the key, on one line, at most `max`
    /// characters.
    pub fn quote(&self, text: &str, max: usize) -> String {
        shorten(&one_line(&secret::redact(text, self.key.as_ref())), max)
    }

    /// The name at the start of a sentence.
    pub(crate) fn subject(&self) -> String {
        let mut chars = self.name.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

/// A provider as the tests of this module and its neighbours describe one.
#[cfg(test)]
pub(crate) fn example(flavor: Flavor, has_key: bool) -> Provider {
    let (name, host, base_url) = match flavor {
        Flavor::Anthropic => (
            "Anthropic",
            "api.anthropic.com",
            "https://api.anthropic.com",
        ),
        Flavor::OpenAi => (
            "the server at localhost:11434",
            "localhost:11434",
            "http://localhost:11434",
        ),
    };
    Provider {
        flavor,
        name: name.into(),
        host: host.into(),
        base_url: base_url.into(),
        key: has_key.then(|| ApiKey::new("sk-test-0123456789abcdefghij").unwrap()),
    }
}

#[cfg(test)]
mod tests {
    use super::example as provider;
    use super::*;

    #[test]
    fn quotes_are_short_single_lines_without_the_key() {
        let p = provider(Flavor::OpenAi, true);
        let html = "<html>\n<body>\u{7}502 Bad Gateway</body></html>";
        assert_eq!(
            p.quote(html, 300),
            "<html> <body>502 Bad Gateway</body></html>"
        );
        let long = "x".repeat(1000);
        assert_eq!(p.quote(&long, 300).chars().count(), 301);
        // The key is removed before the text is cut, so no piece of it survives the cut.
        let key = p.key.as_ref().unwrap().expose().to_string();
        let text = format!("{}{key}", "y".repeat(290));
        let quoted = p.quote(&text, 300);
        assert!(!quoted.contains("sk-test"), "{quoted}");
    }
}
