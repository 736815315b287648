//! `/feedback <text>`: turn feedback into a pre-filled GitHub issue for the tether project.

use tether_sdk::prelude::*;

struct Feedback;

const NEW_ISSUE: &str = "https://github.com/tether-rs/tether/issues/new";

impl Command for Feedback {
    fn manifest() -> Manifest {
        Manifest::local("feedback", "Send feedback about tether")
            .argument_hint("<text>")
            .remote_safe()
            .capability(Capability::Session)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        if call.args.is_empty() {
            return Err(
                "Usage: /feedback <text>: prepares a GitHub issue with your text and the tether version."
                    .into(),
            );
        }
        let session = host::session()?;
        let title: String = call
            .args
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(80)
            .collect();
        let body = format!(
            "{}\n\n---\ntether {}, engine {}/{}",
            call.args, session.version, session.engine, session.model
        );
        let url = format!(
            "{NEW_ISSUE}?title={}&body={}",
            percent_encode(&title),
            percent_encode(&body)
        );
        let mut effects = vec![Effect::markdown(format!("Thanks! Send it here: <{url}>"))];
        // The host refuses to open a browser for a remote client, and the link above is enough.
        if call.origin == Origin::Terminal {
            effects.push(Effect::open_url(url));
        }
        Ok(effects)
    }
}

/// Encodes a URL query value: RFC 3986 unreserved characters stay, every other UTF-8 byte
/// becomes `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_multibyte() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("a b&c=d/e?"), "a%20b%26c%3Dd%2Fe%3F");
        assert_eq!(percent_encode("é\n"), "%C3%A9%0A");
    }
}

tether_sdk::export!(Feedback);
