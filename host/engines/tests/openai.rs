//! The OpenAI-compatible engine against a local server speaking Chat Completions' wire format.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tether_engines::openai::{OpenAi, OpenAiConfig};
use tether_engines::test_support::{End, Framing, Reply, Server, openai as o, refused_url};
use tether_engines::usage::{Price, TurnUsage};
use tether_engines::{ApiKey, ChatMessage, ChatRole, Engine, TurnRequest};

const KEY: &str = "sk-proj-Qm4TestKeyDoNotUse_0123456789abcdefABCDEFghijklmnop";

fn config(url: &str, key: Option<&str>) -> OpenAiConfig {
    OpenAiConfig {
        api_key: key.and_then(ApiKey::new),
        model: "gpt-4o-mini".into(),
        base_url: format!("{url}/v1"),
        max_tokens: None,
        price: Price::per_mtok(0.15, 0.6),
        retry: quick_retry(),
    }
}

fn engine(server: &Server) -> OpenAi {
    OpenAi::new(config(&server.url(), Some(KEY))).unwrap()
}

#[tokio::test]
async fn streams_a_multi_chunk_reply_with_usage() {
    let mut parts = vec![o::chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    parts.extend(["Hel", "lo! ", "Ça va", " ✅", "\n\nBye."].map(o::text));
    parts.push(o::chunk(json!({}), Some("stop")));
    parts.push(o::usage(2006, 300, 1920));
    parts.push(o::DONE.to_string());
    let server = Server::start([Reply::sse(parts).rechunk(5)]).await;
    let e = engine(&server);
    assert_eq!((e.name(), e.model().as_str()), ("openai", "gpt-4o-mini"));
    assert_eq!(e.price(), Price::per_mtok(0.15, 0.6));

    let out = ask(&e, "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "Hello! Ça va ✅\n\nBye.");
    assert_eq!(
        out.usage,
        vec![TurnUsage {
            input_tokens: 86,
            output_tokens: 300,
            cache_read_tokens: 1920,
            cache_write_tokens: 0,
            cost_micros: None,
        }]
    );
    assert!(!out.after_end);
}

#[tokio::test]
async fn reasoning_tool_calls_and_null_content_are_not_text() {
    let parts = vec![
        o::chunk(json!({"role": "assistant", "content": null}), None),
        o::chunk(
            json!({"content": null, "reasoning_content": "Let me think."}),
            None,
        ),
        o::text("Answer."),
        o::chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_abc", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\"loc"}}]}),
            None,
        ),
        o::chunk(json!({}), Some("tool_calls")),
        o::usage(10, 5, 0),
        o::DONE.to_string(),
    ];
    let server = Server::start([Reply::sse(parts)]).await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "Answer.");
    assert_eq!(out.deltas, 1);
}

#[tokio::test]
async fn sends_the_request_chat_completions_expects() {
    let server = Server::start([Reply::sse(o::reply(&["ok"]))]).await;
    let mut c = config(&server.url(), Some(KEY));
    c.base_url.push('/'); // tolerated
    c.max_tokens = Some(512);
    let e = OpenAi::new(c).unwrap();
    let request = TurnRequest {
        messages: vec![
            ChatMessage {
                role: ChatRole::User,
                text: "first".into(),
            },
            ChatMessage {
                role: ChatRole::Assistant,
                text: "an answer".into(),
            },
            ChatMessage {
                role: ChatRole::User,
                text: "now plan it".into(),
            },
        ],
        plan_mode: true,
        system: Some("Project notes.".into()),
    };
    let out = drain(e.reply(request)).await;
    assert!(out.error.is_none(), "{out:?}");

    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["model"], "gpt-4o-mini");
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.body["stream_options"], json!({"include_usage": true}));
    assert_eq!(r.body["max_tokens"], 512);
    let messages = r.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Project notes.\n\n") && system.contains("plan mode"),
        "{system}"
    );
    assert_eq!(
        messages[1..],
        [
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": "an answer"}),
            json!({"role": "user", "content": "now plan it"}),
        ]
    );
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent_and_missing_usage_is_estimated() {
    // Like an older llama.cpp server: no usage chunk, no system fingerprint, [DONE] at the end.
    let chunk = |content: &str, finish: Option<&str>| {
        let c = json!({"choices": [{"finish_reason": finish, "index": 0, "delta": {"content": content}}],
                       "created": 1741569952, "id": "chatcmpl-x7Vb", "model": "llama3.2", "object": "chat.completion.chunk"});
        format!("data: {c}\n\n")
    };
    let server = Server::start([Reply::sse([
        chunk("Twelve chars", None),
        chunk(" more", None),
        chunk("", Some("stop")),
        o::DONE.to_string(),
    ])])
    .await;
    let mut c = config(&server.url(), None);
    c.model = "llama3.2".into();
    c.price = Price::default();
    let e = OpenAi::new(c).unwrap();
    let out = ask(&e, "sixteen chars!!!").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "Twelve chars more");
    let r = &server.requests()[0];
    assert_eq!(r.header("authorization"), None);
    assert!(r.body.get("max_tokens").is_none());
    assert!(r.body["messages"][0]["role"] == "user", "no system message");
    // Estimated at four characters a token: 16 → 4 in, 17 → 5 out.
    let u = out.usage[0];
    assert_eq!((u.input_tokens, u.output_tokens), (4, 5));
}

