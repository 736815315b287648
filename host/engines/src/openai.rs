//! Any server speaking OpenAI's Chat Completions API: OpenAI itself, Ollama
//! (`http://localhost:11434/v1`), llama.cpp's server, vLLM, and the many proxies.
//!
//! One turn is one `POST {base}/chat/completions` with `stream: true`. The stream is
//! `data: {chunk}` lines, each with `choices[0].delta.content`; one chunk carries a
//! `finish_reason`, then (with `stream_options.include_usage`) a chunk with no choices and the
//! `usage`, then `data: [DONE]`.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Value, json};

use crate::alternate::alternating;
use crate::echo::estimate_tokens;
use crate::http::{
    self, Decoder, Endpoint, Failure, Flavor, Provider, ProviderError, RetryPolicy, SseEvent, Step,
};
use crate::secret::ApiKey;
use crate::usage::{Price, TurnUsage};
use crate::{ChatRole, Engine, EngineError, EngineStream, TurnRequest, system_prompt};

/// How to reach an OpenAI-compatible server and which model to ask.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Local servers need none; then no `Authorization` header is sent.
    pub api_key: Option<ApiKey>,
    /// As the server names it (`gpt-4o-mini`, `llama3.2`).
    pub model: String,
    /// Up to and including `/v1`.
    pub base_url: String,
    /// `None` leaves the length of the reply to the server.
    pub max_tokens: Option<u32>,
    /// What the model costs, for the usage report.
    pub price: Price,
    /// How rate limits, overloads and server errors are retried.
    pub retry: RetryPolicy,
}

impl OpenAiConfig {
    /// OpenAI's own API.
    pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
    /// The model used when none is configured.
    pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

