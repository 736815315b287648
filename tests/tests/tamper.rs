//! A relay that tampers with a session's stored events (docs/protocol.md §4.7): a flipped
//! ciphertext byte, a ciphertext sealed for another session, a changed type, a deleted event,
//! two events swapped. The relay's database is edited while it is stopped, as its operator
//! could; what a phone then reads shows each tampering as such and none of the content.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rusqlite::{Connection, params};
use serde_json::{Value, json};
use tether_e2e::browser::{Browser, Options};
use tether_e2e::process::{Hosted, Relay, free_port, reply_to};
use tether_e2e::seal::{Opener, key_of};
use tether_e2e::sse::{SseJson, read_head};
use tether_seal::{Direction, Sealer, sender_id};

/// The whole log of `session` as a phone replays it, read until the stream has been quiet.
fn replay(host: &str, cookie: &str, session: &str) -> Vec<Value> {
    let mut socket = TcpStream::connect(host).unwrap();
    write!(
        socket,
        "GET /v1/code/sessions/{session}/events/stream?from_seq=0 HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut r = BufReader::new(socket);
    let chunked = read_head(&mut r).unwrap();
    assert!(chunked, "the relay streams chunked");
    let mut parser = SseJson::default();
    let mut events = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).is_err() || line.is_empty() {
            break;
        }
        let size = usize::from_str_radix(line.trim(), 16).unwrap();
        let mut chunk = vec![0u8; size + 2];
        if r.read_exact(&mut chunk).is_err() {
            break;
        }
        events.extend(parser.feed(&chunk[..size]));
    }
    events
}

fn kind(e: &Value) -> &str {
    e["type"].as_str().unwrap_or("")
}

fn text(e: &Value) -> &str {
    e["payload"]["text"].as_str().unwrap_or("")
}

