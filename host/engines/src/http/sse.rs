//! Server-sent events, as the WHATWG spec reads them: a pure, incremental parser. Bytes go in as
//! they arrive, split anywhere (even inside a `\r\n` or a UTF-8 character); whole events come out.

/// One event: its name (`message` when the server gave none) and its data lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being read, not yet terminated.
    line: Vec<u8>,
    /// The last byte seen was a `\r`: a `\n` that follows belongs to the same line end.
    after_cr: bool,
    /// Whether the start of the stream is past: a byte-order mark is skipped there only.
    started: bool,
    /// How many bytes of a byte-order mark have been matched at the start.
    bom: usize,
    event: String,
    data: String,
    /// At least one `data` field has been read for the pending event.
    has_data: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; returns the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let mut out = Vec::new();
        for &b in bytes {
            if !self.started {
                if b == BOM[self.bom] {
                    self.bom += 1;
                    self.started = self.bom == BOM.len();
                    continue;
                }
                // Not a byte-order mark after all: what was held back is ordinary text.
                self.started = true;
                for &held in &BOM[..self.bom] {
                    self.byte(held, &mut out);
                }
            }
            self.byte(b, &mut out);
        }
        out
    }

    fn byte(&mut self, b: u8, out: &mut Vec<SseEvent>) {
        match b {
            b'\n' if self.after_cr => self.after_cr = false,
            b'\n' | b'\r' => {
                self.after_cr = b == b'\r';
                let line = std::mem::take(&mut self.line);
                if let Some(event) = self.line_done(&line) {
                    out.push(event);
                }
            }
            _ => {
                self.after_cr = false;
                self.line.push(b);
            }
        }
    }

    /// The stream ended. An event whose lines all arrived but whose closing blank line did not
    /// is delivered (some servers end that way); a line cut off mid-way is discarded.
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.line.clear();
        self.dispatch()
    }

    /// Bytes held while waiting for a line or an event to end: a server that never ends one
    /// would otherwise make this grow without bound, so the caller checks it.
    pub fn pending_len(&self) -> usize {
        self.line.len() + self.data.len() + self.event.len()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None; // a comment, often a keep-alive
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` matter to browsers reconnecting, not to a single request.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return None; // the spec drops an event without data
        }
        Some(SseEvent {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| p.push(c)).collect();
        out.extend(p.finish());
        out
    }

    #[test]
    fn named_events_and_default_name() {
        let got = all(&[b"event: ping\ndata: {\"type\": \"ping\"}\n\ndata: hello\n\n"]);
        assert_eq!(
            got,
            vec![ev("ping", "{\"type\": \"ping\"}"), ev("message", "hello")]
        );
    }

    #[test]
    fn crlf_cr_and_lf_line_ends() {
        let got = all(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]);
        assert_eq!(
            got,
            vec![ev("message", "a"), ev("message", "b"), ev("message", "c")]
        );
    }

    #[test]
    fn multi_line_data_and_comments() {
        let got = all(&[b": keep-alive\ndata: one\n: in between\ndata:two\ndata\n\n"]);
        assert_eq!(got, vec![ev("message", "one\ntwo\n")]);
    }

    #[test]
    fn only_one_leading_space_is_stripped() {
        assert_eq!(all(&[b"data:   x \n\n"]), vec![ev("message", "  x ")]);
    }

    #[test]
    fn split_anywhere_gives_the_same_events() {
        let text = "\u{FEFF}event: content_block_delta\r\ndata: {\"text\":\"h\u{e9}llo \u{1F600}\"}\r\n\r\n: ping\r\n\
                    data: [DONE]\r\n\r\n";
        let whole = all(&[text.as_bytes()]);
        assert_eq!(
            whole,
            vec![
                ev("content_block_delta", "{\"text\":\"h\u{e9}llo \u{1F600}\"}"),
                ev("message", "[DONE]")
            ]
        );
        let bytes = text.as_bytes();
        for at in 1..bytes.len() {
            let (a, b) = bytes.split_at(at);
            assert_eq!(all(&[a, b]), whole, "split at {at}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&singles), whole);
        // Something that starts like a byte-order mark but is not one is kept.
        let mut p = SseParser::new();
        assert!(p.push(b"\xEF").is_empty());
        assert_eq!(p.pending_len(), 0);
        p.push(b"a");
        assert_eq!(p.pending_len(), 2);
    }

    #[test]
    fn a_cr_at_a_chunk_end_then_lf_is_one_line_end() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: x\r").is_empty());
        assert_eq!(p.push(b"\n\r"), vec![ev("message", "x")]);
        assert!(
            p.push(b"\n").is_empty(),
            "the \\n after \\r is not another blank line"
        );
        assert!(p.push(b"data: y\n").is_empty());
        assert_eq!(p.push(b"\n"), vec![ev("message", "y")]);
    }

    #[test]
    fn end_of_stream() {
        // Complete lines without the closing blank line are delivered…
        assert_eq!(all(&[b"data: [DONE]\n"]), vec![ev("message", "[DONE]")]);
        // …a cut-off line is not, and nor is an event without data.
        assert_eq!(all(&[b"data: {\"type\":\"mess"]), vec![]);
        assert_eq!(all(&[b"event: ping\n\n"]), vec![]);
        let mut p = SseParser::new();
        p.push(b"data: 12345");
        assert_eq!(p.pending_len(), 11);
    }
}
