//! An incremental Server-Sent Events parser for the tests and benches that read a relay's event
//! streams over plain sockets: bytes in as they arrive, whole events out, each `data:` payload
//! parsed as the JSON event PROTOCOL.md says it is.

use std::io::BufRead;

use serde_json::Value;

/// Reads a streaming response's head: whether it carries a chunked body. A status other than
/// 200 is an error carrying what the relay said.
pub fn read_head(r: &mut impl BufRead) -> std::io::Result<bool> {
    use std::io::{Error, ErrorKind};
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(Error::new(ErrorKind::UnexpectedEof, "no headers"));
        }
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
    }
    if status != "200" {
        let mut rest = String::new();
        let _ = r.read_to_string(&mut rest);
        return Err(Error::other(format!(
            "the stream answered {status}: {rest}"
        )));
    }
    Ok(chunked)
}

#[derive(Default)]
pub struct SseJson {
    line: Vec<u8>,
    data: String,
}

impl SseJson {
    /// The events that `bytes` completes. A payload that is not JSON panics: the relay never
    /// sends one, so it is a bug worth a loud failure.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line)
                .trim_end_matches('\r')
                .to_owned();
            self.line.clear();
            if line.is_empty() {
                if !self.data.is_empty() {
                    let event = serde_json::from_str(&self.data).unwrap_or_else(|e| {
                        panic!("an event that is not JSON ({e}): {}", self.data)
                    });
                    out.push(event);
                    self.data.clear();
                }
            } else if let Some(data) = line.strip_prefix("data:") {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(data.strip_prefix(' ').unwrap_or(data));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere() {
        let text = b"id: 1\r\ndata: {\"seq\":1}\r\n\r\n: keepalive\n\ndata: {\"a\":\ndata: 2}\n\n";
        for cut in 0..text.len() {
            let mut p = SseJson::default();
            let mut got = p.feed(&text[..cut]);
            got.extend(p.feed(&text[cut..]));
            assert_eq!(
                got,
                vec![serde_json::json!({"seq": 1}), serde_json::json!({"a": 2})]
            );
        }
    }
}
