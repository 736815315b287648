//! Server-Sent Events framing (the WHATWG event-stream format), as a pure parser fed the body's
//! chunks as they come: a frame may span chunks, a chunk may hold many frames, and a line may end
//! in LF, CRLF or CR (split across chunks, even).

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseFrame {
    /// An event: its `id:` (the relay's `seq`) and its `data:` lines joined by `\n`.
    Event { id: Option<String>, data: String },
    /// A block of comments only (the relay's keepalive).
    Comment,
}

#[derive(Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    id: Option<String>,
    data: Vec<String>,
    comment: bool,
}

impl SseParser {
    /// Feed `chunk`; returns the frames it completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseFrame> {
        self.buffer.extend_from_slice(chunk);
        let mut frames = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buffer[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            let end = start + offset;
            let mut next = end + 1;
            if self.buffer[end] == b'\r' {
                match self.buffer.get(end + 1) {
                    // A CR at the end of the chunk may be the first half of a CRLF.
                    None => break,
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                }
            }
            let line = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            self.line(&line, &mut frames);
            start = next;
        }
        self.buffer.drain(..start);
        frames
    }

    fn line(&mut self, line: &str, frames: &mut Vec<SseFrame>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                frames.push(SseFrame::Event {
                    id: self.id.take(),
                    data: std::mem::take(&mut self.data).join("\n"),
                });
            } else if self.comment {
                frames.push(SseFrame::Comment);
            }
            self.id = None;
            self.comment = false;
            return;
        }
        if line.starts_with(':') {
            self.comment = true;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => self.data.push(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, data: &str) -> SseFrame {
        SseFrame::Event {
            id: Some(id.into()),
            data: data.into(),
        }
    }

    #[test]
    fn events_and_keepalives() {
        let mut p = SseParser::default();
        let frames = p.push(b"id: 1\ndata: {\"a\":1}\n\n:keepalive\n\nid:2\ndata:x\n\n");
        assert_eq!(
            frames,
            [event("1", "{\"a\":1}"), SseFrame::Comment, event("2", "x")]
        );
    }

    #[test]
    fn frames_split_anywhere_across_chunks() {
        // (A lone CR at the very end would be held back: it may be half of a CRLF.)
        let text = "id: 7\r\ndata: first\r\ndata: second\r\n\r\n: ping\r\r\n";
        for cut in 0..text.len() {
            let mut p = SseParser::default();
            let mut frames = p.push(&text.as_bytes()[..cut]);
            frames.extend(p.push(&text.as_bytes()[cut..]));
            assert_eq!(
                frames,
                [event("7", "first\nsecond"), SseFrame::Comment],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn multibyte_text_split_inside_a_character() {
        let text = "data: héllo ✓\n\n".as_bytes();
        let mut p = SseParser::default();
        let mut frames = p.push(&text[..8]);
        frames.extend(p.push(&text[8..]));
        assert_eq!(
            frames,
            [SseFrame::Event {
                id: None,
                data: "héllo ✓".into()
            }]
        );
    }

    #[test]
    fn unknown_fields_and_empty_blocks_are_ignored() {
        let mut p = SseParser::default();
        assert_eq!(p.push(b"event: x\nretry: 10\n\n\n\n"), []);
        assert_eq!(
            p.push(b"data\n\n"),
            [SseFrame::Event {
                id: None,
                data: String::new()
            }]
        );
    }
}
