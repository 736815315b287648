//! The parser is incremental: however a stream is cut into chunks — every single cut point and
//! every pair of them, including inside a CRLF, a byte-order mark or a UTF-8 character — it
//! yields exactly what it yields for the stream in one chunk.

use tether_sse::{Event, Item, Parser};

fn parse(chunks: &[&[u8]]) -> Vec<Item> {
    let mut p = Parser::new(1 << 20);
    let mut out: Vec<Item> = chunks.iter().flat_map(|c| p.push(c).unwrap()).collect();
    out.extend(p.finish().map(Item::Event));
    out
}

fn ev(id: &str, event: &str, data: &str) -> Item {
    Item::Event(Event {
        id: id.into(),
        event: event.into(),
        data: data.into(),
    })
}

/// Checks every split of `input` into two and three chunks, and into single bytes, against
/// `want` (which is also what one chunk gives).
fn every_split(input: &[u8], want: &[Item]) {
    assert_eq!(parse(&[input]), want, "one chunk");
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        assert_eq!(parse(&[a, b]), want, "split at {i}");
        for j in i..=input.len() {
            let (b, c) = input[i..].split_at(j - i);
            assert_eq!(parse(&[a, b, c]), want, "split at {i} and {j}");
        }
    }
    let singles: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(parse(&singles), want, "byte by byte");
}

#[test]
fn a_provider_stream() {
    let text = "\u{FEFF}event: content_block_delta\r\ndata: {\"text\":\"h\u{e9}llo \u{1F600}\"}\r\n\r\n: ping\r\n\
                data: [DONE]\r\n\r\n";
    every_split(
        text.as_bytes(),
        &[
            ev(
                "",
                "content_block_delta",
                "{\"text\":\"h\u{e9}llo \u{1F600}\"}",
            ),
            Item::Comment(" ping".into()),
            ev("", "message", "[DONE]"),
        ],
    );
}

#[test]
fn a_relay_stream() {
    every_split(
        b"id: 7\r\ndata: first\r\ndata: second\r\n\r\n: ping\r\r\n",
        &[
            ev("7", "message", "first\nsecond"),
            Item::Comment(" ping".into()),
        ],
    );
}

#[test]
fn a_relay_stream_with_every_line_end() {
    // (A lone CR at the very end ends its line at once: nothing waits for a LF.)
    let text = "id: 7\r\ndata: first\r\ndata: second\r\n\r\n: ping\r\r\nid:8\rdata:x\r\r";
    every_split(
        text.as_bytes(),
        &[
            ev("7", "message", "first\nsecond"),
            Item::Comment(" ping".into()),
            ev("8", "message", "x"),
        ],
    );
}

#[test]
fn every_field() {
    let text = b"retry: 3000\nid: a\x00b\nid: 1\nevent: e\n:c\ndata\ndata: \xE2\x9C\x93 \xFF\n\nid\ndata: 2\n\ndata: tail\n";
    every_split(
        text,
        &[
            Item::Retry(3000),
            Item::Comment("c".into()),
            ev("1", "e", "\n\u{2713} \u{FFFD}"),
            ev("", "message", "2"),
            ev("", "message", "tail"),
        ],
    );
}

#[test]
fn multibyte_text_split_inside_a_character() {
    every_split(
        "data: héllo ✓\n\n".as_bytes(),
        &[ev("", "message", "héllo ✓")],
    );
}

#[test]
fn what_only_looks_like_a_byte_order_mark() {
    every_split(b"\xEF\xBBx\ndata: a\n\n", &[ev("", "message", "a")]);
    every_split(
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\r\n\r\n",
        &[ev("", "message", "b")],
    );
}
