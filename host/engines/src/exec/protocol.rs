//! The agent's wire format: newline-delimited JSON as Claude Code speaks it with
//! `--input-format stream-json --output-format stream-json --verbose --include-partial-messages
//! --permission-prompt-tool stdio`.
//!
//! What the agent writes (one object a line, told apart by `type`):
//!
//! - `system` / `init`: the model and the session id (sent as each turn starts).
//! - `stream_event`: a raw Anthropic streaming event (`message_start`, `content_block_start`,
//!   `content_block_delta` with a `text_delta`, …), as the reply is generated.
//! - `assistant`: a complete message (text, `tool_use`, `thinking` blocks), after it streamed.
//! - `user`: tool results going back to the model.
//! - `result`: the end of the turn, with `usage`, `total_cost_usd`, `is_error` and a `subtype`
//!   (`success`, `error_max_turns`, `error_during_execution`, …).
//! - `control_request` with `subtype: can_use_tool`: may the agent use a tool? Answered with a
//!   `control_response` carrying `behavior: allow` (and the input to use) or `deny`.
//! - `control_cancel_request`: the agent no longer needs the answer to one of its requests.
//! - `control_response`: the agent's answer to one of ours (`interrupt`, `set_permission_mode`).
//!
//! Anything else is ignored, so that a newer agent still works. The parser is deliberately
//! lenient about fields it does not need and strict about the ones it does: a line whose needed
//! fields have the wrong shape is reported as malformed and skipped, never half-used.

use serde_json::{Value, json};

use crate::usage::TurnUsage;

/// One line from the agent, as far as tether cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// `system`/`init`: the agent says who it is.
    Init {
        model: Option<String>,
        session_id: Option<String>,
    },
    /// A streaming event of the reply being generated.
    Stream { nested: bool, event: StreamEvent },
    /// A complete assistant message.
    Assistant(AssistantMessage),
    /// The end of the turn.
    Result(TurnResult),
    /// The agent asks whether it may use a tool.
    Permission(PermissionAsk),
    /// A request tether does not serve (hooks, MCP messages, …); it is answered with an error
    /// so that the agent does not wait for ever.
    UnsupportedRequest { request_id: String, subtype: String },
    /// The agent withdrew one of its requests.
    CancelRequest { request_id: String },
    /// The agent's answer to one of our requests.
    ControlResponse {
        request_id: Option<String>,
        error: Option<String>,
    },
    /// A line of a kind that does not matter here (tool results, other system messages, types
    /// from a newer agent, blank lines).
    Ignored,
}

/// The parts of a raw Anthropic streaming event that make visible text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEvent {
    /// A new message, with its id when the agent gave one.
    MessageStart { id: Option<String> },
    /// A new content block; `text` says whether it holds text.
    BlockStart { text: bool },
    /// More text for the current text block.
    TextDelta(String),
    /// Anything else (tool input, thinking, stops, usage).
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AssistantMessage {
    pub id: Option<String>,
    /// Written by a sub-agent (`parent_tool_use_id` set), not by the agent the user talks to.
    pub nested: bool,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
    ToolUse {
        id: Option<String>,
        name: String,
        input: Value,
    },
    /// Thinking, images, and block types yet to come.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TurnResult {
    pub usage: TurnUsage,
    /// What went wrong, for a turn that failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PermissionAsk {
    pub request_id: String,
    pub tool_name: String,
    pub input: Value,
    pub description: Option<String>,
}

