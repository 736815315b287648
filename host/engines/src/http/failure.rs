//! Why an attempt failed, as a sentence for the user, and whether another attempt may help: from
//! an HTTP status, an error in the stream, a connection that failed, dropped or stalled.

use std::time::Duration;

use super::client::CONNECT_TIMEOUT;
use super::provider::{Flavor, Provider};
use super::provider_error::ProviderError;
use crate::sentence::end_sentence;

/// Why an attempt failed, as a sentence for the user, and whether another attempt may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub message: String,
    /// Set when the failure is likely to pass (rate limit, overload, server error): a short
    /// reason for the `Retrying` event, and the wait the server asked for.
    pub transient: Option<Transient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transient {
    pub reason: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn fatal(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: None,
        }
    }

    pub fn transient(message: impl Into<String>, reason: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: Some(Transient {
                reason: reason.into(),
                retry_after: None,
            }),
        }
    }
}

/// What an HTTP error status means for the user.
pub(crate) fn status_failure(
    provider: &Provider,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> Failure {
    let said = ProviderError::from_body(body);
    let detail = match said.describe() {
        Some(d) => format!("{status} {}", provider.quote(&d, 300)),
        None => status.to_string(),
    };
    let who = provider.subject();
    let key_var = provider.flavor.key_var();
    let context_hint = {
        let m = said.message.as_deref().unwrap_or("").to_ascii_lowercase();
        if status == 413
            || m.contains("too long")
            || m.contains("context length")
            || m.contains("context_length")
            || m.contains("maximum context")
        {
            " The conversation may be too long for the model: /compact shortens it."
        } else {
            ""
        }
    };
    let message = match (status, provider.flavor) {
        (401, Flavor::OpenAi) if provider.key.is_none() => {
            format!("{who} needs an API key ({detail}). Set {key_var}.")
        }
        (401, _) => format!("{who} did not accept the API key ({detail}). Check {key_var}."),
        (403, _) => format!(
            "{who} refused access ({detail}). Check {key_var} and that the key may use this model."
        ),
        (404, Flavor::OpenAi) => format!(
            "the model or URL was not found at {} ({detail}). Check --model and --base-url \
             (an OpenAI-compatible URL ends in /v1, e.g. http://localhost:11434/v1 for Ollama).",
            provider.base_url
        ),
        (404, Flavor::Anthropic) => {
            format!("{who} refused the request ({detail}). Check the model name and the base URL.")
        }
        (400 | 413 | 422, _) => format!("{who} refused the request ({detail}).{context_hint}"),
        // A spent quota, a bad request: the status says "later" but the body says "never".
        (408 | 429 | 500 | 502 | 503 | 504 | 529, _) if said.is_permanent() => {
            let hint = if said.is_about_billing() {
                " Check the account's plan and billing: another attempt will not help."
            } else {
                ""
            };
            format!("{who} refused the request ({detail}).{hint}")
        }
        (408 | 429 | 500 | 502 | 503 | 504 | 529, _) => {
            let reason = match status {
                429 => "rate limited",
                529 => "overloaded",
                503 => "unavailable",
                408 | 504 => "timed out",
                _ => "server error",
            };
            return Failure {
                message: end_sentence(&format!("{who} answered {detail}")),
                transient: Some(Transient {
                    reason: format!("{reason} ({status})"),
                    retry_after,
                }),
            };
        }
        _ => end_sentence(&format!("{who} answered {detail}")),
    };
    Failure::fatal(message)
}

/// An error the provider reported inside the stream (Anthropic's `error` event, an OpenAI
/// compatible server's `{"error":…}` chunk). Worth retrying unless it says the request itself
/// is wrong; a turn is retried only before any text was shown.
pub(crate) fn stream_error_failure(provider: &Provider, said: &ProviderError) -> Failure {
    let detail = said
        .describe()
        .map_or_else(|| "no details".into(), |d| provider.quote(&d, 300));
    let message = end_sentence(&format!(
        "{} reported an error: {detail}",
        provider.subject()
    ));
    if said.is_permanent() {
        return Failure::fatal(message);
    }
    Failure::transient(message, said.retry_reason(provider))
}

/// A body that is not what the protocol says it should be.
pub(crate) fn unreadable(
    provider: &Provider,
    error: &dyn std::fmt::Display,
    data: &str,
) -> Failure {
    Failure::fatal(format!(
        "{} sent something unreadable ({error}): `{}`",
        provider.subject(),
        provider.quote(data, 80)
    ))
}

/// The text of the innermost cause of an error: `Connection refused (os error 111)` rather
/// than `error sending request for url (…)`.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut e = error;
    while let Some(source) = e.source() {
        e = source;
    }
    e.to_string()
}

