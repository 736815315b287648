//! The Anthropic engine against a local server speaking the Messages API's wire format.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tether_engines::anthropic::{Anthropic, AnthropicConfig};
use tether_engines::test_support::{End, Framing, Reply, Server, anthropic as a, refused_url};
use tether_engines::usage::{Price, TurnUsage};
use tether_engines::{ApiKey, ChatMessage, ChatRole, Engine, TurnRequest};

const KEY: &str = "sk-ant-api03-Zx9TestKeyDoNotUse0123456789abcdefABCDEF-xyzAA";

fn config(url: &str) -> AnthropicConfig {
    AnthropicConfig {
        api_key: ApiKey::new(KEY).unwrap(),
        model: "claude-sonnet-4-5".into(),
        base_url: url.into(),
        max_tokens: 1024,
        price: Price::per_mtok(3.0, 15.0),
        retry: quick_retry(),
    }
}

fn engine(server: &Server) -> Anthropic {
    Anthropic::new(config(&server.url())).unwrap()
}

#[tokio::test]
async fn streams_a_multi_block_reply_with_usage_and_cache_tokens() {
    let mut parts = vec![a::message_start(25, 1200, 3400), a::PING.to_string()];
    parts.extend(a::thinking_block(0, "The user greets me."));
    parts.extend(a::text_block(1, &["Hello", " — here is a plan:", "\n"]));
    parts.push(a::PING.to_string());
    parts.extend(a::text_block(2, &["1. Read ", "the fïles"]));
    parts.extend(a::text_block(3, &["Done. ✅"]));
    parts.extend(a::message_end(42));
    // Re-cut into 7-byte chunks: events, lines and UTF-8 characters straddle chunks.
    let server = Server::start([Reply::sse(parts).rechunk(7)]).await;
    let e = engine(&server);
    assert_eq!(
        (e.name(), e.model().as_str()),
        ("anthropic", "claude-sonnet-4-5")
    );
    assert_eq!(e.price(), Price::per_mtok(3.0, 15.0));

    let out = ask(&e, "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(
        out.text,
        "Hello — here is a plan:\n1. Read the fïles\n\nDone. ✅"
    );
    assert_eq!(
        out.usage,
        vec![TurnUsage {
            input_tokens: 25,
            output_tokens: 42,
            cache_read_tokens: 3400,
            cache_write_tokens: 1200,
            cost_micros: None,
        }]
    );
    assert!(!out.after_end, "the usage comes last");
    assert!(out.retries.is_empty());
}

#[tokio::test]
async fn input_usage_in_message_delta_wins() {
    let mut parts = vec![a::message_start(0, 0, 0)];
    parts.extend(a::text_block(0, &["ok"]));
    parts.push(a::event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"input_tokens": 31, "cache_read_input_tokens": 5, "output_tokens": 3}}),
    ));
    parts.push(a::event("message_stop", &json!({"type": "message_stop"})));
    let server = Server::start([Reply::sse(parts)]).await;
    let out = ask(&engine(&server), "hi").await;
    let u = out.usage[0];
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cache_read_tokens),
        (31, 3, 5)
    );
}

#[tokio::test]
async fn sends_the_request_anthropic_expects() {
    let server = Server::start([Reply::sse(a::reply(&["ok"]))]).await;
    // A trailing slash on the base URL is tolerated.
    let e = Anthropic::new(config(&format!("{}/", server.url()))).unwrap();
    let m = |role, text: &str| ChatMessage {
        role,
        text: text.into(),
    };
    let request = TurnRequest {
        messages: vec![
            m(ChatRole::User, "first"),
            m(ChatRole::User, "second"),
            m(ChatRole::Assistant, "an answer"),
            m(ChatRole::Assistant, ""),
            m(ChatRole::User, "now plan it"),
        ],
        plan_mode: true,
        system: Some("Always answer in French.".into()),
    };
    let out = drain(e.reply(request)).await;
    assert!(out.error.is_none(), "{out:?}");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.body["model"], "claude-sonnet-4-5");
    assert_eq!(r.body["max_tokens"], 1024);
    assert_eq!(r.body["stream"], true);
    let system = r.body["system"].as_str().unwrap();
    assert!(
        system.starts_with("Always answer in French.\n\n"),
        "{system}"
    );
    assert!(system.contains("plan mode"), "{system}");
    assert_eq!(
        r.body["messages"],
        json!([
            {"role": "user", "content": "first\n\nsecond"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "now plan it"},
        ])
    );
}