/// The stored event of `session` of type `kind` whose opened text is `said`: its seq.
fn seq_of(opened: &[Value], kind_: &str, said: &str) -> i64 {
    opened
        .iter()
        .find(|e| kind(e) == kind_ && text(e) == said)
        .unwrap_or_else(|| panic!("no {kind_} {said:?}"))["seq"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_shows_each_tampering_with_the_stored_events_and_none_of_their_content() {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut h = Hosted::new(&listen, &[]);
    let (mut remote, session) = h.remote(&[]);
    let key = key_of(&remote.url);
    let lines = ["one", "two", "three", "four", "five", "six"];
    for line in lines {
        remote.proc.line(line);
        remote
            .proc
            .expect_stdout(&format!("● {}\n", reply_to(line)));
    }
    std::thread::sleep(Duration::from_millis(500));
    let host = h.relay.host();
    let before: Vec<Value> = {
        let mut opener = Opener::new(&key, &session);
        replay(&host, &h.cookie, &session)
            .into_iter()
            .filter_map(|e| opener.open(e))
            .collect()
    };
    assert!(
        before
            .iter()
            .all(|e| e.get("order").is_none() && e["payload"].get("unverified").is_none()),
        "untouched, everything opens in order"
    );
    let seq = |kind: &str, said: &str| seq_of(&before, kind, said);
    let (one, two_reply) = (
        seq("user_message", "one"),
        seq("assistant_message", &reply_to("two")),
    );
    let (three, four_reply) = (
        seq("user_message", "three"),
        seq("assistant_message", &reply_to("four")),
    );
    let (five, six) = (seq("user_message", "five"), seq("user_message", "six"));

    remote.proc.signal("INT");
    remote.proc.wait_exit(Duration::from_secs(10));
    h.relay.proc.signal("TERM");
    h.relay.proc.wait_exit(Duration::from_secs(10));
    {
        let db = Connection::open(&h.db).unwrap();
        let payload = |seq: i64| -> Value {
            let text: String = db
                .query_row(
                    "SELECT payload FROM events WHERE session_id = ?1 AND seq = ?2",
                    params![session, seq],
                    |r| r.get(0),
                )
                .unwrap();
            serde_json::from_str(&text).unwrap()
        };
        let set_payload = |seq: i64, p: &Value| {
            db.execute(
                "UPDATE events SET payload = ?3 WHERE session_id = ?1 AND seq = ?2",
                params![session, seq, p.to_string()],
            )
            .unwrap();
        };
        // A flipped ciphertext byte.
        set_payload(one, &tether_e2e::seal::flipped(&payload(one)));
        // A reply sealed with this key, for another session (the id the relay stores stays).
        let id: String = db
            .query_row(
                "SELECT id FROM events WHERE session_id = ?1 AND seq = ?2",
                params![session, two_reply],
                |r| r.get(0),
            )
            .unwrap();
        let mut elsewhere = Sealer::new(
            &key,
            "session_00000000-0000-4000-8000-000000000000",
            Direction::Worker,
            sender_id("w_"),
        );
        let moved = elsewhere
            .seal(
                &id,
                "assistant_message",
                &json!({"message_id": "m", "text": "moved here"}),
            )
            .unwrap();
        set_payload(two_reply, &moved);
        // A changed type.
        db.execute(
            "UPDATE events SET type = 'command_output' WHERE session_id = ?1 AND seq = ?2",
            params![session, three],
        )
        .unwrap();
        // A deleted event.
        db.execute(
            "DELETE FROM events WHERE session_id = ?1 AND seq = ?2",
            params![session, four_reply],
        )
        .unwrap();
        // Two events swapped.
        for (from, to) in [(five, -1), (six, five), (-1, six)] {
            db.execute(
                "UPDATE events SET seq = ?3 WHERE session_id = ?1 AND seq = ?2",
                params![session, from, to],
            )
            .unwrap();
        }
    }
    let _relay = Relay::start(&h.t, &h.db, &listen, &[]);
    let mut opener = Opener::new(&key, &session);
    let after: Vec<Value> = replay(&host, &h.cookie, &session)
        .into_iter()
        .filter_map(|e| opener.open(e))
        .collect();
    let at = |seq: i64| after.iter().find(|e| e["seq"] == seq).cloned();
    let unverified =
        |seq: i64| at(seq).and_then(|e| e["payload"]["unverified"].as_str().map(str::to_owned));
    assert!(unverified(one).is_some(), "the flipped byte: {:?}", at(one));
    assert!(
        unverified(two_reply).is_some(),
        "the moved ciphertext: {:?}",
        at(two_reply)
    );
    assert!(
        unverified(three).is_some(),
        "the changed type: {:?}",
        at(three)
    );
    assert!(at(four_reply).is_none(), "deleted");
    let warned: Vec<(i64, String)> = after
        .iter()
        .filter_map(|e| Some((e["seq"].as_i64()?, e.get("order")?.as_str()?.to_owned())))
        .collect();
    assert!(
        warned
            .iter()
            .any(|(s, o)| *s > four_reply && o.starts_with("Gap")),
        "the deletion is a gap: {warned:?}"
    );
    let five_now = at(five).unwrap();
    let six_now = at(six).unwrap();
    assert_eq!(text(&five_now), "six");
    assert!(
        five_now["order"]
            .as_str()
            .is_some_and(|o| o.starts_with("Gap")),
        "swapped: six comes early, past what came between: {five_now}"
    );
    assert_eq!(text(&six_now), "five");
    assert_eq!(six_now["order"], json!("Late"), "and five late");
    assert!(
        !after
            .iter()
            .any(|e| kind(e) == "user_message" && text(e) == "one"),
        "the flipped message is shown"
    );
    let shown = serde_json::to_string(&after).unwrap();
    assert!(!shown.contains("moved here"), "the moved reply is shown");

    // And the page, opened with the key as the phone that scanned the code.
    let Some(b) = Browser::launch("tampered", Options::default()).await else {
        return;
    };
    b.use_cookie(&h.relay.url, &h.cookie).await;
    let fragment = remote.url.split_once('#').unwrap().1;
    b.goto(&format!("{}/code/{session}#{fragment}", h.relay.url))
        .await;
    let seen = b
        .wait_js(
            "the page caught up with the tampered log",
            "const m = [...document.querySelectorAll('#messages .msg')]; \
             const replies = m.filter(e => e.classList.contains('assistant') && e.textContent.includes('You said: six')); \
             if (!replies.length) return null; \
             return { unverified: m.filter(e => e.classList.contains('unverified')).length, \
               integrity: m.filter(e => e.classList.contains('integrity')).map(e => e.textContent), \
               users: m.filter(e => e.classList.contains('user')).map(e => e.textContent.trim()), \
               text: document.querySelector('#messages').textContent }",
            vec![],
        )
        .await;
    assert_eq!(seen["unverified"], 3, "{seen}");
    let integrity = seen["integrity"].as_array().unwrap();
    assert!(
        integrity.len() >= 3,
        "a gap for the deletion, a gap and a late one for the swap: {seen}"
    );
    assert!(
        integrity
            .iter()
            .all(|t| t.as_str().unwrap().contains("the relay")),
        "{seen}"
    );
    let users: Vec<&str> = seen["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !users.iter().any(|u| u.ends_with("one")),
        "the flipped message is shown: {seen}"
    );
    assert!(
        !seen["text"].as_str().unwrap().contains("moved here"),
        "{seen}"
    );
    b.close().await;
}
