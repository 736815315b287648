//! A model provider on loopback for the end-to-end tests: it answers tether's requests with the
//! streams Anthropic's Messages API and OpenAI's Chat Completions send (the same event names,
//! fields and framing as recorded from the real services), and records every request so that a
//! test can check what tether sent. Plain HTTP/1.1 over a std TCP listener, one thread per
//! connection: no runtime needed in the test.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// One request as tether sent it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the provider answers, request after request (the last one repeats).
#[derive(Debug, Clone)]
pub enum Reply {
    /// A streamed reply with this text, cut into `pieces` deltas, and this usage.
    Text {
        text: String,
        pieces: usize,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// An HTTP error with the provider's JSON error body.
    Error { status: u16, body: String },
    /// `429 Too Many Requests` with `retry-after`, as both providers send it.
    RateLimited { retry_after_secs: u32 },
}

impl Reply {
    pub fn text(text: &str) -> Reply {
        Reply::Text {
            text: text.into(),
            pieces: text.split_inclusive(' ').count().max(1),
            input_tokens: 12,
            output_tokens: text.split_whitespace().count() as u64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Anthropic,
    OpenAi,
}

pub struct Provider {
    /// The base URL to give tether (`--base-url`).
    pub base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Provider {
    pub fn start(wire: Wire, replies: Vec<Reply>) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fake provider");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(replies));
        {
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let requests = Arc::clone(&requests);
                    let replies = Arc::clone(&replies);
                    std::thread::spawn(move || serve(stream, wire, &requests, &replies));
                }
            });
        }
        let base_url = match wire {
            Wire::Anthropic => format!("http://{addr}"),
            Wire::OpenAi => format!("http://{addr}/v1"),
        };
        Provider { base_url, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    stream: TcpStream,
    wire: Wire,
    requests: &Mutex<Vec<Recorded>>,
    replies: &Mutex<Vec<Reply>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        requests.lock().unwrap().push(request);
        let reply = {
            let mut replies = replies.lock().unwrap();
            if replies.len() > 1 {
                replies.remove(0)
            } else {
                replies.first().cloned().unwrap_or(Reply::text("ok"))
            }
        };
        let response = match reply {
            Reply::RateLimited { retry_after_secs } => {
                let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#;
                format!(
                    "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: {retry_after_secs}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            Reply::Error { status, body } => format!(
                "HTTP/1.1 {status} Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ),
            Reply::Text {
                text,
                pieces,
                input_tokens,
                output_tokens,
            } => {
                let body = match wire {
                    Wire::Anthropic => anthropic_stream(&text, pieces, input_tokens, output_tokens),
                    Wire::OpenAi => openai_stream(&text, pieces, input_tokens, output_tokens),
                };
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
        };
        if writer.write_all(response.as_bytes()).is_err() || writer.flush().is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request with a `content-length` body (JSON, `null` if not); `None` at the end
/// of the connection.
pub fn read_request(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok().filter(|n| *n > 0)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// `text` in `pieces` parts of about the same number of words.
fn split(text: &str, pieces: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let per = words.len().div_ceil(pieces.max(1)).max(1);
    words.chunks(per).map(|c| c.concat()).collect()
}

/// One server-sent event as both providers frame it.
pub fn frame(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// The Messages API stream, as api.anthropic.com sends it.
pub fn anthropic_stream(text: &str, pieces: usize, input: u64, output: u64) -> String {
    let mut s = frame(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929",
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}}),
    );
    s += &frame(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    s += &frame("ping", json!({"type": "ping"}));
    for piece in split(text, pieces) {
        s += &frame(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        );
    }
    s += &frame(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    s += &frame(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": output}}),
    );
    s += &frame("message_stop", json!({"type": "message_stop"}));
    s
}

/// The Chat Completions stream with `stream_options.include_usage`, as api.openai.com sends it.
pub fn openai_stream(text: &str, pieces: usize, input: u64, output: u64) -> String {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
                   "created": 1741570283, "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_06737a9306",
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        )
    };
    let mut s = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for piece in split(text, pieces) {
        s += &chunk(json!({"content": piece}), Value::Null);
    }
    s += &chunk(json!({}), json!("stop"));
    s += &format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
               "created": 1741570283, "model": "gpt-4o-mini-2024-07-18", "choices": [],
               "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
                         "prompt_tokens_details": {"cached_tokens": 0}}})
    );
    s += "data: [DONE]\n\n";
    s
}
