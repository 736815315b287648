//! The real engines end to end: the `tether` binary talking to a provider on loopback that
//! speaks Anthropic's or OpenAI's streaming wire format (`tether_engines::test_support`),
//! checked from both sides: what tether printed, and what it sent.

use std::time::Instant;

use serde_json::Value;
use tether_e2e::Tether;
use tether_engines::test_support::{Answer, Provider, Wire};

const KEY: &str = "sk-ant-api03-test-key-never-shown-0123456789";

fn stdout(o: &tether_e2e::Output) -> String {
    o.stdout.clone()
}

fn stderr(o: &tether_e2e::Output) -> String {
    o.stderr.clone()
}

fn messages(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn anthropic_streams_the_reply_and_cost_is_priced_from_real_usage() {
    let provider = Provider::start(
        Wire::Anthropic,
        vec![Answer::Text {
            text: "Hello from the Messages API, streamed in pieces.".into(),
            pieces: 4,
            input_tokens: 1200,
            output_tokens: 300,
        }],
    );
    let t = Tether::new().env("ANTHROPIC_API_KEY", KEY);
    let out = t.run_with_input(["--base-url", &provider.base_url], "hello there\n/cost\n");
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("Hello from the Messages API, streamed in pieces."),
        "{o}"
    );
    // claude-sonnet-4-5 at $3 / $15 per million: 1200 × 3 + 300 × 15 = 8,100 µ$.
    assert!(o.contains("Total cost: $0.0081"), "{o}");
    assert!(o.contains("Tokens: 1.2k in, 300 out"), "{o}");
    assert!(o.contains("Model: anthropic/claude-sonnet-4-5"), "{o}");

    let requests = provider.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.body["model"], "claude-sonnet-4-5");
    assert_eq!(r.body["stream"], true);
    assert_eq!(
        messages(&r.body),
        vec![("user".to_owned(), "hello there".to_owned())]
    );
    assert!(!o.contains(KEY) && !e.contains(KEY));
}

#[test]
fn an_openai_compatible_server_is_picked_from_the_config_file_and_needs_no_key() {
    let provider = Provider::start(
        Wire::OpenAi,
        vec![Answer::Text {
            text: "Local models answer too.".into(),
            pieces: 3,
            input_tokens: 40,
            output_tokens: 5,
        }],
    );
    let t = Tether::new();
    std::fs::create_dir_all(t.config_dir()).unwrap();
    std::fs::write(
        t.config_dir().join("config.toml"),
        format!(
            "[openai]\nbase_url = \"{}\"\nmodel = \"llama3.2\"\n\n[prices.\"llama3.2\"]\ninput = 1.0\noutput = 2.0\n",
            provider.base_url
        ),
    )
    .unwrap();
    let out = t.run_with_input(Vec::<&str>::new(), "hi\n/cost\n");
    let o = stdout(&out);
    assert!(out.status.success(), "{o}\n{}", stderr(&out));
    assert!(o.contains("Local models answer too."), "{o}");
    // 40 × $1 + 5 × $2 per million = 50 µ$.
    assert!(o.contains("Total cost: $0.0001"), "{o}");
    assert!(o.contains("Model: openai/llama3.2"), "{o}");
    let r = &provider.requests()[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), None, "no key, no header");
    assert_eq!(r.body["stream_options"]["include_usage"], true);
    assert_eq!(r.body["model"], "llama3.2");
}