/// Why a line was skipped. Says what was wrong without quoting the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// Parses one line the agent wrote (without its newline).
pub(crate) fn parse_line(line: &[u8]) -> Result<Incoming, Malformed> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Incoming::Ignored);
    }
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| malformed(format!("not JSON ({})", json_error(&e))))?;
    let Value::Object(object) = &value else {
        return Err(malformed("not a JSON object"));
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(malformed("`type` is not a string")),
        None => return Err(malformed("no `type`")),
    };
    match kind {
        "system" => Ok(parse_system(&value)),
        "stream_event" => parse_stream_event(&value),
        "assistant" => parse_assistant(&value).map(Incoming::Assistant),
        "result" => parse_result(&value).map(Incoming::Result),
        "control_request" => parse_control_request(&value),
        "control_cancel_request" => {
            let request_id = required_str(&value, "request_id")?;
            Ok(Incoming::CancelRequest { request_id })
        }
        "control_response" => Ok(parse_control_response(&value)),
        _ => Ok(Incoming::Ignored),
    }
}

/// What kind of JSON error, without the position or any of the text.
fn json_error(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "truncated",
    }
}

/// A string field, absent if missing, null, empty or of another type.
fn opt_str(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn required_str(value: &Value, key: &str) -> Result<String, Malformed> {
    match value.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(malformed(format!("no `{key}` string"))),
    }
}

/// Whether a message comes from a sub-agent: `parent_tool_use_id` is set.
fn nested(value: &Value) -> bool {
    value
        .get("parent_tool_use_id")
        .is_some_and(|p| !p.is_null())
}

fn parse_system(value: &Value) -> Incoming {
    if value.get("subtype").and_then(Value::as_str) != Some("init") {
        return Incoming::Ignored;
    }
    Incoming::Init {
        model: opt_str(value, "model"),
        session_id: opt_str(value, "session_id"),
    }
}

fn parse_stream_event(value: &Value) -> Result<Incoming, Malformed> {
    let event = value
        .get("event")
        .filter(|e| e.is_object())
        .ok_or_else(|| malformed("`stream_event` without an `event` object"))?;
    let parsed = match event.get("type").and_then(Value::as_str) {
        Some("message_start") => StreamEvent::MessageStart {
            id: event.get("message").and_then(|m| opt_str(m, "id")),
        },
        Some("content_block_start") => StreamEvent::BlockStart {
            text: event
                .get("content_block")
                .and_then(|b| b.get("type"))
                .and_then(Value::as_str)
                == Some("text"),
        },
        Some("content_block_delta") => {
            let delta = event
                .get("delta")
                .ok_or_else(|| malformed("`content_block_delta` without a `delta`"))?;
            match delta.get("type").and_then(Value::as_str) {
                Some("text_delta") => match delta.get("text") {
                    Some(Value::String(text)) => StreamEvent::TextDelta(text.clone()),
                    _ => return Err(malformed("`text_delta` without a `text` string")),
                },
                _ => StreamEvent::Other,
            }
        }
        _ => StreamEvent::Other,
    };
    Ok(Incoming::Stream {
        nested: nested(value),
        event: parsed,
    })
}

fn parse_assistant(value: &Value) -> Result<AssistantMessage, Malformed> {
    let message = value
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| malformed("`assistant` without a `message` object"))?;
    let blocks = match message.get("content") {
        Some(Value::Array(blocks)) => blocks.iter().map(parse_block).collect(),
        // A bare string is a single text block.
        Some(Value::String(text)) => vec![Block::Text(text.clone())],
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(malformed("`assistant` content is neither a list nor text")),
    };
    Ok(AssistantMessage {
        id: opt_str(message, "id"),
        nested: nested(value),
        blocks,
    })
}

fn parse_block(block: &Value) -> Block {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => match block.get("text") {
            Some(Value::String(text)) => Block::Text(text.clone()),
            _ => Block::Other,
        },
        Some("tool_use") | Some("server_tool_use") => match block.get("name") {
            Some(Value::String(name)) if !name.is_empty() => Block::ToolUse {
                id: opt_str(block, "id"),
                name: name.clone(),
                input: block.get("input").cloned().unwrap_or(Value::Null),
            },
            _ => Block::Other,
        },
        _ => Block::Other,
    }
}

/// A token count: a non-negative integer, or a number rounded to one; anything else is zero.
fn count(value: Option<&Value>) -> u64 {
    match value {
        Some(Value::Number(n)) => n.as_u64().unwrap_or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f > 0.0)
                .map_or(0, |f| f.round() as u64)
        }),
        _ => 0,
    }
}

