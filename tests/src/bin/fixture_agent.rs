//! A stand-in for Claude Code in `-p --input-format stream-json --output-format stream-json
//! --verbose --include-partial-messages --permission-prompt-tool stdio` mode, for the `exec`
//! engine's tests. It speaks the same newline-delimited JSON and keeps a conversation of its
//! own; what it does with a message depends on words in the message's last paragraph:
//!
//! | word        | behaviour                                                                   |
//! |-------------|-----------------------------------------------------------------------------|
//! | (none)      | streams `You said: <text>` in pieces, then the complete message, a result   |
//! | `remember?` | `I remember: a | b` — the earlier messages it received                      |
//! | `mode?`     | `mode: <permission mode>`                                                   |
//! | `tool:`     | `tool: Bash ls` asks `can_use_tool` for Bash `{"command":"ls"}`, waits for   |
//! |             | the answer, replies `allowed: <updatedInput>` or `denied: <message>`;       |
//! |             | with `chatty` it streams `waiting… ` while it waits                         |
//! | `cancel`    | asks `can_use_tool`, withdraws the request, replies `Never mind.`           |
//! | `slow`      | streams `tick ` every 20 ms for seconds; honours `interrupt`                |
//! | `stubborn`  | like `slow`, but acknowledges `interrupt` and goes on                       |
//! | `crash`     | streams a little, writes to stderr, exits with status 3                     |
//! | `garbage`   | prints lines that are not the protocol, then answers normally               |
//! | `huge`      | prints a 20 MiB line, then answers normally                                 |
//! | `multi`     | one message with two text blocks                                            |
//! | `nostream`  | only the complete message, no stream events                                 |
//! | `steps`     | text, a tool use (no permission needed), a tool result, more text           |
//! | `fail`      | a result with `is_error` and `errors`                                       |
//!
//! Control requests (`set_permission_mode`, `interrupt`) are acknowledged with a
//! `control_response`. Every line read from stdin is appended to the file named by
//! `--log <path>` or the `FIXTURE_AGENT_LOG` environment variable, after a `#start <pid>` line.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const MODEL: &str = "fixture-model";

fn main() {
    let mut log = log_file();
    if let Some(f) = &mut log {
        let _ = writeln!(f, "#start {}", std::process::id());
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().split(b'\n') {
            let Ok(line) = line else { break };
            if let Some(f) = &mut log {
                // One write a line, so that a reader never sees half of one.
                let mut entry = line.clone();
                entry.push(b'\n');
                let _ = f.write_all(&entry);
            }
            match serde_json::from_slice::<Value>(&line) {
                Ok(v) => {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("fixture: unreadable input line: {e}"),
            }
        }
    });
    let mut agent = Agent {
        input: rx,
        deferred: VecDeque::new(),
        mode: "default".into(),
        session: format!("fixture-session-{}", std::process::id()),
        history: Vec::new(),
        ids: 0,
    };
    while let Some(message) = agent.next(None) {
        agent.handle(message);
    }
}

fn log_file() -> Option<File> {
    let mut args = std::env::args().skip(1);
    let mut path = std::env::var_os("FIXTURE_AGENT_LOG");
    while let Some(arg) = args.next() {
        if arg == "--log" {
            path = args.next().map(Into::into);
        }
    }
    path.map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("opening the log")
    })
}

/// What a wait was ended by.
enum Woken {
    Timeout,
    Interrupted,
    Closed,
}

struct Agent {
    input: Receiver<Value>,
    /// User messages that arrived during a turn, for later.
    deferred: VecDeque<Value>,
    mode: String,
    session: String,
    /// The last paragraph of every user message so far.
    history: Vec<String>,
    ids: u64,
}

