//! Base URLs as configured: checking them, naming their host in messages, joining paths.

use crate::EngineError;
use crate::secret;

/// Parses and checks a configured base URL.
pub(crate) fn parse_base_url(base_url: &str, what: &str) -> Result<reqwest::Url, EngineError> {
    let url = reqwest::Url::parse(base_url.trim()).map_err(|e| {
        EngineError(secret::redact(
            &format!("the {what} base URL `{base_url}` is not a URL ({e})"),
            None,
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(EngineError(secret::redact(
            &format!("the {what} base URL `{base_url}` must be an http:// or https:// URL"),
            None,
        )));
    }
    Ok(url)
}

/// `host[:port]` of a URL, for messages.
pub(crate) fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// `base` (without a trailing slash) joined with `path`.
pub(crate) fn endpoint(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim().trim_end_matches('/'), path)
}

pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            endpoint("http://h:1/", "v1/messages"),
            "http://h:1/v1/messages"
        );
        assert_eq!(
            endpoint("http://h:1/v1", "chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        let u = parse_base_url("http://localhost:11434/v1", "OpenAI").unwrap();
        assert_eq!(host_of(&u), "localhost:11434");
        assert!(parse_base_url("localhost:11434", "OpenAI").is_err());
        assert!(parse_base_url("ftp://x", "OpenAI").is_err());
        assert!(
            parse_base_url("not a url", "OpenAI")
                .unwrap_err()
                .0
                .contains("not a URL")
        );
        for local in [
            "http://localhost:1",
            "http://127.0.0.1:1",
            "http://[::1]:1/v1",
        ] {
            assert!(is_loopback(&reqwest::Url::parse(local).unwrap()), "{local}");
        }
        assert!(!is_loopback(
            &reqwest::Url::parse("https://api.openai.com/v1").unwrap()
        ));
    }
}
