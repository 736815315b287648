//! What a provider said about an error, read from an error body or an error event, and what it
//! means: permanent or worth another attempt, about billing or not.

use super::provider::Provider;

/// What a provider said about an error, from an error body or an error event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProviderError {
    /// `overloaded_error`, `invalid_request_error`, … (the `code` when there is no `type`).
    pub kind: Option<String>,
    /// OpenAI's `code` beside its `type`: `rate_limit_exceeded` under the type `requests`.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ProviderError {
    /// Reads the error shapes in use: Anthropic's and OpenAI's `{"error":{"type","message"}}`,
    /// `{"error":"text"}` (Ollama's native API, llama.cpp), vLLM's top-level
    /// `{"object":"error","message","type"}`, FastAPI's `{"detail":…}`. Anything else is
    /// quoted as text (the caller shortens and redacts it with [`Provider::quote`]).
    pub fn from_body(body: &str) -> ProviderError {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) if v.is_object() => {
                ProviderError::from_json(&v).unwrap_or_else(|| ProviderError {
                    message: Some(body.to_string()),
                    ..Default::default()
                })
            }
            _ if body.trim().is_empty() => ProviderError::default(),
            _ => ProviderError {
                message: Some(body.to_string()),
                ..Default::default()
            },
        }
    }

    /// The error inside a JSON object, if it holds one.
    pub fn from_json(v: &serde_json::Value) -> Option<ProviderError> {
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(|v| match v {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        match v.get("error") {
            Some(serde_json::Value::Object(e)) => {
                return Some(ProviderError {
                    kind: text(e.get("type")).or_else(|| text(e.get("code"))),
                    code: text(e.get("code")),
                    message: text(e.get("message")),
                });
            }
            Some(serde_json::Value::String(s)) => {
                return Some(ProviderError {
                    message: Some(s.clone()),
                    ..Default::default()
                });
            }
            _ => {}
        }
        if v.get("object").and_then(|o| o.as_str()) == Some("error") || v.get("message").is_some() {
            return Some(ProviderError {
                kind: text(v.get("type")),
                code: text(v.get("code")),
                message: text(v.get("message")),
            });
        }
        if let Some(detail) = v.get("detail") {
            let message = match detail {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Some(ProviderError {
                message: Some(message),
                ..Default::default()
            });
        }
        None
    }

    /// The type and the code, lower-cased: what the rules below look at.
    fn labels(&self) -> impl Iterator<Item = String> + '_ {
        [&self.kind, &self.code]
            .into_iter()
            .flatten()
            .map(|l| l.to_ascii_lowercase())
    }

    /// `type: message`, or what there is of it.
    pub fn describe(&self) -> Option<String> {
        match (&self.kind, &self.message) {
            (Some(k), Some(m)) => Some(format!("{k}: {m}")),
            (Some(k), None) => Some(k.clone()),
            (None, Some(m)) => Some(m.clone()),
            (None, None) => None,
        }
    }

    /// An error that another attempt will not fix, whether it came as a status (a `429` that
    /// means the quota is spent) or inside the stream.
    pub(crate) fn is_permanent(&self) -> bool {
        const PERMANENT: [&str; 8] = [
            "authentication",
            "permission",
            "invalid_request",
            "not_found",
            "request_too_large",
            "invalid_api_key",
            "billing",
            "insufficient_quota",
        ];
        self.labels()
            .any(|label| PERMANENT.iter().any(|p| label.contains(p)))
    }

    /// Whether the quota or the bill is the problem: the user has to act on the account.
    pub(crate) fn is_about_billing(&self) -> bool {
        self.labels()
            .any(|label| label.contains("quota") || label.contains("billing"))
    }

    /// The short reason for a `Retrying` event. OpenAI labels an in-stream rate limit by what
    /// ran out (`requests`, `tokens`) and puts `rate_limit_exceeded` in the code.
    pub(crate) fn retry_reason(&self, provider: &Provider) -> String {
        let labels: Vec<String> = self.labels().collect();
        let any = |f: &dyn Fn(&str) -> bool| labels.iter().any(|l| f(l));
        if any(&|l| l.contains("overloaded")) {
            "overloaded".into()
        } else if any(&|l| l.contains("rate_limit") || l == "requests" || l == "tokens") {
            "rate limited".into()
        } else {
            match self.kind.as_deref() {
                None | Some("") => "error in the stream".into(),
                Some(k) => provider.quote(k, 40),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_shape() {
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(
            ProviderError::from_body(anthropic).describe().unwrap(),
            "authentication_error: invalid x-api-key"
        );
        let openai = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            ProviderError::from_body(openai).describe().unwrap(),
            "invalid_request_error: Incorrect API key"
        );
        let code_only = r#"{"error":{"message":"nope","type":null,"code":"model_not_found"}}"#;
        assert_eq!(
            ProviderError::from_body(code_only).describe().unwrap(),
            "model_not_found: nope"
        );
        let ollama = r#"{"error":"model \"llama9\" not found, try pulling it first"}"#;
        assert_eq!(
            ProviderError::from_body(ollama).describe().unwrap(),
            "model \"llama9\" not found, try pulling it first"
        );
        let vllm = r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#;
        assert_eq!(
            ProviderError::from_body(vllm).describe().unwrap(),
            "NotFoundError: The model `x` does not exist."
        );
        let fastapi = r#"{"detail":"Not Found"}"#;
        assert_eq!(
            ProviderError::from_body(fastapi).describe().unwrap(),
            "Not Found"
        );
        assert_eq!(ProviderError::from_body("  ").describe(), None);
    }
}