impl Agent {
    fn id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}_{}", self.ids)
    }

    /// The next input line (deferred messages first), waiting at most `timeout`.
    fn next(&mut self, timeout: Option<Duration>) -> Option<Value> {
        if let Some(v) = self.deferred.pop_front() {
            return Some(v);
        }
        match timeout {
            None => self.input.recv().ok(),
            Some(t) => self.input.recv_timeout(t).ok(),
        }
    }

    fn emit(&self, value: Value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }

    fn raw(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }

    fn handle(&mut self, message: Value) {
        match message["type"].as_str() {
            Some("user") => self.turn(&message),
            Some("control_request") => {
                self.control(&message);
            }
            _ => {}
        }
    }

    /// Serves a control request; returns whether it was an interrupt.
    fn control(&mut self, message: &Value) -> bool {
        let id = message["request_id"].as_str().unwrap_or("").to_string();
        let request = &message["request"];
        let subtype = request["subtype"].as_str().unwrap_or("");
        match subtype {
            "set_permission_mode" => {
                self.mode = request["mode"].as_str().unwrap_or("default").to_string();
                self.ack(&id, json!({"mode": self.mode}));
                false
            }
            "interrupt" => {
                self.ack(&id, json!({}));
                true
            }
            _ => {
                self.emit(json!({"type": "control_response", "response": {
                    "subtype": "error", "request_id": id,
                    "error": format!("unsupported: {subtype}")}}));
                false
            }
        }
    }

    fn ack(&self, id: &str, response: Value) {
        self.emit(json!({"type": "control_response", "response": {
            "subtype": "success", "request_id": id, "response": response}}));
    }

    /// Waits `duration`, serving control requests and keeping user messages for later.
    fn pause(&mut self, duration: Duration) -> Woken {
        let until = Instant::now() + duration;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Woken::Timeout;
            }
            match self.input.recv_timeout(left) {
                Ok(v) if v["type"] == "control_request" => {
                    if self.control(&v) {
                        return Woken::Interrupted;
                    }
                }
                Ok(v) if v["type"] == "user" => self.deferred.push_back(v),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Woken::Timeout,
                Err(RecvTimeoutError::Disconnected) => return Woken::Closed,
            }
        }
    }

    fn stream(&self, event: Value) {
        self.emit(json!({"type": "stream_event", "event": event,
            "parent_tool_use_id": null, "session_id": self.session, "uuid": "u"}));
    }

    fn assistant(&self, id: &str, content: Value) {
        self.emit(json!({"type": "assistant", "message": {
            "id": id, "type": "message", "role": "assistant", "model": MODEL,
            "content": content, "usage": {"input_tokens": 1, "output_tokens": 1}},
            "parent_tool_use_id": null, "session_id": self.session}));
    }

    fn message_start(&self, id: &str) {
        self.stream(json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": MODEL, "content": []}}));
    }

    /// Streams the text blocks of one message in pieces, then sends the complete message.
    fn reply_blocks(&mut self, blocks: &[&str]) {
        let id = self.id("msg");
        self.message_start(&id);
        for (index, block) in blocks.iter().enumerate() {
            self.stream(json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "text", "text": ""}}));
            for piece in pieces(block) {
                self.stream(json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": piece}}));
            }
            self.stream(json!({"type": "content_block_stop", "index": index}));
        }
        self.stream(
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 7}}),
        );
        self.stream(json!({"type": "message_stop"}));
        let content: Vec<Value> = blocks
            .iter()
            .map(|b| json!({"type": "text", "text": b}))
            .collect();
        self.assistant(&id, Value::Array(content));
    }

    fn reply(&mut self, text: &str) {
        self.reply_blocks(&[text]);
    }

    fn result(&self, text: &str) {
        self.emit(
            json!({"type": "result", "subtype": "success", "is_error": false,
            "duration_ms": 5, "duration_api_ms": 4, "num_turns": 1, "result": text,
            "session_id": self.session, "total_cost_usd": 0.001234,
            "usage": {"input_tokens": 11, "output_tokens": 7,
                "cache_creation_input_tokens": 3, "cache_read_input_tokens": 5},
            "permission_denials": []}),
        );
    }

    fn interrupted(&self) {
        self.emit(
            json!({"type": "result", "subtype": "error_during_execution",
            "is_error": true, "session_id": self.session, "total_cost_usd": 0.0001,
            "usage": {"input_tokens": 1, "output_tokens": 1}, "errors": []}),
        );
    }

    fn turn(&mut self, message: &Value) {
        let text = user_text(message);
        let said = text
            .rsplit("\n\n")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        self.emit(
            json!({"type": "system", "subtype": "init", "session_id": self.session,
            "model": MODEL, "tools": ["Bash", "Read"], "permissionMode": self.mode,
            "cwd": std::env::current_dir().unwrap_or_default()}),
        );
        let earlier = self.history.clone();
        self.history.push(said.clone());

        if said.contains("crash") {
            self.reply_blocks(&["Working on it"]);
            eprintln!("fixture: something went wrong");
            eprintln!("fixture: giving up");
            std::process::exit(3);
        } else if said.contains("stubborn") {
            self.ticks(500, false);
        } else if said.contains("slow") {
            self.ticks(150, true);
        } else if let Some(rest) = said.split_once("tool:").map(|(_, r)| r.trim().to_string()) {
            self.tool(&rest, said.contains("chatty"));
        } else if said.contains("cancel") {
            let id = self.id("perm");
            self.emit(
                json!({"type": "control_request", "request_id": id, "request": {
                "subtype": "can_use_tool", "tool_name": "Bash",
                "input": {"command": "sleep 1"}, "tool_use_id": "toolu_x"}}),
            );
            self.pause(Duration::from_millis(30));
            self.emit(json!({"type": "control_cancel_request", "request_id": id}));
            self.reply("Never mind.");
            self.result("Never mind.");
        } else if said.contains("garbage") {
            self.raw(b"this is not json");
            self.raw(b"{\"type\":");
            self.raw(b"[1,2,3]");
            self.raw(b"\"just a string\"");
            self.raw(b"{\"type\":\"assistant\",\"message\":42}");
            self.raw(b"{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":12}}}");
            self.raw(b"\xff\xfe\x00garbage\x1b[2J");
            self.raw(b"{\"type\":\"result\",\"is_error\":\"maybe\"}");
            self.raw(b"{\"type\":\"control_request\",\"request\":{\"subtype\":\"can_use_tool\"}}");
            self.raw(b"{\"type\":\"from_the_future\",\"payload\":{}}");
            self.raw(b"");
            self.reply(&format!("You said: {said}"));
            self.result("ok");
        } else if said.contains("huge") {
            let mut line = b"{\"type\":\"assistant\",\"message\":{\"id\":\"huge\",\"content\":[{\"type\":\"text\",\"text\":\"".to_vec();
            line.resize(line.len() + 20 * 1024 * 1024, b'x');
            line.extend_from_slice(b"\"}]}}");
            self.raw(&line);
            self.reply(&format!("You said: {said}"));
            self.result("ok");
        } else if said.contains("multi") {
            self.reply_blocks(&["First block.", "Second block."]);
            self.result("Second block.");
        } else if said.contains("nostream") {
            let id = self.id("msg");
            self.assistant(
                &id,
                json!([{"type": "text", "text": format!("You said: {said}")}]),
            );
            self.result("ok");
        } else if said.contains("steps") {
            self.reply("Let me look.");
            let id = self.id("msg");
            self.assistant(
                &id,
                json!([{"type": "tool_use", "id": "toolu_read",
                "name": "Read", "input": {"file_path": "src/main.rs"}}]),
            );
            self.emit(
                json!({"type": "user", "message": {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_read", "content": "fn main() {}"}]},
                "parent_tool_use_id": null, "session_id": self.session}),
            );
            self.reply("Done.");
            self.result("Done.");
        } else if said.contains("fail") {
            self.emit(
                json!({"type": "result", "subtype": "error_max_turns", "is_error": true,
                "session_id": self.session, "total_cost_usd": 0.5,
                "usage": {"input_tokens": 2, "output_tokens": 2},
                "errors": ["fixture failure on purpose"]}),
            );
        } else if said.contains("mode?") {
            let text = format!("mode: {}", self.mode);
            self.reply(&text);
            self.result(&text);
        } else if said.contains("remember?") {
            let text = format!("I remember: {}", earlier.join(" | "));
            self.reply(&text);
            self.result(&text);
        } else {
            let text = format!("You said: {said}");
            self.reply(&text);
            self.result(&text);
        }
    }

    /// Streams `count` ticks, 20 ms apart.
    fn ticks(&mut self, count: usize, honour_interrupt: bool) {
        let id = self.id("msg");
        self.message_start(&id);
        self.stream(json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}));
        for _ in 0..count {
            self.stream(json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "tick "}}));
            match self.pause(Duration::from_millis(20)) {
                Woken::Interrupted if honour_interrupt => {
                    self.interrupted();
                    return;
                }
                Woken::Closed => std::process::exit(0),
                _ => {}
            }
        }
        self.assistant(
            &id,
            json!([{"type": "text", "text": "tick ".repeat(count)}]),
        );
        self.result("ticks");
    }

    fn tool(&mut self, rest: &str, chatty: bool) {
        let (name, command) = rest.split_once(' ').unwrap_or((rest, ""));
        let input = json!({"command": command.trim()});
        let tool_use = self.id("toolu");
        let message = self.id("msg");
        self.message_start(&message);
        self.stream(json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": tool_use, "name": name, "input": {}}}));
        self.stream(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}));
        self.stream(json!({"type": "content_block_stop", "index": 0}));
        self.assistant(
            &message,
            json!([{"type": "tool_use", "id": tool_use, "name": name, "input": input}]),
        );
        let request = self.id("perm");
        self.emit(
            json!({"type": "control_request", "request_id": request, "request": {
            "subtype": "can_use_tool", "tool_name": name, "input": input,
            "tool_use_id": tool_use, "permission_suggestions": [], "blocked_path": null}}),
        );

        if chatty {
            let waiting = self.id("msg");
            self.message_start(&waiting);
        }
        let answer = loop {
            let next = if chatty {
                self.input.recv_timeout(Duration::from_millis(25))
            } else {
                self.input
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected)
            };
            match next {
                Ok(v)
                    if v["type"] == "control_response"
                        && v["response"]["request_id"] == request.as_str() =>
                {
                    break v["response"]["response"].clone();
                }
                Ok(v) if v["type"] == "control_request" => {
                    if self.control(&v) {
                        self.interrupted();
                        return;
                    }
                }
                Ok(v) if v["type"] == "user" => self.deferred.push_back(v),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => self.stream(json!({
                    "type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": "waiting… "}})),
                Err(RecvTimeoutError::Disconnected) => std::process::exit(0),
            }
        };
        let text = match answer["behavior"].as_str() {
            Some("allow") => format!("allowed: {}", answer["updatedInput"]),
            Some("deny") => format!("denied: {}", answer["message"].as_str().unwrap_or("")),
            _ => format!("confused by {answer}"),
        };
        self.emit(
            json!({"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_use, "content": "done"}]},
            "parent_tool_use_id": null, "session_id": self.session}),
        );
        self.reply(&text);
        self.result(&text);
    }
}

/// The text of a user message: its text blocks joined, or its string content.
fn user_text(message: &Value) -> String {
    match &message["message"]["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

/// `text` in three pieces or so, cut at character boundaries.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}
