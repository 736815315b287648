//! Reading a relay's event stream over a plain socket, for the tests and benches that do: the
//! response head, then the events (framed by `tether-sse`), each `data:` payload parsed as the
//! JSON event docs/protocol.md says it is.

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

/// The longest line or event a relay stream may send here: far above the relay's event limit,
/// so that only a runaway stream trips it.
const MAX_EVENT: usize = 64 << 20;

/// The relay's events, as JSON, from its event stream's bytes.
pub struct SseJson {
    parser: tether_sse::Parser,
}

impl Default for SseJson {
    fn default() -> SseJson {
        SseJson {
            parser: tether_sse::Parser::new(MAX_EVENT),
        }
    }
}

impl SseJson {
    /// The events that `bytes` completes. A payload that is not JSON panics: the relay never
    /// sends one, so it is a bug worth a loud failure (and so is a stream past the size limit).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Value> {
        let items = self
            .parser
            .push(bytes)
            .unwrap_or_else(|e| panic!("an unreadable event stream: {e}"));
        items
            .into_iter()
            .filter_map(|item| match item {
                tether_sse::Item::Event(event) => {
                    Some(serde_json::from_str(&event.data).unwrap_or_else(|e| {
                        panic!("an event that is not JSON ({e}): {}", event.data)
                    }))
                }
                tether_sse::Item::Comment(_) | tether_sse::Item::Retry(_) => None,
            })
            .collect()
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