/// Dollars to millionths of a dollar, rounded; `None` for anything that is not a sane amount.
fn usd_to_micros(value: Option<&Value>) -> Option<u64> {
    let usd = value?.as_f64()?;
    (usd.is_finite() && usd >= 0.0).then(|| (usd * 1_000_000.0).round() as u64)
}

fn parse_result(value: &Value) -> Result<TurnResult, Malformed> {
    let subtype = value.get("subtype").and_then(Value::as_str).unwrap_or("");
    let usage = value.get("usage").filter(|u| u.is_object());
    let field = |key: &str| count(usage.and_then(|u| u.get(key)));
    let usage = TurnUsage {
        input_tokens: field("input_tokens"),
        output_tokens: field("output_tokens"),
        cache_read_tokens: field("cache_read_input_tokens"),
        cache_write_tokens: field("cache_creation_input_tokens"),
        cost_micros: usd_to_micros(value.get("total_cost_usd"))
            .or_else(|| usd_to_micros(value.get("cost_usd"))),
    };
    let is_error = match value.get("is_error") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        Some(_) => return Err(malformed("`is_error` is not a boolean")),
    };
    let failed = is_error || subtype.starts_with("error");
    let error = failed.then(|| {
        let errors: Vec<&str> = value
            .get("errors")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        opt_str(value, "result")
            .filter(|r| !r.trim().is_empty())
            .or_else(|| (!errors.is_empty()).then(|| errors.join("; ")))
            .or_else(|| opt_str(value, "error"))
            .unwrap_or_else(|| {
                if subtype.is_empty() {
                    "no details given".into()
                } else {
                    subtype.to_string()
                }
            })
    });
    Ok(TurnResult { usage, error })
}

fn parse_control_request(value: &Value) -> Result<Incoming, Malformed> {
    let request_id = required_str(value, "request_id")?;
    let request = value
        .get("request")
        .filter(|r| r.is_object())
        .ok_or_else(|| malformed("`control_request` without a `request` object"))?;
    let subtype = request
        .get("subtype")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if subtype != "can_use_tool" {
        return Ok(Incoming::UnsupportedRequest {
            request_id,
            subtype,
        });
    }
    let tool_name = required_str(request, "tool_name")?;
    let input = request.get("input").cloned().unwrap_or(json!({}));
    let mut description = opt_str(request, "description")
        .or_else(|| opt_str(request, "decision_reason"))
        .or_else(|| opt_str(&input, "description"));
    if let Some(path) = opt_str(request, "blocked_path") {
        let text = match description {
            Some(d) => format!("{d} (outside the allowed directories: {path})"),
            None => format!("Outside the allowed directories: {path}"),
        };
        description = Some(text);
    }
    Ok(Incoming::Permission(PermissionAsk {
        request_id,
        tool_name,
        input,
        description,
    }))
}

fn parse_control_response(value: &Value) -> Incoming {
    let response = value.get("response");
    let request_id = response.and_then(|r| opt_str(r, "request_id"));
    let error = response
        .filter(|r| r.get("subtype").and_then(Value::as_str) == Some("error"))
        .map(|r| opt_str(r, "error").unwrap_or_else(|| "unknown error".into()));
    Incoming::ControlResponse { request_id, error }
}

/// The user's message.
pub(crate) fn user_message(text: &str, session_id: &str) -> String {
    json!({
        "type": "user",
        "message": {"role": "user", "content": [{"type": "text", "text": text}]},
        "parent_tool_use_id": null,
        "session_id": session_id,
    })
    .to_string()
}

/// Asks the agent to stop the turn in progress.
pub(crate) fn interrupt(request_id: &str) -> String {
    control_request(request_id, json!({"subtype": "interrupt"}))
}