#[tokio::test]
async fn finish_and_usage_without_done_is_a_normal_end() {
    let server = Server::start([Reply::sse([
        o::text("Fine."),
        o::chunk(json!({}), Some("stop")),
        o::usage(3, 2, 0),
    ])])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "Fine.");
    assert_eq!(out.usage[0].output_tokens, 2);
}

#[tokio::test]
async fn waits_as_asked_on_429_then_succeeds() {
    let server = Server::start([
        Reply::json(
            429,
            &o::error_body(
                "Rate limit reached for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 200000, Used 199999, Requested 500. Please try again in 150ms.",
                "tokens",
                "rate_limit_exceeded",
            ),
        )
        .header("retry-after", "1")
        .header("x-ratelimit-remaining-tokens", "0"),
        Reply::sse(o::reply(&["after ", "the wait"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    let reason = assert_retried_once_as_asked(&out, &server);
    assert!(reason.contains("rate limited (429)"), "{reason}");
    assert_eq!(out.text, "after the wait");
}

#[tokio::test]
async fn retry_after_ms_is_honoured() {
    let server = Server::start([
        Reply::json(
            503,
            &o::error_body("The server is overloaded", "server_error", "overloaded"),
        )
        .header("retry-after-ms", "250"),
        Reply::sse(o::reply(&["ok"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "ok");
    assert_eq!(out.retries[0].2, Duration::from_millis(250));
}

#[tokio::test]
async fn an_error_chunk_before_any_text_is_retried() {
    let server = Server::start([
        Reply::sse([
            o::chunk(json!({"role": "assistant", "content": ""}), None),
            format!(
                "data: {}\n\n",
                json!({"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}})
            ),
        ]),
        Reply::sse(o::reply(&["second ", "time"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "second time");
    assert_eq!(out.retries.len(), 1);
    assert!(
        out.retries[0].3.contains("server_error"),
        "{:?}",
        out.retries
    );
}

#[tokio::test]
async fn an_error_after_text_ends_the_turn_and_keeps_the_text() {
    let server = Server::start([
        Reply::sse([
            o::text("Part one, "),
            o::text("part two"),
            "data: {\"error\":{\"message\":\"upstream model crashed\",\"type\":\"api_error\"}}\n\n"
                .to_string(),
        ]),
        Reply::sse(o::reply(&["never"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "Part one, part two");
    let error = out.error();
    assert!(
        error.contains("api_error: upstream model crashed"),
        "{error}"
    );
    assert!(out.retries.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_an_error_not_a_panic() {
    let server = Server::start([Reply::sse([
        o::text("ok so far"),
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"bro\n\n".to_string(),
    ])])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "ok so far");
    let error = out.error();
    assert!(error.contains("unreadable"), "{error}");
    assert!(error.contains("chatcmpl-1"), "quotes a prefix: {error}");
}

#[tokio::test]
async fn a_connection_dropped_mid_reply_is_an_error() {
    let server = Server::start([
        Reply::sse([o::text("Half a "), o::text("rep")]).end(End::Abort),
        // A clean end without [DONE] or a finish reason is a drop too.
        Reply::sse([o::text("Also cut")]).framing(Framing::Close),
    ])
    .await;
    let e = engine(&server);
    for expected in ["Half a rep", "Also cut"] {
        let out = ask(&e, "hi").await;
        assert_eq!(out.text, expected);
        let error = out.error();
        assert!(
            error.contains(&format!(
                "the connection to {} closed before the reply finished",
                server.addr
            )),
            "{error}"
        );
    }
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_bad_key_says_to_check_openai_api_key() {
    let server = Server::start([Reply::json(
        401,
        &o::error_body(
            "Incorrect API key provided: sk-proj-********************************************mnop. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
    )])
    .await;
    let out = ask(&engine(&server), "hi").await;
    let error = out.error();
    assert!(error.contains("OPENAI_API_KEY"), "{error}");
    assert!(error.contains("401 invalid_request_error: Incorrect API key provided"));
    assert!(out.retries.is_empty());
}

#[tokio::test]
async fn a_missing_key_says_to_set_one() {
    let server = Server::start([Reply::json(
        401,
        &o::error_body(
            "You didn't provide an API key.",
            "invalid_request_error",
            "",
        ),
    )])
    .await;
    let e = OpenAi::new(config(&server.url(), None)).unwrap();
    let error = ask(&e, "hi").await.error();
    assert!(
        error.contains("needs an API key") && error.contains("Set OPENAI_API_KEY"),
        "{error}"
    );
}

#[tokio::test]
async fn not_found_points_at_the_base_url_and_bad_requests_quote_the_server() {
    let server = Server::start([
        // Ollama without /v1 answers a plain-text 404.
        Reply::text(404, "text/plain; charset=utf-8", "404 page not found"),
        Reply::json(
            404,
            &o::error_body(
                "model \"llama9\" not found, try pulling it first",
                "api_error",
                "",
            ),
        ),
        Reply::json(
            400,
            &o::error_body(
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
            ),
        ),
    ])
    .await;
    let e = engine(&server);
    let error = ask(&e, "hi").await.error();
    assert!(error.contains("--base-url"), "{error}");
    assert!(error.contains("404 404 page not found"), "{error}");
    let error = ask(&e, "hi").await.error();
    assert!(error.contains("llama9"), "{error}");
    let error = ask(&e, "hi").await.error();
    assert!(error.contains("refused the request"), "{error}");
    assert!(error.contains("maximum context length"), "{error}");
    assert!(error.contains("/compact"), "{error}");
    assert_eq!(server.requests().len(), 3, "none is retried");
}

#[tokio::test]
async fn gives_up_after_the_last_attempt() {
    let server = Server::start([
        Reply::json(500, &o::error_body("boom", "server_error", "")),
        Reply::text(502, "text/html", "<html><body>Bad gateway</body></html>"),
        Reply::json(503, &o::error_body("overloaded", "server_error", "")),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.retries.len(), 2);
    let error = out.error();
    assert!(error.contains("Gave up after 3 attempts"), "{error}");
    assert!(error.contains("503"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_spent_quota_is_answered_once_not_retried() {
    let server = Server::start([Reply::json(
        429,
        &o::error_body(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
    )])
    .await;
    let out = ask(&engine(&server), "hi").await;
    let error = out.error();
    assert_eq!(server.requests().len(), 1, "{error}");
    assert!(out.retries.is_empty(), "{out:?}");
    assert!(error.contains("429 insufficient_quota"), "{error}");
    assert!(!error.contains("Gave up"), "{error}");
    assert!(!error.contains(".."), "{error}");
}

#[tokio::test]
async fn an_in_stream_rate_limit_is_called_a_rate_limit() {
    let server = Server::start([
        Reply::sse([format!(
            "data: {}\n\n",
            o::error_body(
                "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3.",
                "requests",
                "rate_limit_exceeded"
            )
        )]),
        Reply::sse(o::reply(&["ok"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "ok");
    assert_eq!(out.retries.len(), 1);
    assert_eq!(out.retries[0].3, "rate limited");
}

#[tokio::test]
async fn a_stall_before_any_text_is_retried() {
    let server = Server::start([
        // Headers, an empty first chunk, then nothing.
        Reply::sse([o::chunk(json!({"role": "assistant", "content": ""}), None)]).end(End::Hang),
        // No answer at all within the stall timeout.
        Reply::sse(o::reply(&["late"])).after(Duration::from_secs(5)),
        Reply::sse(o::reply(&["third ", "time"])),
    ])
    .await;
    let e = engine(&server).with_stall_timeout(Duration::from_millis(200));
    let out = ask(&e, "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "third time");
    assert_eq!(out.retries.len(), 2, "{out:?}");
    assert!(out.retries.iter().all(|r| r.3 == "no answer"), "{out:?}");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_stall_after_text_ends_the_turn_and_keeps_the_text() {
    let server = Server::start([Reply::sse([o::text("So far")]).end(End::Hang)]).await;
    let e = engine(&server).with_stall_timeout(Duration::from_millis(200));
    let out = ask(&e, "hi").await;
    assert_eq!(out.text, "So far");
    let error = out.error();
    assert!(error.contains("sent nothing for 0.2 s"), "{error}");
    assert!(error.contains("The reply is incomplete."), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_conversation_with_two_user_messages_in_a_row_is_sent_as_one() {
    let server = Server::start([Reply::sse(o::reply(&["ok"]))]).await;
    let m = |role, text: &str| ChatMessage {
        role,
        text: text.into(),
    };
    let request = TurnRequest {
        messages: vec![
            m(ChatRole::User, "a message an older tether kept"),
            m(ChatRole::User, "hello"),
        ],
        ..Default::default()
    };
    let out = drain(engine(&server).reply(request)).await;
    assert!(out.error.is_none(), "{out:?}");
    let body = &server.requests()[0].body;
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["role"], "user");
}

#[tokio::test]
async fn the_key_never_appears_in_an_error() {
    // A key that does not look like `sk-…`: only exact redaction can catch it.
    let key = "local-proxy-key-7f3a9c2e";
    let echo = format!("Incorrect API key provided: {key}");
    let server = Server::start([
        Reply::json(
            401,
            &o::error_body(&echo, "invalid_request_error", "invalid_api_key"),
        ),
        Reply::sse([
            o::text("x"),
            format!(
                "data: {}\n\n",
                json!({"error": {"message": echo, "type": "server_error"}})
            ),
        ]),
        Reply::text(500, "text/plain", &echo),
        Reply::text(500, "text/plain", &echo),
        Reply::text(500, "text/plain", &echo),
        Reply::sse([format!("data: {{{key}\n\n")]),
        Reply::json(
            401,
            &o::error_body(
                &format!("Incorrect API key provided: {KEY}"),
                "invalid_request_error",
                "invalid_api_key",
            ),
        ),
    ])
    .await;
    let e = OpenAi::new(config(&server.url(), Some(key))).unwrap();
    for _ in 0..5 {
        let out = ask(&e, "hi").await;
        let error = out.error();
        assert!(!error.contains(key), "{error}");
        assert!(!error.contains("7f3a9c2e"), "{error}");
        assert!(
            !error.contains("Qm4TestKey"),
            "a key-shaped string is redacted too: {error}"
        );
    }
}

#[tokio::test]
async fn connection_refused_says_the_url_cannot_be_reached() {
    let url = refused_url().await;
    let e = OpenAi::new(config(&url, None)).unwrap();
    let out = ask(&e, "hi").await;
    let error = out.error();
    assert!(error.contains(&format!("cannot reach {url}/v1")), "{error}");
    assert!(
        error.contains("--base-url") && error.contains("running"),
        "{error}"
    );
    assert!(out.retries.is_empty());
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let server = Server::start([Reply::sse([o::text("Thinking")]).end(End::Hang)]).await;
    let mut stream = engine(&server).reply(TurnRequest::user("hi"));
    assert_eq!(next_delta(&mut stream).await, "Thinking");
    assert_dropping_closes(&server, stream).await;
}

#[tokio::test]
async fn dropping_the_stream_while_waiting_for_an_answer_closes_the_connection() {
    let server =
        Server::start([Reply::sse(o::reply(&["late"])).after(Duration::from_secs(30))]).await;
    let mut stream = engine(&server).reply(TurnRequest::user("hi"));
    use futures::StreamExt;
    let early = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(early.is_err(), "nothing yet");
    assert_eq!(server.requests().len(), 1);
    assert_dropping_closes(&server, stream).await;
}

#[tokio::test]
async fn summarize_works_over_http() {
    let server = Server::start([Reply::sse(o::reply(&["A summary."]))]).await;
    let history = vec![ChatMessage {
        role: ChatRole::User,
        text: "Build the thing.".into(),
    }];
    let (summary, usage) = engine(&server).summarize(&history, "").await.unwrap();
    assert_eq!(summary, "A summary.");
    assert_eq!((usage.input_tokens, usage.output_tokens), (9, 12));
    // The instruction follows a user message: it is joined to it (never two in a row).
    let messages = server.requests()[0].body["messages"].clone();
    assert_eq!(messages.as_array().unwrap().len(), 1);
    let content = messages[0]["content"].as_str().unwrap();
    assert!(
        content.starts_with("Build the thing.\n\nSummarise the conversation"),
        "{content}"
    );
}

#[test]
fn defaults() {
    assert_eq!(OpenAiConfig::DEFAULT_BASE_URL, "https://api.openai.com/v1");
    assert_eq!(OpenAiConfig::DEFAULT_MODEL, "gpt-4o-mini");
    let c = OpenAiConfig::new(None, "gpt-4o-mini");
    assert_eq!(
        c.price,
        tether_engines::prices::builtin("gpt-4o-mini").unwrap()
    );
    assert!(OpenAi::new(c).is_ok());
}