#[test]
fn a_refused_key_is_explained_and_never_shown_even_in_debug_logs() {
    // A provider that quotes the key back, as some do.
    let provider = Provider::start(
        Wire::Anthropic,
        vec![Answer::Error {
            status: 401,
            body: format!(
                r#"{{"type":"error","error":{{"type":"authentication_error","message":"invalid x-api-key {KEY}"}}}}"#
            ),
        }],
    );
    // The HTTP stack is named: a bare level reaches tether's own crates only.
    let t = Tether::new().env("ANTHROPIC_API_KEY", KEY).env(
        "TETHER_LOG",
        "trace,reqwest=trace,hyper=trace,hyper_util=trace",
    );
    let out = t.run(["--base-url", &provider.base_url, "-p", "hi"]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(!out.status.success());
    assert!(e.contains("ANTHROPIC_API_KEY"), "says what to check: {e}");
    assert!(
        e.contains("TRACE") && e.contains("hyper_util"),
        "trace logs were on: {e}"
    );
    assert!(
        !o.contains(KEY) && !e.contains(KEY),
        "the key leaked:\n{o}\n{e}"
    );
    assert!(!e.contains("0123456789"), "not even part of it:\n{e}");
}

#[test]
fn rate_limits_are_waited_out_as_the_provider_asks() {
    let provider = Provider::start(
        Wire::OpenAi,
        vec![
            Answer::RateLimited {
                retry_after_secs: 1,
            },
            Answer::text("after the wait"),
        ],
    );
    let t = Tether::new();
    let started = Instant::now();
    let out = t.run([
        "--engine",
        "openai",
        "--base-url",
        &provider.base_url,
        "-p",
        "hi",
    ]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{o}\n{e}");
    assert_eq!(o.trim(), "after the wait", "only the answer on stdout");
    assert!(e.contains("retrying in 1.0 s"), "{e}");
    assert!(started.elapsed().as_secs_f64() >= 1.0);
    assert_eq!(provider.requests().len(), 2);
}

/// What a content filter answers (OpenAI's shape).
const FILTERED: &str = r#"{"error":{"message":"The response was filtered due to the prompt triggering content management policy.","type":"invalid_request_error","param":"prompt","code":"content_filter"}}"#;

#[test]
fn a_refused_turn_leaves_the_conversation_as_it_was() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let provider = Provider::start(
            wire,
            vec![
                Answer::Error {
                    status: 400,
                    body: FILTERED.into(),
                },
                Answer::text("Hello!"),
            ],
        );
        let engine = match wire {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
        };
        let t = Tether::new().env("ANTHROPIC_API_KEY", KEY);
        let out = t.run_with_input(
            ["--engine", engine, "--base-url", &provider.base_url],
            "something the filter blocks\nhello\n",
        );
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(!out.status.success(), "a turn failed: {o}\n{e}");
        assert!(e.contains("was filtered") && e.contains("Not sent"), "{e}");
        assert_eq!(o.trim(), "Hello!", "{engine}: only the answer on stdout");
        let requests = provider.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        let users: Vec<(String, String)> = messages(&requests[1].body)
            .into_iter()
            .filter(|(role, _)| role == "user")
            .collect();
        assert_eq!(
            users,
            [("user".to_owned(), "hello".to_owned())],
            "{engine}: the refused message is not sent again"
        );
    }
}

#[test]
fn print_mode_errors_go_to_stderr_and_stdout_stays_empty() {
    let provider = Provider::start(
        Wire::OpenAi,
        vec![Answer::Error {
            status: 400,
            body: FILTERED.into(),
        }],
    );
    let out = Tether::new().run([
        "--engine",
        "openai",
        "--base-url",
        &provider.base_url,
        "-p",
        "hi",
    ]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(!out.status.success());
    assert_eq!(out.code(), Some(1), "{e}");
    assert_eq!(o, "", "what $(tether -p …) captures");
    assert!(e.contains("refused the request (400"), "{e}");
    assert!(
        !e.contains("interrupted") && !o.contains("interrupted"),
        "{e}"
    );
    assert!(!e.contains(".."), "one full stop: {e}");
}

#[test]
fn a_spent_quota_is_said_once_and_not_retried() {
    let provider = Provider::start(
        Wire::OpenAi,
        vec![Answer::Error {
            status: 429,
            body: r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#.into(),
        }],
    );
    let out = Tether::new().run([
        "--engine",
        "openai",
        "--base-url",
        &provider.base_url,
        "-p",
        "hi",
    ]);
    let e = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(provider.requests().len(), 1, "{e}");
    assert!(!e.contains("retrying"), "{e}");
    assert!(
        e.contains("insufficient_quota") && e.contains("billing"),
        "{e}"
    );
}

#[test]
fn plan_mode_and_compact_reach_the_model() {
    let provider = Provider::start(
        Wire::OpenAi,
        vec![
            Answer::text("Step 1: read. Step 2: write."),
            Answer::text("We planned a two step change."),
            Answer::text("Continuing from the summary."),
        ],
    );
    let t = Tether::new();
    let out = t.run_with_input(
        ["--engine", "openai", "--base-url", &provider.base_url],
        "/plan\nmake a plan\n/compact\n/plan\ngo on\n",
    );
    let o = stdout(&out);
    assert!(out.status.success(), "{o}\n{}", stderr(&out));
    assert!(o.contains("Continuing from the summary."), "{o}");
    let requests = provider.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    // The turn in plan mode carries the plan-mode instruction as its system message.
    let first = messages(&requests[0].body);
    assert_eq!(first[0].0, "system");
    assert!(first[0].1.contains("plan mode"), "{first:?}");
    // /compact asks for a summary of the conversation so far...
    let summary = messages(&requests[1].body);
    assert!(summary.iter().any(|(_, m)| m == "make a plan"));
    assert!(
        summary
            .last()
            .unwrap()
            .1
            .contains("Summarise the conversation")
    );
    // ...and the next turn starts from it, without the old messages and out of plan mode.
    let after = messages(&requests[2].body);
    assert!(!after.iter().any(|(r, _)| r == "system"), "{after:?}");
    assert!(
        after[0].1.contains("We planned a two step change."),
        "{after:?}"
    );
    assert!(!after.iter().any(|(_, m)| m == "make a plan"), "{after:?}");
    // The summary is the user's side, so the next message joins it: never two in a row.
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].1.ends_with("\n\ngo on"), "{after:?}");
}

