//! One table row per rule of the WHATWG event-stream interpretation, each fed as one chunk.

use tether_sse::{Error, Event, Item, Parser};

fn ev(id: &str, event: &str, data: &str) -> Item {
    Item::Event(Event {
        id: id.into(),
        event: event.into(),
        data: data.into(),
    })
}

fn msg(data: &str) -> Item {
    ev("", "message", data)
}

fn comment(text: &str) -> Item {
    Item::Comment(text.into())
}

fn items(input: &[u8]) -> Vec<Item> {
    Parser::new(1 << 20).push(input).expect("within the limit")
}

fn check(table: &[(&str, &[u8], Vec<Item>)]) {
    for (rule, input, want) in table {
        assert_eq!(
            &items(input),
            want,
            "{rule}: {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn line_endings() {
    check(&[
        ("LF", b"data: a\n\n", vec![msg("a")]),
        ("CRLF", b"data: a\r\n\r\n", vec![msg("a")]),
        ("CR", b"data: a\r\r", vec![msg("a")]),
        (
            "mixed",
            b"data: a\r\ndata: b\rdata: c\n\n",
            vec![msg("a\nb\nc")],
        ),
        ("CRLF then CR", b"data: a\r\n\r", vec![msg("a")]),
        ("LF CR is two ends", b"data: a\n\r", vec![msg("a")]),
        (
            "each kind ends an event",
            b"data: a\r\n\r\ndata: b\r\rdata: c\n\n",
            vec![msg("a"), msg("b"), msg("c")],
        ),
        ("no line end, no line", b"data: a", vec![]),
        ("one line end is not a block end", b"data: a\n", vec![]),
    ]);
}

#[test]
fn data() {
    check(&[
        (
            "lines joined by LF",
            b"data: one\ndata: two\n\n",
            vec![msg("one\ntwo")],
        ),
        (
            "one leading space stripped",
            b"data:   x \n\n",
            vec![msg("  x ")],
        ),
        ("no space needed", b"data:x\n\n", vec![msg("x")]),
        ("a tab is not a space", b"data:\tx\n\n", vec![msg("\tx")]),
        (
            "colons in the value",
            b"data: a:b: c\n\n",
            vec![msg("a:b: c")],
        ),
        ("empty value still dispatches", b"data:\n\n", vec![msg("")]),
        ("no colon: empty value", b"data\n\n", vec![msg("")]),
        (
            "only the final LF is removed",
            b"data: a\ndata\n\n",
            vec![msg("a\n")],
        ),
        ("two empty values", b"data\ndata\n\n", vec![msg("\n")]),
        (
            "comments do not end a block",
            b": keep-alive\ndata: one\n: in between\ndata:two\ndata\n\n",
            vec![
                comment(" keep-alive"),
                comment(" in between"),
                msg("one\ntwo\n"),
            ],
        ),
    ]);
}

#[test]
fn event_type() {
    check(&[
        (
            "named",
            b"event: ping\ndata: 1\n\n",
            vec![ev("", "ping", "1")],
        ),
        ("default", b"data: 1\n\n", vec![msg("1")]),
        (
            "empty is the default",
            b"event:\ndata: 1\n\n",
            vec![msg("1")],
        ),
        (
            "no colon is the default",
            b"event\ndata: 1\n\n",
            vec![msg("1")],
        ),
        (
            "the last one wins",
            b"event: a\nevent: b\ndata: 1\n\n",
            vec![ev("", "b", "1")],
        ),
        (
            "reset after an event",
            b"event: a\ndata: 1\n\ndata: 2\n\n",
            vec![ev("", "a", "1"), msg("2")],
        ),
        (
            "reset after a block without data",
            b"event: a\n\ndata: 2\n\n",
            vec![msg("2")],
        ),
        (
            "named events and the default name",
            b"event: ping\ndata: {\"type\": \"ping\"}\n\ndata: hello\n\n",
            vec![ev("", "ping", "{\"type\": \"ping\"}"), msg("hello")],
        ),
    ]);
}

#[test]
fn last_event_id() {
    check(&[
        ("set", b"id: 1\ndata: a\n\n", vec![ev("1", "message", "a")]),
        (
            "after the data",
            b"data: a\nid: 3\n\n",
            vec![ev("3", "message", "a")],
        ),
        (
            "one leading space stripped",
            b"id:  1\ndata: a\n\n",
            vec![ev(" 1", "message", "a")],
        ),
        (
            "kept for later events",
            b"id: 1\ndata: a\n\ndata: b\n\n",
            vec![ev("1", "message", "a"), ev("1", "message", "b")],
        ),
        (
            "an empty id resets it",
            b"id: 1\ndata: a\n\nid\ndata: b\n\n",
            vec![ev("1", "message", "a"), msg("b")],
        ),
        (
            "an id with NUL is ignored",
            b"id: 1\ndata: a\n\nid: 2\x00x\ndata: b\n\n",
            vec![ev("1", "message", "a"), ev("1", "message", "b")],
        ),
        (
            "applies from a block without data",
            b"id: 5\n\ndata: b\n\n",
            vec![ev("5", "message", "b")],
        ),
        (
            "not a number",
            b"id: x-9\ndata: a\n\n",
            vec![ev("x-9", "message", "a")],
        ),
    ]);
}

#[test]
fn retry() {
    check(&[
        ("digits", b"retry: 1500\n", vec![Item::Retry(1500)]),
        ("zero", b"retry:0\n", vec![Item::Retry(0)]),
        (
            "applies without data",
            b"retry: 10\n\n",
            vec![Item::Retry(10)],
        ),
        (
            "in an event's block",
            b"retry: 10\ndata: a\n\n",
            vec![Item::Retry(10), msg("a")],
        ),
        (
            "saturates",
            b"retry: 99999999999999999999999\n",
            vec![Item::Retry(u64::MAX)],
        ),
        ("not digits", b"retry: 15x\n", vec![]),
        ("negative", b"retry: -1\n", vec![]),
        ("fraction", b"retry: 1.5\n", vec![]),
        ("empty", b"retry:\n", vec![]),
        ("no colon", b"retry\n", vec![]),
        ("a second space is not a digit", b"retry:  15\n", vec![]),
        ("trailing space", b"retry: 15 \n", vec![]),
    ]);
}

#[test]
fn comments() {
    check(&[
        (
            "the text after the colon",
            b":keepalive\n",
            vec![comment("keepalive")],
        ),
        (
            "its leading space kept",
            b": ping\n",
            vec![comment(" ping")],
        ),
        ("empty", b":\n", vec![comment("")]),
        ("colons inside", b":a:b\n", vec![comment("a:b")]),
        (
            "a block of comments dispatches nothing else",
            b":x\n:y\n\n",
            vec![comment("x"), comment("y")],
        ),
        ("CR ended", b":x\r", vec![comment("x")]),
        (
            "not a comment when the colon is not first",
            b" :x\n\n",
            vec![],
        ),
    ]);
}

#[test]
fn unknown_fields_and_empty_blocks() {
    check(&[
        ("unknown field", b"foo: bar\n\n", vec![]),
        ("field names are case-sensitive", b"Data: x\n\n", vec![]),
        ("no trimming of field names", b"data : x\n\n", vec![]),
        ("leading space in the name", b" data: x\n\n", vec![]),
        (
            "unknown field inside an event",
            b"foo: 1\ndata: x\nbar\n\n",
            vec![msg("x")],
        ),
        ("blank lines only", b"\n\n\n", vec![]),
        ("CRLF blank lines only", b"\r\n\r\n", vec![]),
        ("a type without data", b"event: x\n\n", vec![]),
        (
            "type and retry without data",
            b"event: x\nretry: 10\n\n\n\n",
            vec![Item::Retry(10)],
        ),
    ]);
}

#[test]
fn byte_order_mark() {
    check(&[
        (
            "skipped at the start",
            b"\xEF\xBB\xBFdata: a\n\n",
            vec![msg("a")],
        ),
        (
            "only one is skipped",
            b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n",
            vec![],
        ),
        (
            "not skipped later",
            b"data: a\n\n\xEF\xBB\xBFdata: b\n\n",
            vec![msg("a")],
        ),
        (
            "kept inside a value",
            b"data: \xEF\xBB\xBFa\n\n",
            vec![msg("\u{FEFF}a")],
        ),
        ("a mark alone", b"\xEF\xBB\xBF", vec![]),
        (
            "a blank line after the mark",
            b"\xEF\xBB\xBF\n:x\n",
            vec![comment("x")],
        ),
        (
            "the start of a mark is text",
            b"\xEF\xBBdata: a\n\n",
            vec![],
        ),
    ]);
}

#[test]
fn invalid_utf8_is_replaced() {
    check(&[
        (
            "bad bytes",
            b"data: \xFF\xFEa\n\n",
            vec![msg("\u{FFFD}\u{FFFD}a")],
        ),
        (
            "cut off by a line end",
            b"data: \xE2\x9C\n\n",
            vec![msg("\u{FFFD}")],
        ),
        ("in a comment", b":\xFF\n", vec![comment("\u{FFFD}")]),
        (
            "in a type",
            b"event: \xFF\ndata\n\n",
            vec![ev("", "\u{FFFD}", "")],
        ),
        (
            "in an id",
            b"id: \xFF\ndata\n\n",
            vec![ev("\u{FFFD}", "message", "")],
        ),
        ("in a field name", b"dat\xFF: x\n\n", vec![]),
        (
            "valid multibyte text",
            "data: héllo ✓ 😀\n\n".as_bytes(),
            vec![msg("héllo ✓ 😀")],
        ),
    ]);
}

#[test]
fn relay_stream() {
    // A relay worker stream: each event carries its `seq` as id; keepalives are comments.
    check(&[(
        "events and keepalives",
        b"id: 1\ndata: {\"a\":1}\n\n:keepalive\n\nid:2\ndata:x\n\n",
        vec![
            ev("1", "message", "{\"a\":1}"),
            comment("keepalive"),
            ev("2", "message", "x"),
        ],
    )]);
}

#[test]
fn chunks_in_sequence() {
    let mut p = Parser::new(1 << 20);
    assert_eq!(
        p.push(b"data: x\r").unwrap(),
        [],
        "a CR ends the line at once…"
    );
    assert_eq!(
        p.push(b"\n\r").unwrap(),
        [msg("x")],
        "…and an LF next is its CRLF"
    );
    assert_eq!(
        p.push(b"\n").unwrap(),
        [],
        "the \\n after \\r is not another blank line"
    );
    assert_eq!(p.push(b"data: y\n").unwrap(), []);
    assert_eq!(p.push(b"\n").unwrap(), [msg("y")]);
    assert_eq!(p.push(b"").unwrap(), []);
    assert_eq!(p.push(b"data: z\r").unwrap(), []);
    assert_eq!(
        p.push(b"").unwrap(),
        [],
        "an empty chunk keeps the CR pending"
    );
    assert_eq!(p.push(b"\n").unwrap(), []);
    assert_eq!(p.push(b"\r").unwrap(), [msg("z")]);

    // A CR that ends the chunk dispatches without waiting for what follows.
    let mut p = Parser::new(1 << 20);
    assert_eq!(p.push(b"data: x\r\r").unwrap(), [msg("x")]);

    // A byte-order mark split across chunks.
    let mut p = Parser::new(1 << 20);
    assert_eq!(p.push(b"\xEF").unwrap(), []);
    assert_eq!(p.push(b"").unwrap(), []);
    assert_eq!(p.push(b"\xBB").unwrap(), []);
    assert_eq!(p.push(b"\xBFdata: a\n\n").unwrap(), [msg("a")]);

    // Something that starts like a byte-order mark but is not one is kept, as text.
    let mut p = Parser::new(1 << 20);
    assert_eq!(p.push(b"\xEF").unwrap(), []);
    assert_eq!(p.push(b"data: a\n\n").unwrap(), []);
    assert_eq!(p.push(b"data: b\n\n").unwrap(), [msg("b")]);
}

#[test]
fn end_of_stream() {
    let finish = |input: &[u8]| {
        let mut p = Parser::new(1 << 20);
        let mut got = p.push(input).unwrap();
        got.extend(p.finish().map(Item::Event));
        got
    };
    // Complete lines without the closing blank line are delivered by `finish`…
    assert_eq!(finish(b"data: [DONE]\n"), [msg("[DONE]")]);
    assert_eq!(finish(b"id: 4\nevent: e\ndata: a\r"), [ev("4", "e", "a")]);
    // …a cut-off line is not, and nor is an event without data.
    assert_eq!(finish(b"data: {\"type\":\"mess"), []);
    assert_eq!(finish(b"data: a\ndata: b"), [msg("a")]);
    assert_eq!(finish(b"event: ping\n\n"), []);
    assert_eq!(finish(b"event: ping\n"), []);
    assert_eq!(finish(b"data: a\n\n"), [msg("a")], "nothing left to finish");
    // Once finished, nothing is left over.
    let mut p = Parser::new(1 << 20);
    p.push(b"data: a\n").unwrap();
    assert_eq!(
        p.finish(),
        Some(Event {
            id: String::new(),
            event: "message".into(),
            data: "a".into()
        })
    );
    assert_eq!(p.finish(), None);
}

#[test]
fn a_line_longer_than_the_limit_is_an_error() {
    let too_long = Err(Error::LineTooLong { max: 8 });
    // A line of exactly the limit is fine (the line end does not count)…
    assert_eq!(
        Parser::new(8).push(b"data: 12\r\n\r\n"),
        Ok(vec![msg("12")])
    );
    // …one byte more is not, ended or not.
    assert_eq!(Parser::new(8).push(b"data: 123\n"), too_long);
    assert_eq!(Parser::new(8).push(b"data: 123"), too_long);
    assert_eq!(
        Parser::new(8).push(b":1234567\n"),
        Ok(vec![comment("1234567")])
    );
    assert_eq!(Parser::new(8).push(b":12345678\n"), too_long);
    // Across chunks, and before the line ends: the buffer never holds more than the limit.
    let mut p = Parser::new(8);
    assert_eq!(p.push(b"data:"), Ok(vec![]));
    assert_eq!(p.push(b" 12"), Ok(vec![]));
    assert_eq!(p.push(b"3"), too_long);
    // The error sticks: the stream cannot be read on.
    assert_eq!(p.push(b"\n\ndata: x\n\n"), too_long);
    assert_eq!(p.finish(), None);
    // A line cut off is held, all of it, until it ends.
    assert_eq!(Parser::new(11).push(b"data: 12345"), Ok(vec![]));
    assert_eq!(
        Parser::new(10).push(b"data: 12345"),
        Err(Error::LineTooLong { max: 10 })
    );
    // A byte-order mark does not count against the first line.
    assert_eq!(
        Parser::new(8).push(b"\xEF\xBB\xBFdata: 12\n\n"),
        Ok(vec![msg("12")])
    );
    // A stream that never ends a line fails early rather than growing without bound.
    let mut p = Parser::new(1024);
    let chunk = [b'a'; 1000];
    assert_eq!(p.push(&chunk), Ok(vec![]));
    assert_eq!(p.push(&chunk), Err(Error::LineTooLong { max: 1024 }));
    assert_eq!(
        Error::LineTooLong { max: 8 }.to_string(),
        "an event-stream line is longer than 8 bytes"
    );
}

#[test]
fn an_event_larger_than_the_limit_is_an_error() {
    let too_large = Err(Error::EventTooLarge { max: 10 });
    // The joined data counts: "12345\n1234" is exactly 10 bytes.
    assert_eq!(
        Parser::new(10).push(b"data:12345\ndata:1234\n\n"),
        Ok(vec![msg("12345\n1234")])
    );
    assert_eq!(Parser::new(10).push(b"data:12345\ndata:12345\n"), too_large);
    assert_eq!(
        Parser::new(10).push(b"data\n".repeat(11).as_slice()),
        Ok(vec![])
    );
    assert_eq!(
        Parser::new(10).push(b"data\n".repeat(12).as_slice()),
        too_large,
        "empty values still add their LFs"
    );
    // Across chunks: the error comes as soon as the event is too large.
    let mut p = Parser::new(10);
    assert_eq!(p.push(b"data:12345\n"), Ok(vec![]));
    assert_eq!(p.push(b"data:12345\n"), too_large);
    assert_eq!(p.push(b"\n"), too_large, "and sticks");
    // Each event is measured on its own.
    let mut p = Parser::new(10);
    for _ in 0..3 {
        assert_eq!(
            p.push(b"data:12345\ndata:1234\n\n"),
            Ok(vec![msg("12345\n1234")])
        );
    }
    assert_eq!(
        Error::EventTooLarge { max: 10 }.to_string(),
        "an event's data is larger than 10 bytes"
    );
}