    /// A configuration with the defaults, priced from the built-in table (free if the model is
    /// not in it, as local models are).
    pub fn new(api_key: Option<ApiKey>, model: impl Into<String>) -> OpenAiConfig {
        let model = model.into();
        OpenAiConfig {
            api_key,
            price: crate::prices::builtin(&model).unwrap_or_default(),
            model,
            base_url: Self::DEFAULT_BASE_URL.into(),
            max_tokens: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// The Chat Completions engine, for OpenAI and the servers that speak its API (Ollama,
/// llama.cpp, vLLM).
pub struct OpenAi {
    config: OpenAiConfig,
    endpoint: Endpoint,
}

impl OpenAi {
    /// An engine for `config`; fails only on a configuration that cannot work (a bad base URL, a
    /// key that cannot be sent in a header).
    pub fn new(config: OpenAiConfig) -> Result<OpenAi, EngineError> {
        let base = http::parse_base_url(&config.base_url, "OpenAI-compatible")?;
        let trimmed = config.base_url.trim().trim_end_matches('/');
        // Someone may paste the whole endpoint.
        let url = if trimmed.ends_with("/chat/completions") {
            trimmed.to_string()
        } else {
            http::endpoint(trimmed, "chat/completions")
        };
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let value = http::key_header(&format!("Bearer {}", key.expose()), Flavor::OpenAi)?;
            headers.insert(AUTHORIZATION, value);
        }
        let name = if base.host_str() == Some("api.openai.com") {
            "OpenAI".into()
        } else {
            format!("the server at {}", http::host_of(&base))
        };
        let provider = Provider::new(
            Flavor::OpenAi,
            name,
            &base,
            &config.base_url,
            config.api_key.clone(),
        );
        let endpoint = Endpoint::new(&base, url, headers, provider, config.retry)?;
        Ok(OpenAi { config, endpoint })
    }

    /// How long a reply may go without a byte before it is abandoned (default two minutes).
    pub fn with_stall_timeout(mut self, stall: Duration) -> OpenAi {
        self.endpoint.stall = stall;
        self
    }
}

/// OpenAI's reasoning models refuse `max_tokens` and take `max_completion_tokens` instead;
/// other servers (Ollama, llama.cpp, older vLLM) know only `max_tokens`.
fn takes_max_completion_tokens(model: &str) -> bool {
    let m = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| m.starts_with(p))
}

/// The request body for one turn.
pub(crate) fn body(config: &OpenAiConfig, request: &TurnRequest) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = system_prompt(request) {
        messages.push(json!({ "role": "system", "content": system }));
    }
    // Two user messages in a row would be answered as one turn each by some servers and refused
    // by others; a failed turn's message must never ride along with the next one either.
    messages.extend(alternating(&request.messages).iter().map(|m| {
        let role = match m.role {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        };
        json!({ "role": role, "content": m.text })
    }));
    let mut body = json!({
        "model": config.model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if let Some(max) = config.max_tokens {
        let field = if takes_max_completion_tokens(&config.model) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[field] = json!(max);
    }
    body
}

/// Reads one attempt's chunks.
struct Stream {
    provider: Provider,
    usage: Option<TurnUsage>,
    /// A choice said why it finished: the text is complete.
    finished: bool,
    /// For the estimate when the server reports no usage.
    input_estimate: u64,
    output_chars: String,
}

impl Stream {
    /// The usage the server reported, or an estimate. Servers that ignore
    /// `stream_options.include_usage` (older llama.cpp and Ollama builds, some proxies) report
    /// none; a turn is then counted at about four characters a token (as the echo engine
    /// counts), so that context and cost figures stay roughly right rather than showing zero.
    fn usage(&self) -> TurnUsage {
        self.usage.unwrap_or(TurnUsage {
            input_tokens: self.input_estimate,
            output_tokens: estimate_tokens(&self.output_chars),
            ..Default::default()
        })
    }
}

impl Decoder for Stream {
    fn event(&mut self, event: SseEvent, out: &mut Vec<String>) -> Result<Step, Failure> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Step::Done(self.usage()));
        }
        if data.is_empty() {
            return Ok(Step::Continue);
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| http::unreadable(&self.provider, &e, data))?;
        if v.get("error").is_some_and(|e| !e.is_null()) {
            let said = ProviderError::from_json(&v).unwrap_or_default();
            return Err(http::stream_error_failure(&self.provider, &said));
        }
        let choices = v.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            // Only the first choice is the reply (tether never asks for more).
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            // `content` only: `reasoning_content`, `tool_calls` and a null content are not text.
            if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
                && !text.is_empty()
            {
                self.output_chars.push_str(text);
                out.push(text.to_string());
            }
            if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
                self.finished = true;
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let field = |path: &str| u.pointer(path).and_then(Value::as_u64).unwrap_or(0);
            let prompt = field("/prompt_tokens");
            // OpenAI counts cached tokens within the prompt; tether counts them apart.
            let cached = field("/prompt_tokens_details/cached_tokens").min(prompt);
            self.usage = Some(TurnUsage {
                input_tokens: prompt - cached,
                output_tokens: field("/completion_tokens"),
                cache_read_tokens: cached,
                ..Default::default()
            });
        }
        Ok(Step::Continue)
    }

    fn end(&mut self) -> Option<TurnUsage> {
        // Without `[DONE]` the reply is whole only if a choice finished.
        self.finished.then(|| self.usage())
    }
}

