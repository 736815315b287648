//! Anthropic's Messages API, streamed over server-sent events.
//!
//! One turn is one `POST /v1/messages` with `stream: true`. The stream is `message_start`
//! (input usage), then per content block `content_block_start`, `content_block_delta`s and
//! `content_block_stop`, then `message_delta` (cumulative output usage) and `message_stop`;
//! `ping`s may come at any time, and an `error` event may replace the rest.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::alternate::alternating;
use crate::http::{
    self, Decoder, Endpoint, Failure, Flavor, Provider, ProviderError, RetryPolicy, SseEvent, Step,
};
use crate::secret::ApiKey;
use crate::usage::{Price, TurnUsage};
use crate::{ChatRole, Engine, EngineError, EngineStream, TurnRequest, system_prompt};

/// The API version this engine speaks.
pub const API_VERSION: &str = "2023-06-01";

/// How to reach Anthropic and which model to ask.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// Sent as `x-api-key`.
    pub api_key: ApiKey,
    /// As the Messages API names it.
    pub model: String,
    /// Without `/v1` (one is tolerated).
    pub base_url: String,
    /// The longest reply asked for (the API requires a limit).
    pub max_tokens: u32,
    /// What the model costs, for the usage report.
    pub price: Price,
    /// How rate limits, overloads and server errors are retried.
    pub retry: RetryPolicy,
}

impl AnthropicConfig {
    /// Anthropic's own API.
    pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
    /// The model used when none is configured.
    pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
    /// The reply limit used when none is configured.
    pub const DEFAULT_MAX_TOKENS: u32 = 8192;

    /// A configuration with the defaults, priced from the built-in table (free if the model is
    /// not in it).
    pub fn new(api_key: ApiKey, model: impl Into<String>) -> AnthropicConfig {
        let model = model.into();
        AnthropicConfig {
            api_key,
            price: crate::prices::builtin(&model).unwrap_or_default(),
            model,
            base_url: Self::DEFAULT_BASE_URL.into(),
            max_tokens: Self::DEFAULT_MAX_TOKENS,
            retry: RetryPolicy::default(),
        }
    }
}

/// The Anthropic Messages API engine, streamed over server-sent events.
pub struct Anthropic {
    config: AnthropicConfig,
    endpoint: Endpoint,
}

impl Anthropic {
    /// An engine for `config`; fails only on a configuration that cannot work (a bad base URL, a
    /// key that cannot be sent in a header).
    pub fn new(config: AnthropicConfig) -> Result<Anthropic, EngineError> {
        let base = http::parse_base_url(&config.base_url, "Anthropic")?;
        let trimmed = config.base_url.trim().trim_end_matches('/');
        // The SDKs' base URL has no `/v1`; someone may still add it.
        let url = if trimmed.ends_with("/v1") {
            http::endpoint(trimmed, "messages")
        } else {
            http::endpoint(trimmed, "v1/messages")
        };
        let key = http::key_header(config.api_key.expose(), Flavor::Anthropic)?;
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", key);
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        let name = if base.host_str() == Some("api.anthropic.com") {
            "Anthropic".into()
        } else {
            format!("the Anthropic API at {}", http::host_of(&base))
        };
        let provider = Provider::new(
            Flavor::Anthropic,
            name,
            &base,
            &config.base_url,
            Some(config.api_key.clone()),
        );
        let endpoint = Endpoint::new(&base, url, headers, provider, config.retry)?;
        Ok(Anthropic { config, endpoint })
    }

    /// How long a reply may go without a byte before it is abandoned (default two minutes).
    pub fn with_stall_timeout(mut self, stall: Duration) -> Anthropic {
        self.endpoint.stall = stall;
        self
    }
}

