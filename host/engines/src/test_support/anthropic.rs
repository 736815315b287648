//! Anthropic's Messages API stream, event by event, shaped as recorded from api.anthropic.com:
//! the same event names, fields and order. Whole replies ([`reply`], [`stream`]) and the pieces
//! a test needs to build a broken one.

use serde_json::{Value, json};

/// One server-sent event: `event: NAME`, `data: JSON`, a blank line.
pub fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The keep-alive event the API sends between others.
pub const PING: &str = "event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// The first event, carrying the input side of the usage.
pub fn message_start(input: u64, cache_write: u64, cache_read: u64) -> String {
    event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": input,
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                    "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": 1,
                    "service_tier": "standard"
                }
            }
        }),
    )
}

/// A text block: start, one delta per piece, stop.
pub fn text_block(index: u32, pieces: &[&str]) -> Vec<String> {
    let mut out = vec![event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
    )];
    for piece in pieces {
        out.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    out.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    ));
    out
}

/// An extended-thinking block: the thought, then its signature.
pub fn thinking_block(index: u32, thought: &str) -> Vec<String> {
    vec![
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": thought}}),
        ),
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}),
        ),
        event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ),
    ]
}

/// The last two events: the stop reason with the output side of the usage, then the stop.
pub fn message_end(output: u64) -> Vec<String> {
    vec![
        event(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        event("message_stop", &json!({"type": "message_stop"})),
    ]
}

/// An error in the middle of a stream (an overload, say).
pub fn error_event(kind: &str, message: &str) -> String {
    event(
        "error",
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// The body of an error status.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
}

/// A whole ordinary reply: one text block of `pieces`, 12 tokens in, 7 out.
pub fn reply(pieces: &[&str]) -> Vec<String> {
    let mut out = vec![message_start(12, 0, 0)];
    out.extend(text_block(0, pieces));
    out.extend(message_end(7));
    out
}

/// A whole reply of `text` in `pieces` deltas with this usage, as one body, with the `ping`
/// the API sends after the block starts.
pub fn stream(text: &str, pieces: usize, input: u64, output: u64) -> String {
    let parts = super::words::split(text, pieces);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let mut block = text_block(0, &parts);
    block.insert(1, PING.to_string());
    let mut out = vec![message_start(input, 0, 0)];
    out.extend(block);
    out.extend(message_end(output));
    out.concat()
}