#[async_trait::async_trait]
impl Engine for OpenAi {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self) -> String {
        self.config.model.clone()
    }

    fn price(&self) -> Price {
        self.config.price
    }

    fn reply(&self, request: TurnRequest) -> EngineStream {
        let body = body(&self.config, &request);
        let input_estimate = request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.text))
            .sum::<u64>()
            + system_prompt(&request)
                .as_deref()
                .map_or(0, estimate_tokens);
        self.endpoint.stream(&body, move |provider| Stream {
            provider,
            usage: None,
            finished: false,
            input_estimate,
            output_chars: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&str]) -> (String, Result<Option<TurnUsage>, Failure>) {
        let mut s = Stream {
            provider: Provider {
                flavor: Flavor::OpenAi,
                name: "OpenAI".into(),
                host: "h".into(),
                base_url: "http://h/v1".into(),
                key: None,
            },
            usage: None,
            finished: false,
            input_estimate: 5,
            output_chars: String::new(),
        };
        let mut out = Vec::new();
        for data in chunks {
            let event = SseEvent {
                event: "message".into(),
                data: data.to_string(),
                ..SseEvent::default()
            };
            match s.event(event, &mut out) {
                Ok(Step::Done(u)) => return (out.concat(), Ok(Some(u))),
                Ok(Step::Continue) => {}
                Err(f) => return (out.concat(), Err(f)),
            }
        }
        (out.concat(), Ok(s.end()))
    }

    #[test]
    fn content_only_and_usage_with_cache() {
        let (text, u) = decode(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"thinking…"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":1,"delta":{"content":"other choice"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920}}}"#,
            "[DONE]",
        ]);
        assert_eq!(text, "Hello");
        let u = u.unwrap().unwrap();
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (86, 1920, 300)
        );
    }

    #[test]
    fn endings() {
        let hi = r#"{"choices":[{"index":0,"delta":{"content":"Hi there"},"finish_reason":null}]}"#;
        let stop = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        // Cut off: no finish, no [DONE].
        assert_eq!(decode(&[hi]).1, Ok(None));
        // Finished without [DONE] nor usage: estimated.
        let (_, u) = decode(&[hi, stop]);
        let u = u.unwrap().unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (5, 2));
        // [DONE] alone ends the reply too.
        assert!(decode(&[hi, "[DONE]"]).1.unwrap().is_some());
    }

    #[test]
    fn errors_in_the_stream() {
        let (_, r) =
            decode(&[r#"{"error":{"message":"server overloaded","type":"server_error"}}"#]);
        let f = r.unwrap_err();
        assert!(f.transient.is_some());
        assert!(
            f.message.contains("server_error: server overloaded"),
            "{}",
            f.message
        );
        let (_, r) = decode(&[r#"{"error":"model crashed"}"#]);
        assert!(r.unwrap_err().message.contains("model crashed"));
        let (_, r) = decode(&[r#"{"choices":[{"delta":{"content":"a"#]);
        assert!(r.unwrap_err().message.contains("unreadable"));
        // `"error": null` is not an error.
        assert_eq!(decode(&[r#"{"error":null,"choices":[]}"#]).1, Ok(None));
    }

    #[test]
    fn body_shape() {
        let mut config = OpenAiConfig::new(None, "llama3.2");
        let r = TurnRequest {
            system: Some("Be brief.".into()),
            ..TurnRequest::user("hi")
        };
        let b = body(&config, &r);
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][0]["content"], "Be brief.");
        assert_eq!(b["messages"][1]["role"], "user");
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert!(b.get("max_tokens").is_none());
        config.max_tokens = Some(100);
        assert_eq!(body(&config, &r)["max_tokens"], 100);
        config.model = "gpt-5-mini".into();
        let b = body(&config, &r);
        assert_eq!(b["max_completion_tokens"], 100);
        assert!(b.get("max_tokens").is_none());
    }

    #[test]
    fn the_body_never_has_two_user_messages_in_a_row() {
        use crate::ChatRole::{Assistant as A, User as U};
        use crate::alternate::tests::{m, roles};
        let r = TurnRequest {
            messages: vec![m(U, "blocked"), m(U, "hello"), m(A, "hi"), m(U, "more")],
            system: Some("Be brief.".into()),
            ..Default::default()
        };
        let b = body(&OpenAiConfig::new(None, "llama3.2"), &r);
        assert_eq!(roles(&b), ["system", "user", "assistant", "user"]);
        assert_eq!(b["messages"][1]["content"], "blocked\n\nhello");
    }

    #[test]
    fn urls_and_names() {
        for base in [
            "http://localhost:11434/v1",
            "http://localhost:11434/v1/",
            "http://localhost:11434/v1/chat/completions",
        ] {
            let mut c = OpenAiConfig::new(None, "llama3.2");
            c.base_url = base.into();
            let e = OpenAi::new(c).unwrap();
            assert_eq!(e.endpoint.url, "http://localhost:11434/v1/chat/completions");
            assert_eq!(e.endpoint.provider.name, "the server at localhost:11434");
            assert!(e.endpoint.headers.get(AUTHORIZATION).is_none());
        }
        let c = OpenAiConfig::new(ApiKey::new("sk-test"), "gpt-4o");
        let e = OpenAi::new(c).unwrap();
        assert_eq!(e.endpoint.provider.name, "OpenAI");
        assert!(
            e.endpoint
                .headers
                .get(AUTHORIZATION)
                .unwrap()
                .is_sensitive()
        );
    }
}