#[test]
fn choosing_an_engine_that_cannot_work_says_what_is_missing() {
    let t = Tether::new();
    for (args, needle) in [
        (
            vec!["--engine", "anthropic", "-p", "hi"],
            "set ANTHROPIC_API_KEY",
        ),
        (vec!["--engine", "exec", "-p", "hi"], "--exec-command"),
        (
            vec![
                "--engine",
                "exec",
                "--exec-command",
                "/no/such/agent --flag",
                "-p",
                "hi",
            ],
            "/no/such/agent",
        ),
        (
            vec![
                "--engine",
                "openai",
                "--base-url",
                "localhost:1",
                "-p",
                "hi",
            ],
            "http://",
        ),
    ] {
        let out = t.run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_config_file_with_a_typo_is_refused_with_its_line() {
    let t = Tether::new();
    std::fs::create_dir_all(t.config_dir()).unwrap();
    std::fs::write(
        t.config_dir().join("config.toml"),
        "engine = \"echo\"\n[anthropic]\nmodle = \"claude-opus-4-5\"\n",
    )
    .unwrap();
    let out = t.run(["-p", "hi"]);
    let e = stderr(&out);
    assert!(!out.status.success());
    assert!(
        e.contains("config.toml") && e.contains("line 3") && e.contains("modle"),
        "{e}"
    );
}

#[test]
fn with_nothing_configured_the_echo_engine_answers() {
    let t = Tether::new();
    let out = t.run(["-p", "hi"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("No model is configured"));
}

#[test]
fn print_mode_cannot_ask_so_it_denies_and_says_why() {
    let t = Tether::new();
    let agent = env!("CARGO_BIN_EXE_tether-fixture-agent");
    let out = t.run([
        "--engine",
        "exec",
        "--exec-command",
        agent,
        "-p",
        "tool: Bash ls",
    ]);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        e.contains("the agent asked to use Bash; no one can answer here"),
        "{e}"
    );
    assert!(
        o.contains("denied: tether is not running interactively"),
        "{o}"
    );
}

#[test]
fn in_the_terminal_a_refused_message_comes_back_to_the_prompt() {
    refused_message_comes_back_to_the_prompt(&[], "engine openai");
}

#[test]
fn in_remote_mode_a_refused_message_comes_back_to_the_prompt() {
    // The editor runs on a thread of its own in remote mode; it gets the text with the prompt.
    refused_message_comes_back_to_the_prompt(
        &["--remote", "--listen", "127.0.0.1:0"],
        "Open in browser: ",
    );
}

/// A message refused by the provider is back on the prompt (`args` choose the session, `ready`
/// is what it prints before its first prompt), and Enter alone sends it as the only user message.
fn refused_message_comes_back_to_the_prompt(args: &[&str], ready: &str) {
    let provider = Provider::start(
        Wire::OpenAi,
        vec![
            Answer::Error {
                status: 400,
                body: FILTERED.into(),
            },
            Answer::text("Hello!"),
        ],
    );
    let t = Tether::new();
    let mut pty = t.spawn_pty(args.iter().copied().chain([
        "--engine",
        "openai",
        "--base-url",
        &provider.base_url,
    ]));
    pty.expect(ready);
    pty.expect_prompt("› ");
    pty.send_line("blocked words");
    pty.expect("Not sent");
    pty.expect("back at the prompt");
    pty.wait_screen("the message back at the prompt", |s| {
        tether_e2e::cursor_row(s).starts_with("› blocked words")
    });
    pty.send("\r");
    pty.expect("Hello!");
    pty.expect_prompt("› ");
    let requests = provider.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        messages(&requests[1].body),
        [("user".to_owned(), "blocked words".to_owned())]
    );
    pty.send("\x04");
    assert!(pty.wait_exit().success());
}