/// The request body for one turn.
pub(crate) fn body(config: &AnthropicConfig, request: &TurnRequest) -> Value {
    // Anthropic refuses two messages of one role in a row.
    let messages: Vec<Value> = alternating(&request.messages)
        .into_iter()
        .map(|m| {
            let role = match m.role {
                ChatRole::User => "user",
                ChatRole::Assistant => "assistant",
            };
            json!({ "role": role, "content": m.text })
        })
        .collect();
    let mut body = json!({
        "model": config.model,
        "max_tokens": config.max_tokens,
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = system_prompt(request) {
        body["system"] = Value::String(system);
    }
    body
}

/// Reads one attempt's events.
struct Stream {
    provider: Provider,
    usage: TurnUsage,
    /// Some text was shown, and whether it ended with a line break.
    wrote: bool,
    ends_with_newline: bool,
    /// A new text block started after text: it is set apart by a blank line.
    separate: bool,
    /// `message_delta` said why the message stopped: the text is complete.
    stopped: bool,
}

impl Stream {
    fn new(provider: Provider) -> Stream {
        Stream {
            provider,
            usage: TurnUsage::default(),
            wrote: false,
            ends_with_newline: false,
            separate: false,
            stopped: false,
        }
    }

    fn text(&mut self, t: &str, out: &mut Vec<String>) {
        if t.is_empty() {
            return;
        }
        let mut piece = String::new();
        if std::mem::take(&mut self.separate) && self.wrote && !self.ends_with_newline {
            piece.push_str("\n\n");
        }
        piece.push_str(t);
        self.wrote = true;
        self.ends_with_newline = t.ends_with('\n');
        out.push(piece);
    }

    /// Usage fields present in `u` replace what was known: Anthropic's counts are cumulative.
    fn read_usage(&mut self, u: Option<&Value>) {
        let Some(u) = u else { return };
        let field = |name: &str| u.get(name).and_then(Value::as_u64);
        if let Some(n) = field("input_tokens") {
            self.usage.input_tokens = n;
        }
        if let Some(n) = field("output_tokens") {
            self.usage.output_tokens = n;
        }
        if let Some(n) = field("cache_read_input_tokens") {
            self.usage.cache_read_tokens = n;
        }
        if let Some(n) = field("cache_creation_input_tokens") {
            self.usage.cache_write_tokens = n;
        }
    }
}

impl Decoder for Stream {
    fn event(&mut self, event: SseEvent, out: &mut Vec<String>) -> Result<Step, Failure> {
        if event.event == "ping" {
            return Ok(Step::Continue);
        }
        let v: Value = serde_json::from_str(&event.data)
            .map_err(|e| http::unreadable(&self.provider, &e, &event.data))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(&event.event);
        match kind {
            "message_start" => self.read_usage(v.pointer("/message/usage")),
            "content_block_start" => {
                let block = v.get("content_block");
                if block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("text") {
                    self.separate = self.wrote;
                    if let Some(t) = block.and_then(|b| b.get("text")).and_then(Value::as_str) {
                        self.text(t, out);
                    }
                }
            }
            "content_block_delta" => {
                // Only text is shown: thinking, signatures and tool input are not the reply.
                let delta = v.get("delta");
                if delta.and_then(|d| d.get("type")).and_then(Value::as_str) == Some("text_delta")
                    && let Some(t) = delta.and_then(|d| d.get("text")).and_then(Value::as_str)
                {
                    self.text(t, out);
                }
            }
            "message_delta" => {
                self.read_usage(v.get("usage"));
                if v.pointer("/delta/stop_reason")
                    .is_some_and(|r| !r.is_null())
                {
                    self.stopped = true;
                }
            }
            "message_stop" => return Ok(Step::Done(self.usage)),
            "error" => {
                let said = ProviderError::from_json(&v).unwrap_or_default();
                return Err(http::stream_error_failure(&self.provider, &said));
            }
            // `content_block_stop`, `ping`, and whatever future versions add.
            _ => {}
        }
        Ok(Step::Continue)
    }

    fn end(&mut self) -> Option<TurnUsage> {
        // Without `message_stop` the reply is whole only if `message_delta` said it stopped.
        self.stopped.then_some(self.usage)
    }
}

#[async_trait::async_trait]
impl Engine for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> String {
        self.config.model.clone()
    }

    fn price(&self) -> Price {
        self.config.price
    }

    fn reply(&self, request: TurnRequest) -> EngineStream {
        self.endpoint
            .stream(&body(&self.config, &request), Stream::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alternate::tests::{m, roles};

    #[test]
    fn the_body_never_has_two_user_messages_in_a_row() {
        use ChatRole::{Assistant as A, User as U};
        let r = TurnRequest {
            messages: vec![m(U, "one"), m(U, "two"), m(A, "answer"), m(U, "three")],
            ..Default::default()
        };
        let config = AnthropicConfig::new(ApiKey::new("k").unwrap(), "claude-haiku-4-5");
        let b = body(&config, &r);
        assert_eq!(roles(&b), ["user", "assistant", "user"]);
        assert_eq!(b["messages"][0]["content"], "one\n\ntwo");
    }

    #[test]
    fn the_body_carries_the_system_prompt_only_when_there_is_one() {
        let config = AnthropicConfig::new(ApiKey::new("k").unwrap(), "claude-haiku-4-5");
        let mut r = TurnRequest::user("hi");
        let b = body(&config, &r);
        assert!(b.get("system").is_none());
        assert_eq!(b["stream"], true);
        assert_eq!(b["max_tokens"], 8192);
        r.plan_mode = true;
        assert!(
            body(&config, &r)["system"]
                .as_str()
                .unwrap()
                .contains("plan mode")
        );
    }

    #[test]
    fn the_url_tolerates_slashes_and_v1() {
        for base in [
            "http://127.0.0.1:9",
            "http://127.0.0.1:9/",
            "http://127.0.0.1:9/v1",
            "http://127.0.0.1:9/v1/",
        ] {
            let mut c = AnthropicConfig::new(ApiKey::new("k").unwrap(), "m");
            c.base_url = base.into();
            assert_eq!(
                Anthropic::new(c).unwrap().endpoint.url,
                "http://127.0.0.1:9/v1/messages"
            );
        }
        let mut c = AnthropicConfig::new(ApiKey::new("k").unwrap(), "m");
        c.base_url = "api.anthropic.com".into();
        assert!(Anthropic::new(c).is_err());
        let c = AnthropicConfig::new(ApiKey::new("bad\u{7f}key").unwrap(), "m");
        let e = Anthropic::new(c).err().unwrap();
        assert!(!e.0.contains("bad"), "{e}");
    }

    fn decode(events: &[(&str, &str)]) -> (String, Result<Option<TurnUsage>, Failure>) {
        let provider = Provider {
            flavor: Flavor::Anthropic,
            name: "Anthropic".into(),
            host: "h".into(),
            base_url: "http://h".into(),
            key: None,
        };
        let mut s = Stream::new(provider);
        let mut out = Vec::new();
        for (event, data) in events {
            let step = s.event(
                SseEvent {
                    event: event.to_string(),
                    data: data.to_string(),
                    ..SseEvent::default()
                },
                &mut out,
            );
            match step {
                Ok(Step::Done(u)) => return (out.concat(), Ok(Some(u))),
                Ok(Step::Continue) => {}
                Err(f) => return (out.concat(), Err(f)),
            }
        }
        (out.concat(), Ok(s.end()))
    }

    #[test]
    fn text_blocks_are_set_apart_and_thinking_is_not_shown() {
        let (text, usage) = decode(&[
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"First."}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"x","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":3,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"Second.\n"}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":4,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"Third."}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":20}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ]);
        assert_eq!(text, "First.\n\nSecond.\nThird.");
        let u = usage.unwrap().unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_write_tokens,
                u.cache_read_tokens
            ),
            (10, 20, 3, 4)
        );
    }

    #[test]
    fn the_end_without_message_stop() {
        let start =
            r#"{"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}}"#;
        let delta =
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;
        assert_eq!(
            decode(&[("message_start", start), ("content_block_delta", delta)]).1,
            Ok(None)
        );
        let stopped = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":7,"output_tokens":2}}"#;
        let (_, u) = decode(&[("message_start", start), ("message_delta", stopped)]);
        assert_eq!(u.unwrap().unwrap().input_tokens, 7);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in ["{not json", "", "[1,2", "\u{0}"] {
            let (_, r) = decode(&[("content_block_delta", data)]);
            let f = r.unwrap_err();
            assert!(
                f.message.contains("unreadable") && f.transient.is_none(),
                "{}",
                f.message
            );
        }
        // Well-formed JSON of the wrong shape is ignored rather than trusted.
        let (text, r) = decode(&[
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","delta":{"type":"text_delta","text":42}}"#,
            ),
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":"many"}}}"#,
            ),
            ("content_block_delta", r#"[1,2,3]"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ]);
        assert_eq!(text, "");
        assert_eq!(r.unwrap().unwrap(), TurnUsage::default());
    }
}
