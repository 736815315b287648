//! API keys. A key is needed in exactly one place (a request header); everywhere else it must be
//! invisible, so the type cannot be printed, and every message built from what a provider sent
//! back goes through [`redact`] in case the provider quotes the key.

use std::fmt;

/// An API key. It prints as `<redacted>`, even in debug output: only [`ApiKey::expose`] reads
/// it, for the request header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank key, which providers would reject with a confusing message.
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into().trim().to_string();
        (!key.is_empty()).then_some(ApiKey(key))
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced.
    pub fn redact(&self, text: &str) -> String {
        redact(text, Some(self))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `text` without the key, and without anything shaped like a provider key (`sk-…`), which a
/// provider may echo back partly masked or in another form.
pub fn redact(text: &str, key: Option<&ApiKey>) -> String {
    let mut out = match key {
        Some(k) if k.0.len() >= 4 => text.replace(&k.0, "<redacted>"),
        _ => text.to_string(),
    };
    // Anything that looks like a key: `sk-` followed by a long run of key characters.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("sk-") {
        let (before, from) = rest.split_at(at);
        result.push_str(before);
        let run = from[3..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .map_or(from.len() - 3, |n| n);
        if run >= 16 {
            result.push_str("<redacted>");
        } else {
            result.push_str(&from[..3 + run]);
        }
        rest = &from[3 + run..];
    }
    result.push_str(rest);
    out = result;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let k = ApiKey::new("sk-ant-api03-secretsecretsecret").unwrap();
        assert!(!format!("{k:?} {k}").contains("secret"));
        assert_eq!(k.expose(), "sk-ant-api03-secretsecretsecret");
    }

    #[test]
    fn blank_keys_are_none() {
        assert!(ApiKey::new("").is_none());
        assert!(ApiKey::new("  \n").is_none());
        assert_eq!(ApiKey::new(" k1 \n").unwrap().expose(), "k1");
    }

    #[test]
    fn redacts_the_key_and_key_shapes() {
        let k = ApiKey::new("my-very-own-key-1234").unwrap();
        let text = "invalid x-api-key: my-very-own-key-1234 (also sk-proj-AbCdEfGhIjKlMnOpQrSt)";
        let r = redact(text, Some(&k));
        assert!(!r.contains("my-very-own-key-1234"), "{r}");
        assert!(!r.contains("AbCdEfGhIjKlMnOpQrSt"), "{r}");
        assert!(r.contains("invalid x-api-key"));
        // Short `sk-` words are ordinary text.
        assert_eq!(redact("ask-me sk-1", None), "ask-me sk-1");
        // Non-ASCII text around a key shape survives intact.
        assert_eq!(
            redact("clé: sk-aaaaaaaaaaaaaaaaaaaa été", None),
            "clé: <redacted> été"
        );
    }
}