/// Switches the agent into plan mode, or back to its default.
pub(crate) fn set_permission_mode(request_id: &str, plan: bool) -> String {
    let mode = if plan { "plan" } else { "default" };
    control_request(
        request_id,
        json!({"subtype": "set_permission_mode", "mode": mode}),
    )
}

fn control_request(request_id: &str, request: Value) -> String {
    json!({"type": "control_request", "request_id": request_id, "request": request}).to_string()
}

/// Lets the agent use the tool, with the input it asked for.
pub(crate) fn allow(request_id: &str, input: &Value) -> String {
    control_success(
        request_id,
        json!({"behavior": "allow", "updatedInput": input}),
    )
}

/// Refuses the tool; the agent sees `message`.
pub(crate) fn deny(request_id: &str, message: &str) -> String {
    control_success(request_id, json!({"behavior": "deny", "message": message}))
}

fn control_success(request_id: &str, response: Value) -> String {
    json!({
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id, "response": response},
    })
    .to_string()
}

/// Declines a request tether does not serve.
pub(crate) fn control_error(request_id: &str, message: &str) -> String {
    json!({
        "type": "control_response",
        "response": {"subtype": "error", "request_id": request_id, "error": message},
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Incoming, Malformed> {
        parse_line(line.as_bytes())
    }

    #[test]
    fn init() {
        let line = r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-x","tools":["Bash"]}"#;
        assert_eq!(
            parse(line).unwrap(),
            Incoming::Init {
                model: Some("claude-x".into()),
                session_id: Some("s-1".into())
            }
        );
        // Other system messages, and an init with fields of the wrong type, say nothing.
        assert_eq!(
            parse(r#"{"type":"system","subtype":"hook_response"}"#).unwrap(),
            Incoming::Ignored
        );
        assert_eq!(
            parse(r#"{"type":"system","subtype":"init","model":7,"session_id":null}"#).unwrap(),
            Incoming::Init {
                model: None,
                session_id: None
            }
        );
    }

    #[test]
    fn stream_events() {
        let wrap = |event: &str| {
            format!(
                r#"{{"type":"stream_event","event":{event},"parent_tool_use_id":null,"session_id":"s"}}"#
            )
        };
        assert_eq!(
            parse(&wrap(
                r#"{"type":"message_start","message":{"id":"msg_1","role":"assistant"}}"#
            ))
            .unwrap(),
            Incoming::Stream {
                nested: false,
                event: StreamEvent::MessageStart {
                    id: Some("msg_1".into())
                }
            }
        );
        assert_eq!(
            parse(&wrap(r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)).unwrap(),
            Incoming::Stream {
                nested: false,
                event: StreamEvent::BlockStart { text: true }
            }
        );
        assert_eq!(
            parse(&wrap(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \n"}}"#)).unwrap(),
            Incoming::Stream {
                nested: false,
                event: StreamEvent::TextDelta("Hi \n".into())
            }
        );
        assert_eq!(
            parse(&wrap(r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a"}}"#)).unwrap(),
            Incoming::Stream {
                nested: false,
                event: StreamEvent::Other
            }
        );
        let sub = r#"{"type":"stream_event","event":{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}},"parent_tool_use_id":"toolu_1"}"#;
        assert!(matches!(
            parse(sub).unwrap(),
            Incoming::Stream { nested: true, .. }
        ));
    }

    #[test]
    fn assistant_messages() {
        let line = r#"{"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[
            {"type":"thinking","thinking":"hm"},
            {"type":"text","text":"Let me look."},
            {"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}},
            {"type":"text","text":5},
            {"type":"tool_use","name":""},
            "junk"
        ]},"parent_tool_use_id":null}"#
            .replace('\n', "");
        let Incoming::Assistant(message) = parse(&line).unwrap() else {
            panic!()
        };
        assert_eq!(message.id.as_deref(), Some("msg_1"));
        assert!(!message.nested);
        assert_eq!(
            message.blocks,
            vec![
                Block::Other,
                Block::Text("Let me look.".into()),
                Block::ToolUse {
                    id: Some("toolu_1".into()),
                    name: "Bash".into(),
                    input: json!({"command": "ls"})
                },
                Block::Other,
                Block::Other,
                Block::Other,
            ]
        );
        let text = r#"{"type":"assistant","message":{"content":"plain"}}"#;
        assert!(
            matches!(parse(text).unwrap(), Incoming::Assistant(m) if m.blocks == vec![Block::Text("plain".into())] && m.id.is_none())
        );
    }

    #[test]
    fn results() {
        let ok = r#"{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.0123456,
            "usage":{"input_tokens":10,"output_tokens":20.4,"cache_creation_input_tokens":30,"cache_read_input_tokens":-4}}"#
            .replace('\n', "");
        assert_eq!(
            parse(&ok).unwrap(),
            Incoming::Result(TurnResult {
                usage: TurnUsage {
                    input_tokens: 10,
                    output_tokens: 20,
                    cache_read_tokens: 0,
                    cache_write_tokens: 30,
                    cost_micros: Some(12346),
                },
                error: None
            })
        );
        let failed = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["boom",""," "]}"#;
        let Incoming::Result(r) = parse(failed).unwrap() else {
            panic!()
        };
        assert_eq!(r.error.as_deref(), Some("boom"));
        assert_eq!(r.usage, TurnUsage::default());
        let api =
            r#"{"type":"result","subtype":"success","is_error":true,"result":"Invalid API key"}"#;
        let Incoming::Result(r) = parse(api).unwrap() else {
            panic!()
        };
        assert_eq!(r.error.as_deref(), Some("Invalid API key"));
        let bare = r#"{"type":"result","subtype":"error_max_turns","total_cost_usd":"free"}"#;
        let Incoming::Result(r) = parse(bare).unwrap() else {
            panic!()
        };
        assert_eq!(r.error.as_deref(), Some("error_max_turns"));
        assert_eq!(r.usage.cost_micros, None);
        let negative = r#"{"type":"result","total_cost_usd":-1,"usage":{"input_tokens":1e300}}"#;
        let Incoming::Result(r) = parse(negative).unwrap() else {
            panic!()
        };
        assert_eq!(r.usage.cost_micros, None);
        assert_eq!(r.usage.input_tokens, u64::MAX);
        assert!(parse(r#"{"type":"result","is_error":"yes"}"#).is_err());
    }

    #[test]
    fn control_messages() {
        let ask = r#"{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"rm -rf build","description":"Clean"},"permission_suggestions":[],"blocked_path":"/etc"}}"#;
        assert_eq!(
            parse(ask).unwrap(),
            Incoming::Permission(PermissionAsk {
                request_id: "r1".into(),
                tool_name: "Bash".into(),
                input: json!({"command": "rm -rf build", "description": "Clean"}),
                description: Some("Clean (outside the allowed directories: /etc)".into()),
            })
        );
        let hook =
            r#"{"type":"control_request","request_id":"r2","request":{"subtype":"hook_callback"}}"#;
        assert_eq!(
            parse(hook).unwrap(),
            Incoming::UnsupportedRequest {
                request_id: "r2".into(),
                subtype: "hook_callback".into()
            }
        );
        assert!(parse(r#"{"type":"control_request","request":{"subtype":"can_use_tool","tool_name":"Bash"}}"#).is_err());
        assert!(parse(r#"{"type":"control_request","request_id":"r3","request":{"subtype":"can_use_tool"}}"#).is_err());
        assert!(
            parse(r#"{"type":"control_request","request_id":"r3","request":"can_use_tool"}"#)
                .is_err()
        );
        assert_eq!(
            parse(r#"{"type":"control_cancel_request","request_id":"r1"}"#).unwrap(),
            Incoming::CancelRequest {
                request_id: "r1".into()
            }
        );
        assert_eq!(
            parse(r#"{"type":"control_response","response":{"subtype":"error","request_id":"t1","error":"nope"}}"#).unwrap(),
            Incoming::ControlResponse {
                request_id: Some("t1".into()),
                error: Some("nope".into())
            }
        );
        assert_eq!(
            parse(r#"{"type":"control_response","response":{}}"#).unwrap(),
            Incoming::ControlResponse {
                request_id: None,
                error: None
            }
        );
    }

    #[test]
    fn hostile_lines_are_malformed_or_ignored() {
        for line in [
            "not json",
            "{",
            "[1,2,3]",
            "\"type\"",
            "null",
            r#"{"type":5}"#,
            r#"{"no":"type"}"#,
            r#"{"type":"assistant","message":42}"#,
            r#"{"type":"assistant","message":{"content":{"type":"text"}}}"#,
            r#"{"type":"stream_event"}"#,
            r#"{"type":"stream_event","event":{"type":"content_block_delta"}}"#,
            r#"{"type":"stream_event","event":{"type":"content_block_delta","delta":{"type":"text_delta","text":12}}}"#,
            r#"{"type":"control_cancel_request"}"#,
            r#"{"type":"control_cancel_request","request_id":""}"#,
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        for line in [
            "",
            "  \t",
            r#"{"type":"user","message":{}}"#,
            r#"{"type":"keep_alive"}"#,
            r#"{"type":"brand_new","x":[1]}"#,
        ] {
            assert_eq!(parse(line).unwrap(), Incoming::Ignored, "{line}");
        }
        // Invalid UTF-8, a NUL, and nesting deep enough to overflow a naive parser's stack.
        assert!(parse_line(b"{\"type\":\"result\",\"result\":\"\xff\xfe\"}").is_err());
        assert!(parse_line(b"\0").is_err());
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
        let deep_object = format!(
            r#"{{"type":"assistant","message":{{"content":{}}}}}"#,
            "[".repeat(10_000)
        );
        assert!(parse(&deep_object).is_err());
        // The reason never quotes the line.
        let reason = parse(r#"{"secret":"sk-ant-abcdefghijklmnopqrstuvwxyz""#).unwrap_err();
        assert!(!reason.0.contains("sk-"), "{reason}");
    }

    #[test]
    fn encodings_are_single_lines() {
        let text = "line one\nline two\r\n\u{2028}\"quoted\" \\ end";
        let line = user_message(text, "s-1");
        assert!(!line.contains('\n') && !line.contains('\r'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "user");
        assert_eq!(v["message"]["role"], "user");
        assert_eq!(v["message"]["content"][0]["text"], text);
        assert_eq!(v["parent_tool_use_id"], Value::Null);
        assert_eq!(v["session_id"], "s-1");

        let v: Value = serde_json::from_str(&interrupt("t1")).unwrap();
        assert_eq!(
            v,
            json!({"type":"control_request","request_id":"t1","request":{"subtype":"interrupt"}})
        );
        let v: Value = serde_json::from_str(&set_permission_mode("t2", true)).unwrap();
        assert_eq!(
            v["request"],
            json!({"subtype":"set_permission_mode","mode":"plan"})
        );
        let v: Value = serde_json::from_str(&set_permission_mode("t3", false)).unwrap();
        assert_eq!(v["request"]["mode"], "default");

        let v: Value = serde_json::from_str(&allow("r1", &json!({"command":"ls"}))).unwrap();
        assert_eq!(
            v,
            json!({"type":"control_response","response":{"subtype":"success","request_id":"r1",
                "response":{"behavior":"allow","updatedInput":{"command":"ls"}}}})
        );
        let v: Value = serde_json::from_str(&deny("r1", "no\nway")).unwrap();
        assert_eq!(
            v["response"]["response"],
            json!({"behavior":"deny","message":"no\nway"})
        );
        let v: Value = serde_json::from_str(&control_error("r2", "unsupported")).unwrap();
        assert_eq!(
            v["response"],
            json!({"subtype":"error","request_id":"r2","error":"unsupported"})
        );
    }
}