pub(crate) fn send_failure(provider: &Provider, e: &reqwest::Error) -> Failure {
    let cause = root_cause(e);
    if e.is_connect() {
        if e.is_timeout() {
            return Failure::fatal(format!(
                "cannot reach {}: no connection within {} s. Check the base URL and your network.",
                provider.base_url,
                CONNECT_TIMEOUT.as_secs()
            ));
        }
        let hint = match provider.flavor {
            Flavor::Anthropic => "Check the base URL and your network.",
            Flavor::OpenAi => "Check --base-url, and that the server is running.",
        };
        return Failure::fatal(format!(
            "cannot reach {} ({cause}). {hint}",
            provider.base_url
        ));
    }
    // Sent, then the connection failed before an answer: a blip worth another attempt.
    Failure::transient(
        format!(
            "the connection to {} failed before an answer came ({cause}).",
            provider.host
        ),
        "connection failed",
    )
}

pub(crate) fn dropped(provider: &Provider, cause: Option<String>) -> Failure {
    let cause = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    Failure::transient(
        format!(
            "the connection to {} closed before the reply finished{cause}.",
            provider.host
        ),
        "connection closed early",
    )
}

/// Nothing arrived for `after`. Before any text this is retried like a dropped connection (a
/// stuck load balancer, a server that lost the request); after text, the turn ends.
pub(crate) fn stalled(provider: &Provider, after: Duration, what: &str) -> Failure {
    let after = if after.subsec_millis() == 0 {
        format!("{} s", after.as_secs())
    } else {
        format!("{:.1} s", after.as_secs_f64())
    };
    Failure::transient(
        format!("{what}: {} sent nothing for {after}.", provider.name),
        "no answer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::provider::example as provider;

    #[test]
    fn statuses_become_sentences() {
        let a = provider(Flavor::Anthropic, true);
        let body = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        let f = status_failure(&a, 401, body, None);
        assert!(f.transient.is_none());
        assert!(f.message.contains("ANTHROPIC_API_KEY"), "{}", f.message);
        assert!(
            f.message
                .contains("401 authentication_error: invalid x-api-key")
        );

        let body =
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#;
        let f = status_failure(&a, 404, body, None);
        assert!(
            f.message.starts_with(
                "Anthropic refused the request (404 not_found_error: model: claude-nope)"
            ),
            "{}",
            f.message
        );

        let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        let f = status_failure(&a, 400, body, None);
        assert!(f.message.contains("/compact"), "{}", f.message);

        let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let f = status_failure(&a, 529, body, Some(Duration::from_secs(3)));
        let t = f.transient.unwrap();
        assert_eq!(t.reason, "overloaded (529)");
        assert_eq!(t.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            f.message,
            "Anthropic answered 529 overloaded_error: Overloaded."
        );

        for status in [408, 429, 500, 502, 503, 504] {
            assert!(status_failure(&a, status, "", None).transient.is_some());
        }
        for status in [400, 401, 403, 404, 405, 413, 418, 422] {
            assert!(status_failure(&a, status, "", None).transient.is_none());
        }

        let o = provider(Flavor::OpenAi, false);
        let f = status_failure(&o, 401, "", None);
        assert!(
            f.message
                .starts_with("The server at localhost:11434 needs an API key"),
            "{}",
            f.message
        );
        assert!(f.message.contains("OPENAI_API_KEY"));
        let f = status_failure(&o, 404, "404 page not found", None);
        assert!(
            f.message.contains("--base-url") && f.message.contains("/v1"),
            "{}",
            f.message
        );
        let o = provider(Flavor::OpenAi, true);
        assert!(
            status_failure(&o, 401, "", None)
                .message
                .contains("did not accept the API key")
        );
    }

    #[test]
    fn stream_errors_retry_unless_permanent() {
        let a = provider(Flavor::Anthropic, true);
        let over = ProviderError {
            kind: Some("overloaded_error".into()),
            message: Some("Overloaded".into()),
            ..Default::default()
        };
        let f = stream_error_failure(&a, &over);
        assert_eq!(f.transient.unwrap().reason, "overloaded");
        assert_eq!(
            f.message,
            "Anthropic reported an error: overloaded_error: Overloaded."
        );
        let bad = ProviderError {
            kind: Some("invalid_request_error".into()),
            ..Default::default()
        };
        assert!(stream_error_failure(&a, &bad).transient.is_none());
        assert!(
            stream_error_failure(&a, &ProviderError::default())
                .transient
                .is_some()
        );
    }

    #[test]
    fn a_spent_quota_is_not_retried_whatever_the_status() {
        let o = provider(Flavor::OpenAi, true);
        let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let f = status_failure(&o, 429, quota, Some(Duration::from_secs(1)));
        assert!(f.transient.is_none(), "{f:?}");
        assert!(
            f.message.contains("429 insufficient_quota"),
            "{}",
            f.message
        );
        assert!(f.message.contains("billing"), "{}", f.message);
        assert!(!f.message.contains(".."), "{}", f.message);
        // Permanent by its code alone, too.
        let coded = r#"{"error":{"message":"no","type":"requests","code":"insufficient_quota"}}"#;
        assert!(status_failure(&o, 429, coded, None).transient.is_none());
        let auth = r#"{"type":"error","error":{"type":"authentication_error","message":"bad"}}"#;
        assert!(status_failure(&o, 503, auth, None).transient.is_none());
        // An ordinary rate limit is still retried.
        let limit = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#;
        let f = status_failure(&o, 429, limit, None);
        assert_eq!(f.transient.unwrap().reason, "rate limited (429)");
    }

    #[test]
    fn stream_errors_are_labelled_by_what_they_mean() {
        let o = provider(Flavor::OpenAi, true);
        let said = |v: &str| ProviderError::from_json(&serde_json::from_str(v).unwrap()).unwrap();
        let reason = |v: &str| {
            stream_error_failure(&o, &said(v))
                .transient
                .map(|t| t.reason)
        };
        let cases = [
            (
                r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
                Some("rate limited"),
            ),
            (
                r#"{"error":{"message":"Rate limit reached","type":"tokens","code":null}}"#,
                Some("rate limited"),
            ),
            (
                r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
                Some("rate limited"),
            ),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                Some("overloaded"),
            ),
            (
                r#"{"error":{"message":"boom","type":"server_error"}}"#,
                Some("server_error"),
            ),
            (r#"{"error":"model crashed"}"#, Some("error in the stream")),
            (
                r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#,
                None,
            ),
            (
                r#"{"error":{"message":"no","type":"requests","code":"invalid_api_key"}}"#,
                None,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(reason(body).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn messages_end_with_one_full_stop() {
        let o = provider(Flavor::OpenAi, true);
        let body = r#"{"error":{"message":"No model was provided.","type":"server_error"}}"#;
        assert_eq!(
            status_failure(&o, 500, body, None).message,
            "The server at localhost:11434 answered 500 server_error: No model was provided."
        );
        assert_eq!(
            status_failure(&o, 418, "I'm a teapot", None).message,
            "The server at localhost:11434 answered 418 I'm a teapot."
        );
        let said = ProviderError {
            kind: Some("overloaded_error".into()),
            message: Some("Retry attempted.".into()),
            ..Default::default()
        };
        assert_eq!(
            stream_error_failure(&o, &said).message,
            "The server at localhost:11434 reported an error: overloaded_error: Retry attempted."
        );
    }

    #[test]
    fn a_stall_is_worth_another_attempt() {
        let o = provider(Flavor::OpenAi, false);
        let f = stalled(&o, Duration::from_millis(1500), "no answer");
        assert_eq!(
            f.message,
            "no answer: the server at localhost:11434 sent nothing for 1.5 s."
        );
        assert!(f.transient.is_some());
    }
}