#[tokio::test]
async fn consecutive_turns_reuse_the_connection() {
    let server = Server::start([
        Reply::sse(a::reply(&["one"])),
        Reply::sse(a::reply(&["two"])),
    ])
    .await;
    let e = engine(&server);
    assert_eq!(ask(&e, "1").await.text, "one");
    assert_eq!(ask(&e, "2").await.text, "two");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn no_system_prompt_is_sent_without_memory_or_plan_mode() {
    let server = Server::start([Reply::sse(a::reply(&["ok"]))]).await;
    ask(&engine(&server), "hi").await;
    assert!(server.requests()[0].body.get("system").is_none());
}

#[tokio::test]
async fn waits_as_asked_on_429_then_succeeds() {
    let server = Server::start([
        Reply::json(
            429,
            &a::error_body(
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            ),
        )
        .header("retry-after", "1")
        .header("anthropic-ratelimit-tokens-remaining", "0"),
        Reply::sse(a::reply(&["after ", "the wait"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    let reason = assert_retried_once_as_asked(&out, &server);
    assert!(reason.contains("429"), "{reason}");
    assert_eq!(out.text, "after the wait");
}

#[tokio::test]
async fn an_overloaded_error_event_before_any_text_is_retried() {
    let server = Server::start([
        Reply::sse([
            a::message_start(12, 0, 0),
            a::PING.to_string(),
            a::error_event("overloaded_error", "Overloaded"),
        ]),
        Reply::sse(a::reply(&["second ", "time lucky"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "second time lucky");
    assert_eq!(out.retries.len(), 1);
    assert!(out.retries[0].3.contains("overloaded"), "{:?}", out.retries);
    assert_eq!(out.usage.len(), 1);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_529_is_retried() {
    let server = Server::start([
        Reply::json(529, &a::error_body("overloaded_error", "Overloaded")),
        Reply::json(529, &a::error_body("overloaded_error", "Overloaded")),
        Reply::sse(a::reply(&["finally"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "finally");
    let attempts: Vec<(u32, u32)> = out.retries.iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(attempts, vec![(2, 3), (3, 3)]);
    assert!(out.retries[0].3.contains("overloaded (529)"));
    // Without retry-after, the policy's small base applies.
    assert!(out.retries.iter().all(|r| r.2 < Duration::from_millis(100)));
}

#[tokio::test]
async fn an_error_after_text_ends_the_turn_and_keeps_the_text() {
    let mut parts = vec![a::message_start(12, 0, 0)];
    let mut block = a::text_block(0, &["Part one, ", "part two"]);
    block.pop(); // no content_block_stop: the error cuts in
    parts.extend(block);
    parts.push(a::error_event("overloaded_error", "Overloaded"));
    let server = Server::start([Reply::sse(parts), Reply::sse(a::reply(&["never"]))]).await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "Part one, part two");
    let error = out.error();
    assert!(error.contains("overloaded_error: Overloaded"), "{error}");
    assert!(out.retries.is_empty(), "no retry once text was shown");
    assert!(out.usage.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_an_error_not_a_panic() {
    let server = Server::start([Reply::sse([
        a::message_start(12, 0, 0),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"oops\n\n".to_string(),
    ])])
    .await;
    let out = ask(&engine(&server), "hi").await;
    let error = out.error();
    assert!(error.contains("unreadable"), "{error}");
    assert!(
        error.contains("content_block_delta"),
        "quotes a prefix: {error}"
    );
    assert_eq!(server.requests().len(), 1, "not retried");
}

#[tokio::test]
async fn a_connection_dropped_mid_reply_is_an_error() {
    let mut parts = vec![a::message_start(12, 0, 0)];
    parts.extend(a::text_block(0, &["Half a rep"]));
    let server = Server::start([Reply::sse(parts).end(End::Abort)]).await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "Half a rep");
    let error = out.error();
    assert!(
        error.contains(&format!("the connection to {}", server.addr)),
        "{error}"
    );
    assert!(
        error.contains("closed before the reply finished"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_that_just_ends_without_message_stop_is_an_error() {
    // A close-delimited body that ends cleanly, but too soon.
    let mut parts = vec![a::message_start(12, 0, 0)];
    parts.extend(a::text_block(0, &["cut"]));
    let server = Server::start([Reply::sse(parts).framing(Framing::Close)]).await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.text, "cut");
    assert!(out.error().contains("closed before the reply finished"));
}

#[tokio::test]
async fn a_close_delimited_stream_is_read_to_the_end() {
    let server = Server::start([Reply::sse(a::reply(&["fine"])).framing(Framing::Close)]).await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "fine");
}

#[tokio::test]
async fn a_connection_dropped_before_any_text_is_retried() {
    let server = Server::start([
        Reply::sse([a::message_start(12, 0, 0)]).end(End::Abort),
        Reply::sse(a::reply(&["again"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "again");
    assert_eq!(out.retries.len(), 1);
}

#[tokio::test]
async fn a_bad_key_says_to_check_anthropic_api_key() {
    let server = Server::start([Reply::json(
        401,
        &a::error_body("authentication_error", "invalid x-api-key"),
    )])
    .await;
    let out = ask(&engine(&server), "hi").await;
    let error = out.error();
    assert!(error.contains("ANTHROPIC_API_KEY"), "{error}");
    assert!(
        error.contains("401 authentication_error: invalid x-api-key"),
        "{error}"
    );
    assert!(out.retries.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unknown_model_is_refused_in_the_providers_words() {
    let server = Server::start([
        Reply::json(
            404,
            &a::error_body("not_found_error", "model: claude-sonnet-9"),
        ),
        Reply::json(
            400,
            &a::error_body(
                "invalid_request_error",
                "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5-20250929",
            ),
        ),
    ])
    .await;
    let e = engine(&server);
    let error = ask(&e, "hi").await.error();
    assert!(error.contains("refused the request"), "{error}");
    assert!(
        error.contains("404 not_found_error: model: claude-sonnet-9"),
        "{error}"
    );
    let error = ask(&e, "hi").await.error();
    assert!(
        error.contains("400 invalid_request_error: max_tokens: 100000 > 64000"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 2, "neither is retried");
}

#[tokio::test]
async fn gives_up_after_the_last_attempt() {
    let server = Server::start([
        Reply::json(503, &a::error_body("api_error", "Service unavailable")),
        Reply::json(500, &a::error_body("api_error", "Internal server error")),
        Reply::json(529, &a::error_body("overloaded_error", "Overloaded")),
        Reply::sse(a::reply(&["too late"])),
    ])
    .await;
    let out = ask(&engine(&server), "hi").await;
    assert_eq!(out.retries.len(), 2);
    let error = out.error();
    assert!(error.contains("Gave up after 3 attempts"), "{error}");
    assert!(
        error.contains("529 overloaded_error: Overloaded"),
        "{error}"
    );
    assert_eq!(out.text, "");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn the_key_never_appears_in_an_error() {
    let echo = format!("invalid x-api-key: {KEY}");
    let server = Server::start([
        Reply::json(401, &a::error_body("authentication_error", &echo)),
        // Mid-stream, after text.
        Reply::sse({
            let mut p = vec![a::message_start(1, 0, 0)];
            p.extend(a::text_block(0, &["x"]));
            p.push(a::error_event("api_error", &echo));
            p
        }),
        // In a body that is not JSON, and in a retried status.
        Reply::text(500, "text/plain", &echo),
        Reply::text(
            502,
            "text/html",
            &format!("<h1>Bad gateway</h1><p>{KEY}</p>"),
        ),
        Reply::text(503, "text/plain", &echo),
        // In data that does not parse.
        Reply::sse([format!("event: message_start\ndata: {{{KEY}\n\n")]),
    ])
    .await;
    let e = engine(&server);
    for _ in 0..4 {
        let out = ask(&e, "hi").await;
        let error = out.error();
        assert!(!error.contains(KEY), "{error}");
        assert!(!error.contains("Zx9TestKey"), "{error}");
        for (.., reason) in &out.retries {
            assert!(!reason.contains("Zx9TestKey"), "{reason}");
        }
    }
}

#[tokio::test]
async fn connection_refused_says_the_url_cannot_be_reached() {
    let url = refused_url().await;
    let e = Anthropic::new(config(&url)).unwrap();
    let started = std::time::Instant::now();
    let out = ask(&e, "hi").await;
    let error = out.error();
    assert!(error.contains(&format!("cannot reach {url}")), "{error}");
    assert!(error.contains("base URL"), "{error}");
    assert!(out.retries.is_empty(), "a wrong URL is not retried");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let mut parts = vec![a::message_start(12, 0, 0)];
    let mut block = a::text_block(0, &["Thinking about it"]);
    block.pop();
    parts.extend(block);
    let server = Server::start([Reply::sse(parts).end(End::Hang)]).await;
    let mut stream = engine(&server).reply(TurnRequest::user("hi"));
    assert_eq!(next_delta(&mut stream).await, "Thinking about it");
    assert_dropping_closes(&server, stream).await;
}

#[tokio::test]
async fn a_reply_that_keeps_stalling_is_abandoned_after_the_last_attempt() {
    let stall = || Reply::sse([a::message_start(12, 0, 0)]).end(End::Hang);
    let server = Server::start([stall(), stall(), stall()]).await;
    let e = engine(&server).with_stall_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let out = ask(&e, "hi").await;
    let error = out.error();
    assert!(error.contains("sent nothing for 0.3 s."), "{error}");
    assert!(error.contains("Gave up after 3 attempts."), "{error}");
    assert_eq!(out.retries.len(), 2);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(server.wait_closed(3, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn a_stall_before_any_text_is_retried() {
    let server = Server::start([
        Reply::sse([a::message_start(12, 0, 0)]).end(End::Hang),
        Reply::sse(a::reply(&["after ", "the stall"])),
    ])
    .await;
    let e = engine(&server).with_stall_timeout(Duration::from_millis(200));
    let out = ask(&e, "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "after the stall");
    assert_eq!(out.retries.len(), 1);
    assert_eq!(out.retries[0].3, "no answer");
}

#[tokio::test]
async fn slow_but_steady_replies_are_not_stalled() {
    let server =
        Server::start([Reply::sse(a::reply(&["a", "b", "c"])).pace(Duration::from_millis(40))])
            .await;
    let e = engine(&server).with_stall_timeout(Duration::from_millis(150));
    let out = ask(&e, "hi").await;
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.text, "abc");
}

#[tokio::test]
async fn summarize_works_over_http() {
    let server = Server::start([Reply::sse(a::reply(&["You asked ", "about tests."]))]).await;
    let e = engine(&server);
    let history = vec![
        ChatMessage {
            role: ChatRole::User,
            text: "How do I test this?".into(),
        },
        ChatMessage {
            role: ChatRole::Assistant,
            text: "With a local server.".into(),
        },
    ];
    let (summary, usage) = e.summarize(&history, "testing").await.unwrap();
    assert_eq!(summary, "You asked about tests.");
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 7));
    let body = &server.requests()[0].body;
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    let last = messages[2]["content"].as_str().unwrap();
    assert!(last.starts_with("Summarise the conversation") && last.ends_with("Focus on: testing"));
}

#[test]
fn bad_configuration_is_refused_up_front() {
    let mut c = config("not a url");
    assert!(Anthropic::new(c.clone()).is_err());
    c.base_url = AnthropicConfig::DEFAULT_BASE_URL.into();
    let e = Anthropic::new(c).unwrap();
    assert_eq!(e.name(), "anthropic");
    assert_eq!(AnthropicConfig::DEFAULT_MODEL, "claude-sonnet-4-5");
    assert_eq!(AnthropicConfig::DEFAULT_MAX_TOKENS, 8192);
}
