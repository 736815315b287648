//! The pure rules of dispatch: is this input a slash command, and may its effects be applied?

use tether_plugins::Effect;
use tether_protocol::{effect_allowed, gate::Context};

/// Splits `/name args` into its parts. Only a slash directly followed by a plausible command name
/// and then white space or the end counts, so `/etc/passwd is missing` stays plain text.
pub fn parse_slash(input: &str) -> Option<(&str, &str)> {
    let rest = input.trim_start().strip_prefix('/')?;
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = &rest[..end];
    let plausible = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    plausible.then(|| (name, rest[end..].trim()))
}

/// Checks every effect before any is applied, so that a command's results are applied whole or
/// not at all.
pub fn check_effects(command: &str, effects: &[Effect], context: Context) -> Result<(), String> {
    for effect in effects {
        let kind = effect.kind();
        if !effect_allowed(kind, context) {
            let place = match context {
                Context::Bridge => "when sent from a remote client",
                Context::RemoteTerminal => "in remote mode",
                Context::Local => "here",
            };
            return Err(format!(
                "/{command} asked to {} {place}, which is not allowed; nothing was done",
                kind.as_str()
            ));
        }
        if let Effect::OpenUrl(url) = effect
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!(
                "/{command} asked to open `{url}`: only http and https links are opened"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_parsing() {
        assert_eq!(parse_slash("/help"), Some(("help", "")));
        assert_eq!(parse_slash("  /theme   light  "), Some(("theme", "light")));
        assert_eq!(parse_slash("/btw a b\nc"), Some(("btw", "a b\nc")));
        assert_eq!(
            parse_slash("/release-notes all"),
            Some(("release-notes", "all"))
        );
        for plain in [
            "/etc/passwd is missing",
            "/",
            "/ help",
            "hello /help",
            "/Help",
            "/1x",
            "//x",
            "/hé",
        ] {
            assert_eq!(parse_slash(plain), None, "{plain}");
        }
    }

    #[test]
    fn effects_checked_whole() {
        let fx = vec![
            Effect::Print("hi".into()),
            Effect::InstallPlugin("/tmp/x.wasm".into()),
        ];
        assert!(check_effects("x", &fx, Context::Local).is_ok());
        let err = check_effects("x", &fx, Context::RemoteTerminal).unwrap_err();
        assert!(err.contains("install-plugin") && err.contains("nothing was done"));
        assert!(
            check_effects("x", &[Effect::OpenUrl("https://a".into())], Context::Bridge).is_err()
        );
        assert!(
            check_effects(
                "x",
                &[Effect::OpenUrl("file:///etc/passwd".into())],
                Context::Local
            )
            .is_err()
        );
        assert!(
            check_effects(
                "x",
                &[Effect::OpenUrl("javascript:alert(1)".into())],
                Context::Local
            )
            .is_err()
        );
    }
}
