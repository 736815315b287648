//! OpenAI's Chat Completions stream with `stream_options.include_usage`, chunk by chunk, shaped
//! as recorded from api.openai.com (the format Ollama, llama.cpp and vLLM copy).

use serde_json::{Value, json};

/// A chunk with these `choices` and `usage`, as a `data:` line.
fn envelope(choices: Value, usage: Value) -> String {
    let chunk = json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
        "choices": choices,
        "usage": usage
    });
    format!("data: {chunk}\n\n")
}

/// A chunk of one choice with this `delta` and finish reason.
pub fn chunk(delta: Value, finish: Option<&str>) -> String {
    envelope(
        json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]),
        Value::Null,
    )
}

/// A chunk of reply text.
pub fn text(text: &str) -> String {
    chunk(json!({"content": text}), None)
}

/// The usage chunk that `include_usage` adds after the finish: no choices.
pub fn usage(prompt: u64, completion: u64, cached: u64) -> String {
    envelope(
        json!([]),
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        }),
    )
}

/// The stream's last line.
pub const DONE: &str = "data: [DONE]\n\n";

/// A whole ordinary reply: the role chunk, one chunk per piece, the finish, usage (9 tokens
/// in, 12 out), `[DONE]`.
pub fn reply(pieces: &[&str]) -> Vec<String> {
    replying(pieces, 9, 12)
}

/// A whole reply of `text` in `pieces` chunks with this usage, as one body.
pub fn stream(text: &str, pieces: usize, input: u64, output: u64) -> String {
    let parts = super::words::split(text, pieces);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    replying(&parts, input, output).concat()
}

fn replying(pieces: &[&str], input: u64, output: u64) -> Vec<String> {
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    )];
    out.extend(pieces.iter().map(|p| text(p)));
    out.push(chunk(json!({}), Some("stop")));
    out.push(usage(input, output, 0));
    out.push(DONE.to_string());
    out
}

/// The body of an error status.
pub fn error_body(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}
