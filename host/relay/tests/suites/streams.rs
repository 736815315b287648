//! The event streams end to end: SSE and WebSocket in both directions, resume, dedup,
//! retention, keepalives, worker presence, publishing rules, size limits, deletion, fan-out.

use std::collections::VecDeque;
use std::time::Duration;

use crate::common::*;
use crate::start_relay;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tether_protocol::api::{Published, SessionSummary};
use tether_protocol::{Event, NewEvent, Source};

const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing more arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn client_stream_path(s: &Setup, query: &str) -> String {
    format!("/v1/code/sessions/{}/events/stream{query}", s.session)
}

async fn client_sse(relay: &TestRelay, s: &Setup, query: &str, extra: &[(&str, &str)]) -> Sse {
    let auth = bearer(&s.access);
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    let sse = Sse::open(
        &relay.http,
        &relay.at(&client_stream_path(s, query)),
        &headers,
    )
    .await;
    assert_eq!(sse.status, StatusCode::OK, "client stream {query}");
    sse
}

async fn worker_sse(relay: &TestRelay, s: &Setup, query: &str) -> Sse {
    let sse = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/worker/events/stream{query}",
            s.session
        )),
        &[("authorization", &bearer(&s.grant.worker_jwt))],
    )
    .await;
    assert_eq!(sse.status, StatusCode::OK, "worker stream {query}");
    sse
}

/// The next event with its SSE `id:` field, skipping keepalives.
async fn next_with_id(sse: &mut Sse, wait: Duration) -> Option<(Option<String>, Event)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sse.next_frame(left).await? {
            Frame::Comment(_) => continue,
            Frame::Reconnect(_) => return None,
            frame @ Frame::Event { .. } => {
                let Frame::Event { id, .. } = &frame else {
                    unreachable!()
                };
                return Some((id.clone(), frame.event().unwrap()));
            }
        }
    }
}

/// The next event that is not a `worker_status` notice.
async fn next_non_status(sse: &mut Sse, wait: Duration) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = sse.next_event(left).await?;
        if e.kind != "worker_status" {
            return Some(e);
        }
    }
}

/// The next `worker_status` notice's `online`, skipping everything else.
async fn next_status(sse: &mut Sse, wait: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = sse.next_event(left).await?;
        if e.kind == "worker_status" {
            assert_eq!(e.source, Source::Relay, "{e:?}");
            return Some(e.payload["online"].as_bool().expect("online is a bool"));
        }
    }
}

/// Whether the stream ends (rather than keeps sending keepalives) within `wait`.
async fn sse_ends(sse: &mut Sse, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        if sse.next_frame(left).await.is_none() {
            return tokio::time::Instant::now() < deadline;
        }
    }
}

async fn published(response: reqwest::Response) -> Published {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn error_type(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["type"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
        .to_owned()
}

async fn get_session(relay: &TestRelay, s: &Setup) -> SessionSummary {
    let response = relay
        .get(&format!("/v1/code/sessions/{}", s.session))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Publish one client event and return its `seq`: a probe of how many events the log holds.
async fn marker_seq(relay: &TestRelay, s: &Setup) -> u64 {
    let p = published(
        relay
            .publish_client(&s.access, &s.session, &[user_message("marker")])
            .await,
    )
    .await;
    p.events[0].seq
}

async fn post_raw(relay: &TestRelay, token: &str, path: &str, body: String) -> reqwest::Response {
    relay
        .post(path)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A WebSocket peer: writes get their reply (`ack` or `error`) while events that arrive
/// meanwhile are kept for `event`.
struct Peer {
    ws: Ws,
    stash: VecDeque<Value>,
}

impl Peer {
    async fn connect(relay: &TestRelay, path: &str, token: &str) -> Peer {
        let ws = ws_connect(&relay.ws_url(path), &[("authorization", &bearer(token))])
            .await
            .unwrap_or_else(|e| panic!("ws {path}: {e}"));
        Peer {
            ws,
            stash: VecDeque::new(),
        }
    }

    /// The worker's socket of the setup's session.
    async fn worker(relay: &TestRelay, s: &Setup) -> Peer {
        let path = format!("/v1/code/sessions/{}/worker/ws", s.session);
        Peer::connect(relay, &path, &s.grant.worker_jwt).await
    }

    /// A client's socket of the setup's session.
    async fn client(relay: &TestRelay, s: &Setup) -> Peer {
        let path = format!("/v1/code/sessions/{}/ws", s.session);
        Peer::connect(relay, &path, &s.access).await
    }

    async fn write(&mut self, body: &Value) -> Value {
        ws_send(&mut self.ws, body).await;
        loop {
            let v = ws_next(&mut self.ws, WAIT)
                .await
                .expect("a reply to the write");
            if v.get("ack").is_some() || v.get("error").is_some() {
                return v;
            }
            self.stash.push_back(v);
        }
    }

    async fn ack(&mut self, body: &Value) -> Published {
        let reply = self.write(body).await;
        serde_json::from_value(reply["ack"].clone())
            .unwrap_or_else(|_| panic!("not an ack: {reply}"))
    }

    async fn event(&mut self, wait: Duration) -> Option<Event> {
        let v = match self.stash.pop_front() {
            Some(v) => v,
            None => ws_next(&mut self.ws, wait).await?,
        };
        assert!(v.get("seq").is_some(), "expected an event, got {v}");
        Some(serde_json::from_value(v).unwrap())
    }

    async fn next_non_status(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.event(left).await?;
            if e.kind != "worker_status" {
                return Some(e);
            }
        }
    }
}

/// `Some(code)` when the socket closes within `wait` (`None` inside when it closed without a
/// close frame); `None` when it is still open.
async fn ws_closed(ws: &mut Ws, wait: Duration) -> Option<Option<u16>> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(None) => return Some(None),
            Ok(Some(Err(e))) => {
                eprintln!("ws error: {e:?}");
                return Some(None);
            }
            Ok(Some(Ok(Message::Close(frame)))) => return Some(frame.map(|f| u16::from(f.code))),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

// --- SSE and WebSocket in both directions --------------------------------------------------

#[tokio::test]
async fn sse_carries_client_events_to_the_worker_and_worker_events_to_clients() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut worker = worker_sse(&relay, &s, "").await;
    let mut client = client_sse(&relay, &s, "", &[]).await;

    // Client → worker, payload untouched, SSE id = seq.
    let said = event(
        "user_message",
        json!({"text": "hi ü \"quoted\"\nline", "origin": "phone", "extra": {"n": [1, 2.5, null, true]}}),
    );
    let p = published(
        relay
            .publish_client(&s.access, &s.session, std::slice::from_ref(&said))
            .await,
    )
    .await;
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].id, said.id);
    assert!(!p.events[0].duplicate);
    let (sse_id, got) = next_with_id(&mut worker, WAIT)
        .await
        .expect("the worker hears it");
    assert_eq!(got.kind, "user_message");
    assert_eq!(got.id, said.id);
    assert_eq!(got.source, Source::Client);
    assert_eq!(got.payload, said.payload);
    assert_eq!(got.seq, p.events[0].seq);
    assert_eq!(sse_id.as_deref(), Some(got.seq.to_string().as_str()));

    // Worker → client, in order.
    let out = vec![
        event(
            "assistant_delta",
            json!({"message_id": "m1", "text": "Hel"}),
        ),
        event("assistant_delta", json!({"message_id": "m1", "text": "lo"})),
        event(
            "assistant_message",
            json!({"message_id": "m1", "text": "Hello", "usage": {"input_tokens": 3, "output_tokens": 2}}),
        ),
    ];
    let p = published(relay.publish_worker(&s.grant, &s.session, &out).await).await;
    let seqs: Vec<u64> = p.events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // The client sees its own message, then the worker's three, with increasing seqs.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let (sse_id, e) = next_with_id(&mut client, WAIT)
            .await
            .expect("client events");
        assert_eq!(sse_id.as_deref(), Some(e.seq.to_string().as_str()));
        if e.kind != "worker_status" {
            seen.push(e);
        }
    }
    assert_eq!(seen[0].id, said.id);
    assert_eq!(seen[0].payload, said.payload);
    for (e, sent) in seen[1..].iter().zip(&out) {
        assert_eq!(e.id, sent.id);
        assert_eq!(e.kind, sent.kind);
        assert_eq!(e.source, Source::Worker);
        assert_eq!(e.payload, sent.payload, "payload altered");
        assert!(
            e.created_at.len() >= 20 && e.created_at.ends_with('Z'),
            "created_at {:?}",
            e.created_at
        );
    }
    let got: Vec<u64> = seen[1..].iter().map(|e| e.seq).collect();
    assert_eq!(got, seqs);
    assert!(seen[0].seq < seqs[0]);

    // The worker does not get its own output echoed: its next event is the next client one.
    let again = user_message("second");
    relay
        .publish_client(&s.access, &s.session, std::slice::from_ref(&again))
        .await;
    let next = worker.next_event(WAIT).await.unwrap();
    assert_eq!(next.id, again.id, "worker stream carried {next:?}");
}

#[tokio::test]
async fn websockets_carry_writes_and_events_both_ways() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut worker = Peer::worker(&relay, &s).await;
    let mut client = Peer::client(&relay, &s).await;
    let mut sse = client_sse(&relay, &s, "", &[]).await;

    // WS client → WS worker.
    let said = user_message("over the socket");
    let ack = client.ack(&json!({"events": [said]})).await;
    assert_eq!(ack.events.len(), 1);
    assert_eq!(ack.events[0].id, said.id);
    assert!(!ack.events[0].duplicate);
    let got = worker
        .event(WAIT)
        .await
        .expect("the worker hears the client");
    assert_eq!(got.id, said.id);
    assert_eq!(got.seq, ack.events[0].seq);
    assert_eq!(got.source, Source::Client);
    assert_eq!(got.payload, said.payload);

    // WS worker → WS client and SSE client.
    let reply = event(
        "assistant_message",
        json!({"message_id": "m", "text": "answer", "usage": {"input_tokens": 1, "output_tokens": 1}}),
    );
    let ack2 = worker
        .ack(&json!({"worker_epoch": s.grant.worker_epoch, "events": [reply]}))
        .await;
    assert_eq!(ack2.events[0].id, reply.id);
    assert!(ack2.events[0].seq > ack.events[0].seq);

    let mut on_ws = Vec::new();
    while on_ws.len() < 2 {
        on_ws.push(
            client
                .next_non_status(WAIT)
                .await
                .expect("client ws events"),
        );
    }
    assert_eq!(on_ws[0].id, said.id);
    assert_eq!(on_ws[1].id, reply.id);
    assert_eq!(on_ws[1].seq, ack2.events[0].seq);
    assert_eq!(on_ws[1].source, Source::Worker);
    assert_eq!(on_ws[1].payload, reply.payload);

    let first = next_non_status(&mut sse, WAIT).await.unwrap();
    let second = next_non_status(&mut sse, WAIT).await.unwrap();
    assert_eq!((first.id, first.seq), (said.id.clone(), ack.events[0].seq));
    assert_eq!(
        (second.id, second.seq),
        (reply.id.clone(), ack2.events[0].seq)
    );

    // A retried WS write is deduplicated like a POST.
    let retry = client.ack(&json!({"events": [said]})).await;
    assert!(retry.events[0].duplicate);
    assert_eq!(retry.events[0].seq, ack.events[0].seq);
    // And the worker did not get its own message echoed, nor the retry twice.
    assert!(worker.event(QUIET).await.is_none());
}

/// Send `frames` in one flush, as a writer that does not wait for its acks does.
async fn pipeline(ws: &mut Ws, frames: Vec<tokio_tungstenite::tungstenite::Message>) {
    use futures::SinkExt;
    for frame in frames {
        ws.feed(frame).await.unwrap();
    }
    ws.flush().await.unwrap();
}

#[tokio::test]
async fn pipelined_websocket_writes_share_a_commit_and_are_answered_in_order() {
    use tokio_tungstenite::tungstenite::Message;
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut client = Peer::client(&relay, &s).await;
    let writes_before = relay.metric("tether_relay_store_writes_total").await;
    const N: usize = 40;
    let sent: Vec<NewEvent> = (0..N)
        .map(|i| user_message(&format!("pipelined {i}")))
        .collect();
    let mut frames: Vec<Message> = sent
        .iter()
        .map(|e| Message::Text(json!({"events": [e]}).to_string().into()))
        .collect();
    // Refused frames among them are answered at their place, and do not stop the others.
    frames.insert(10, Message::Binary(vec![1, 2, 3].into()));
    frames.insert(20, Message::Text("{not json".into()));
    // A repeat of an earlier frame's event, in the same read-ahead, is that event.
    frames.insert(
        30,
        Message::Text(json!({"events": [sent[0]]}).to_string().into()),
    );
    pipeline(&mut client.ws, frames).await;

    let mut replies = Vec::new();
    while replies.len() < N + 3 {
        let v = ws_next(&mut client.ws, WAIT)
            .await
            .expect("a reply per frame");
        if v.get("ack").is_some() || v.get("error").is_some() {
            replies.push(v);
        }
    }
    assert_eq!(
        replies[10]["error"]["type"], "invalid_request",
        "{}",
        replies[10]
    );
    assert_eq!(
        replies[20]["error"]["type"], "invalid_request",
        "{}",
        replies[20]
    );
    let repeat: Published = serde_json::from_value(replies[30]["ack"].clone()).unwrap();
    let acks: Vec<Published> = replies
        .iter()
        .enumerate()
        .filter(|(i, _)| ![10, 20, 30].contains(i))
        .map(|(_, v)| serde_json::from_value(v["ack"].clone()).unwrap_or_else(|_| panic!("{v}")))
        .collect();
    assert_eq!(acks.len(), N);
    for (ack, event) in acks.iter().zip(&sent) {
        assert_eq!(ack.events.len(), 1);
        assert_eq!(ack.events[0].id, event.id);
        assert!(!ack.events[0].duplicate);
    }
    assert!(
        acks.windows(2)
            .all(|w| w[1].events[0].seq == w[0].events[0].seq + 1),
        "one seq after the other, in the order sent"
    );
    assert!(repeat.events[0].duplicate);
    assert_eq!(repeat.events[0].seq, acks[0].events[0].seq);

    // The log has each event once, in the order sent.
    let mut sse = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let mut stored = Vec::new();
    while stored.len() < N {
        stored.push(
            next_non_status(&mut sse, WAIT)
                .await
                .expect("the stored events"),
        );
    }
    let ids: Vec<&str> = stored.iter().map(|e| e.id.as_str()).collect();
    let want: Vec<&str> = sent.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, want);
    assert!(next_non_status(&mut sse, QUIET).await.is_none());

    // Frames that had arrived together went into the store together, not one write each.
    let writes = relay.metric("tether_relay_store_writes_total").await - writes_before;
    assert!(
        writes <= N as u64 / 4,
        "{N} pipelined frames took {writes} store writes"
    );
}

#[tokio::test]
async fn writes_that_ask_no_ack_are_answered_only_when_refused_and_the_refusal_names_them() {
    use tokio_tungstenite::tungstenite::Message;
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut client = Peer::client(&relay, &s).await;
    let quiet = user_message("no ack asked");
    let forbidden = event(
        "assistant_message",
        json!({"text": "not a client's to send"}),
    );
    let also_quiet = user_message("no ack either");
    let asked = user_message("ack asked");
    let unasked =
        |e: &NewEvent| Message::Text(json!({"events": [e], "ack": false}).to_string().into());
    pipeline(
        &mut client.ws,
        vec![
            unasked(&quiet),
            unasked(&forbidden),
            unasked(&also_quiet),
            // A repeat asks nothing either: it is stored, so it is not answered.
            unasked(&quiet),
            Message::Binary(vec![0].into()),
            Message::Text(json!({"events": [asked]}).to_string().into()),
        ],
    )
    .await;
    let mut replies = Vec::new();
    let mut events = Vec::new();
    while events.len() < 3
        || replies
            .last()
            .is_none_or(|r: &Value| r.get("ack").is_none())
    {
        let v = ws_next(&mut client.ws, WAIT)
            .await
            .unwrap_or_else(|| panic!("replies {replies:?}, events {events:?}"));
        if v.get("ack").is_some() || v.get("error").is_some() {
            replies.push(v);
        } else if v["type"] != "worker_status" {
            events.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(replies[0]["error"]["type"], "forbidden", "{}", replies[0]);
    assert_eq!(replies[0]["ids"], json!([forbidden.id]));
    assert_eq!(
        replies[1]["error"]["type"], "invalid_request",
        "{}",
        replies[1]
    );
    assert!(
        replies[1].get("ids").is_none(),
        "a binary frame names nothing"
    );
    let ack: Published = serde_json::from_value(replies[2]["ack"].clone()).unwrap();
    assert_eq!(ack.events[0].id, asked.id);
    // What was stored without an ack comes back on the writer's own stream: how it learns.
    assert_eq!(events, [&*quiet.id, &also_quiet.id, &asked.id]);
    assert!(
        ws_next(&mut client.ws, QUIET).await.is_none(),
        "nothing more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_opened_while_the_sweep_evicts_still_hear_their_session() {
    // A sweep every millisecond evicts every live state nobody has subscribed to yet: also
    // one just loaded for a stream being opened, before the stream subscribes.
    let relay = start_relay!(|c| {
        c.liveness.sweep_interval = Duration::from_millis(1);
        c.limits.max_streams_per_account = 1_000;
    });
    let s = relay.setup("alice").await;
    const SESSIONS: usize = 60;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        sessions.push(relay.create_session(&s.access).await.id);
    }
    for round in 0..3 {
        // Opened all at once, on sessions whose live state is not loaded (or was evicted).
        let streams = futures::future::join_all(sessions.iter().map(|id| {
            let (relay, access) = (&relay, &s.access);
            async move {
                Sse::open(
                    &http_client(),
                    &relay.at(&format!("/v1/code/sessions/{id}/events/stream")),
                    &[("authorization", &bearer(access))],
                )
                .await
            }
        }))
        .await;
        let text = format!("round {round}");
        for id in &sessions {
            let response = relay
                .post(&format!("/v1/code/sessions/{id}/events"))
                .bearer_auth(&s.access)
                .json(&json!({"events": [user_message(&text)]}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        for (mut stream, id) in streams.into_iter().zip(&sessions) {
            // Earlier rounds' messages come first (a stream starts with the log).
            loop {
                let got = next_non_status(&mut stream, WAIT).await;
                let got = got.unwrap_or_else(|| panic!("{id} heard nothing new (round {round})"));
                if got.payload["text"] == text.as_str() {
                    break;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_stale_write_among_pipelined_ones_ends_the_socket_and_nothing_after_it_is_stored() {
    use tokio_tungstenite::tungstenite::Message;
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut worker = Peer::worker(&relay, &s).await;
    let epoch = s.grant.worker_epoch;
    let before = event(
        "assistant_message",
        json!({"message_id": "a", "text": "before"}),
    );
    let after = event(
        "assistant_message",
        json!({"message_id": "c", "text": "after"}),
    );
    // None asks for an ack but the first: a refusal is answered all the same.
    let write = |e: &NewEvent, epoch: u64, ack: bool| {
        Message::Text(
            json!({"worker_epoch": epoch, "events": [e], "ack": ack})
                .to_string()
                .into(),
        )
    };
    let stale = event(
        "assistant_message",
        json!({"message_id": "b", "text": "stale"}),
    );
    pipeline(
        &mut worker.ws,
        vec![
            write(&before, epoch, true),
            write(&stale, epoch + 7, false),
            write(&after, epoch, false),
        ],
    )
    .await;
    let first = ws_next(&mut worker.ws, WAIT).await.unwrap();
    let ack: Published = serde_json::from_value(first["ack"].clone())
        .unwrap_or_else(|_| panic!("not an ack: {first}"));
    assert_eq!(ack.events[0].id, before.id);
    let second = ws_next(&mut worker.ws, WAIT).await.unwrap();
    assert_eq!(second["error"]["type"], "stale_epoch", "{second}");
    assert_eq!(
        second["ids"],
        json!([stale.id]),
        "the refusal names its write"
    );
    assert_eq!(ws_closed(&mut worker.ws, WAIT).await, Some(Some(4409)));

    let mut sse = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let got = next_non_status(&mut sse, WAIT)
        .await
        .expect("the first write");
    assert_eq!(got.id, before.id);
    assert!(
        next_non_status(&mut sse, QUIET).await.is_none(),
        "nothing after the stale write"
    );
}

// --- resume ---------------------------------------------------------------------------------

async fn publish_n(relay: &TestRelay, s: &Setup, n: usize, tag: &str) -> Vec<NewEvent> {
    let mut sent = Vec::new();
    for i in 0..n {
        let e = user_message(&format!("{tag} {i}"));
        published(
            relay
                .publish_client(&s.access, &s.session, std::slice::from_ref(&e))
                .await,
        )
        .await;
        sent.push(e);
    }
    sent
}

/// Reads three events, disconnects, misses four, reconnects with `resume` built from the last
/// seq seen, and checks exactly the four missed arrive, once, then live ones.
async fn resume_after_disconnect(resume: impl Fn(u64) -> (String, Vec<(String, String)>)) {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let first = publish_n(&relay, &s, 3, "before").await;
    let mut sse = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let mut last = 0;
    for sent in &first {
        let e = sse.next_event(WAIT).await.unwrap();
        assert_eq!(e.id, sent.id);
        last = e.seq;
    }
    drop(sse);
    let missed = publish_n(&relay, &s, 4, "missed").await;

    let (query, headers) = resume(last);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut sse = client_sse(&relay, &s, &query, &headers).await;
    for sent in &missed {
        let e = sse.next_event(WAIT).await.expect("a missed event");
        assert_eq!(e.id, sent.id, "in order, nothing before");
        assert_eq!(e.seq, last + 1);
        last = e.seq;
    }
    assert!(
        sse.next_event(QUIET).await.is_none(),
        "the missed events came once"
    );
    let live = publish_n(&relay, &s, 1, "live").await;
    let e = sse.next_event(WAIT).await.expect("then live events");
    assert_eq!(e.id, live[0].id);
    assert_eq!(e.seq, last + 1);
}

#[tokio::test]
async fn resume_with_last_event_id_gets_exactly_the_missed_events() {
    resume_after_disconnect(|last| {
        (
            // Last-Event-ID wins over a stale from_seq.
            "?from_seq=0".to_owned(),
            vec![("last-event-id".to_owned(), last.to_string())],
        )
    })
    .await;
}

#[tokio::test]
async fn resume_with_from_seq_gets_exactly_the_missed_events() {
    resume_after_disconnect(|last| (format!("?from_seq={last}"), Vec::new())).await;
}

#[tokio::test]
async fn from_seq_beyond_the_head_starts_at_the_head() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    publish_n(&relay, &s, 3, "old").await;
    let mut sse = client_sse(&relay, &s, "?from_seq=1000", &[]).await;
    assert!(
        sse.next_event(QUIET).await.is_none(),
        "nothing old replayed"
    );
    let live = publish_n(&relay, &s, 1, "new").await;
    let e = sse.next_event(WAIT).await.expect("live events still come");
    assert_eq!(e.id, live[0].id);
    assert_eq!(e.seq, 4);
    // A worker stream from the future works the same.
    let mut w = worker_sse(&relay, &s, "?from_seq=1000").await;
    let live = publish_n(&relay, &s, 1, "newer").await;
    let e = w
        .next_event(WAIT)
        .await
        .expect("the worker gets live events");
    assert_eq!(e.id, live[0].id);
    // A Last-Event-ID that is not a number is refused rather than misread.
    let bad = Sse::open(
        &relay.http,
        &relay.at(&client_stream_path(&s, "")),
        &[
            ("authorization", &bearer(&s.access)),
            ("last-event-id", "abc"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

// --- dedup ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_retried_batch_is_answered_with_the_same_seqs_and_stored_once() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let batch = vec![user_message("one"), user_message("two")];
    let first = published(relay.publish_client(&s.access, &s.session, &batch).await).await;
    assert!(first.events.iter().all(|e| !e.duplicate));
    let again = published(relay.publish_client(&s.access, &s.session, &batch).await).await;
    assert!(again.events.iter().all(|e| e.duplicate), "{again:?}");
    let seqs = |p: &Published| {
        p.events
            .iter()
            .map(|e| (e.id.clone(), e.seq))
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&first), seqs(&again));

    // The worker's retries too.
    let out = vec![event(
        "assistant_delta",
        json!({"message_id": "m", "text": "x"}),
    )];
    let w1 = published(relay.publish_worker(&s.grant, &s.session, &out).await).await;
    let w2 = published(relay.publish_worker(&s.grant, &s.session, &out).await).await;
    assert!(!w1.events[0].duplicate && w2.events[0].duplicate);
    assert_eq!(w1.events[0].seq, w2.events[0].seq);

    let mut sse = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let mut ids = Vec::new();
    while let Some(e) = next_non_status(&mut sse, QUIET).await {
        ids.push(e.id);
    }
    assert_eq!(
        ids,
        vec![batch[0].id.clone(), batch[1].id.clone(), out[0].id.clone()]
    );
}

#[tokio::test]
async fn duplicate_ids_within_one_batch_are_stored_once() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let a = user_message("a");
    let b = user_message("b");
    let p = published(
        relay
            .publish_client(&s.access, &s.session, &[a.clone(), a.clone(), b.clone()])
            .await,
    )
    .await;
    let got: Vec<(String, u64, bool)> = p
        .events
        .iter()
        .map(|e| (e.id.clone(), e.seq, e.duplicate))
        .collect();
    assert_eq!(
        got,
        vec![
            (a.id.clone(), 1, false),
            (a.id.clone(), 1, true),
            (b.id.clone(), 2, false)
        ]
    );
    let mut sse = client_sse(&relay, &s, "", &[]).await;
    let ids: Vec<String> = sse.drain(QUIET).await.into_iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![a.id, b.id]);
}

#[tokio::test]
async fn one_uuid_in_other_spellings_is_one_event() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let canonical = uuid::Uuid::new_v4().hyphenated().to_string();
    let spelled = |id: String| NewEvent {
        id,
        ..user_message("once")
    };
    let first = published(
        relay
            .publish_client(&s.access, &s.session, &[spelled(canonical.to_uppercase())])
            .await,
    )
    .await;
    assert_eq!(
        first.events[0].id, canonical,
        "stored and answered canonically"
    );
    assert!(!first.events[0].duplicate);
    for other in [
        canonical.clone(),
        format!("{{{canonical}}}"),
        format!("urn:uuid:{canonical}"),
        canonical.replace('-', ""),
    ] {
        let again = published(
            relay
                .publish_client(&s.access, &s.session, &[spelled(other.clone())])
                .await,
        )
        .await;
        assert!(again.events[0].duplicate, "{other}");
        assert_eq!(again.events[0].seq, first.events[0].seq, "{other}");
    }
    // Over the WebSocket too.
    let path = format!("/v1/code/sessions/{}/ws", s.session);
    let mut client = Peer::connect(&relay, &path, &s.access).await;
    let ack = client
        .ack(&json!({"events": [spelled(format!("{{{}}}", canonical.to_uppercase()))]}))
        .await;
    assert!(ack.events[0].duplicate);
    let mut sse = client_sse(&relay, &s, "", &[]).await;
    let ids: Vec<String> = sse
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|e| e.kind == "user_message")
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![canonical]);
}

// --- retention ------------------------------------------------------------------------------

fn assert_truncated_then(events: &[Event], oldest: u64, rest: &[u64]) {
    let first = events.first().expect("some events");
    assert_eq!(first.kind, "catch_up_truncated", "{events:?}");
    assert_eq!(first.source, Source::Relay);
    assert_eq!(first.seq, oldest - 1);
    assert_eq!(first.payload, json!({"oldest_seq": oldest}));
    let seqs: Vec<u64> = events[1..].iter().map(|e| e.seq).collect();
    assert_eq!(seqs, rest);
}

#[tokio::test]
async fn a_reader_behind_retention_gets_catch_up_truncated_first() {
    let relay = start_relay!(|c| c.limits.retain_events = 5);
    let s = relay.setup("alice").await;
    publish_n(&relay, &s, 20, "e").await;
    let mut sse = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let got = sse.drain(QUIET).await;
    assert_truncated_then(&got, 16, &[16, 17, 18, 19, 20]);
    // Resuming from inside the kept window needs no notice.
    let mut sse = client_sse(&relay, &s, "?from_seq=17", &[]).await;
    let seqs: Vec<u64> = sse.drain(QUIET).await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [18, 19, 20]);
}

#[tokio::test]
async fn catch_up_truncated_also_when_the_session_was_being_watched() {
    // A stream open while the events arrive keeps the session live in memory; a new reader
    // from before the kept window must still be told what it missed.
    let relay = start_relay!(|c| c.limits.retain_events = 5);
    let s = relay.setup("alice").await;
    let mut watcher = client_sse(&relay, &s, "", &[]).await;
    publish_n(&relay, &s, 20, "e").await;
    let seen: Vec<u64> = watcher.drain(QUIET).await.iter().map(|e| e.seq).collect();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<_>>(),
        "the live reader saw everything"
    );
    let mut late = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let got = late.drain(QUIET).await;
    assert_truncated_then(&got, 16, &[16, 17, 18, 19, 20]);
    // The worker stream carries the notice too (worker_status is not for it).
    let mut w = worker_sse(&relay, &s, "?from_seq=0").await; // publishes worker_status = seq 21
    let got = w.drain(QUIET).await;
    assert_truncated_then(&got, 17, &[17, 18, 19, 20]);
}

// --- keepalive ------------------------------------------------------------------------------

#[tokio::test]
async fn an_idle_sse_stream_gets_keepalive_comments() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut sse = client_sse(&relay, &s, "", &[]).await;
    let frame = sse.next_frame(Duration::from_secs(1)).await;
    assert_eq!(frame, Some(Frame::Comment("keepalive".into())));
    let mut w = worker_sse(&relay, &s, "").await;
    let frame = w.next_frame(Duration::from_secs(1)).await;
    assert_eq!(frame, Some(Frame::Comment("keepalive".into())));
}

#[tokio::test]
async fn an_idle_websocket_gets_pings() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut ws = ws_connect(
        &relay.ws_url(&format!("/v1/code/sessions/{}/ws", s.session)),
        &[("authorization", &bearer(&s.access))],
    )
    .await
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(1), ws.next())
        .await
        .expect("something within a second")
        .unwrap()
        .unwrap();
    assert!(matches!(got, Message::Ping(_)), "{got:?}");
}

// --- worker presence ------------------------------------------------------------------------

#[tokio::test]
async fn worker_status_follows_streams_timeouts_and_heartbeats() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut client = client_sse(&relay, &s, "", &[]).await;
    assert!(
        !get_session(&relay, &s).await.worker_online,
        "no worker yet"
    );

    let worker = worker_sse(&relay, &s, "").await;
    assert_eq!(next_status(&mut client, WAIT).await, Some(true));
    assert!(get_session(&relay, &s).await.worker_online);

    drop(worker);
    // Not at once: a reconnecting worker must not flap the status.
    assert_eq!(
        next_status(&mut client, Duration::from_millis(500)).await,
        None
    );
    assert!(get_session(&relay, &s).await.worker_online);
    assert_eq!(
        next_status(&mut client, Duration::from_secs(3)).await,
        Some(false)
    );
    assert!(!get_session(&relay, &s).await.worker_online);

    let hb = relay
        .post(&format!("/v1/code/sessions/{}/worker/heartbeat", s.session))
        .bearer_auth(&s.grant.worker_jwt)
        .json(&json!({"worker_epoch": s.grant.worker_epoch}))
        .send()
        .await
        .unwrap();
    assert_eq!(hb.status(), StatusCode::NO_CONTENT);
    assert_eq!(next_status(&mut client, WAIT).await, Some(true));
    assert!(get_session(&relay, &s).await.worker_online);
    // Announced once per transition.
    assert_eq!(
        next_status(&mut client, Duration::from_millis(300)).await,
        None
    );
}

// --- worker state ---------------------------------------------------------------------------

async fn put_state(relay: &TestRelay, s: &Setup, body: Value) -> reqwest::Response {
    relay
        .http
        .put(relay.at(&format!("/v1/code/sessions/{}/worker", s.session)))
        .bearer_auth(&s.grant.worker_jwt)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn put_worker_state_publishes_session_state() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut client = client_sse(&relay, &s, "", &[]).await;
    assert_eq!(get_session(&relay, &s).await.state.as_str(), "idle");
    let r = put_state(
        &relay,
        &s,
        json!({"worker_epoch": s.grant.worker_epoch, "state": "running", "details": {"tool": "bash"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let e = next_non_status(&mut client, WAIT).await.unwrap();
    assert_eq!(e.kind, "session_state");
    assert_eq!(e.source, Source::Worker);
    assert_eq!(
        e.payload,
        json!({"state": "running", "details": {"tool": "bash"}})
    );
    assert_eq!(get_session(&relay, &s).await.state.as_str(), "running");

    let r = put_state(
        &relay,
        &s,
        json!({"worker_epoch": s.grant.worker_epoch, "state": "sleeping"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_type(r).await, "invalid_request");
    assert_eq!(get_session(&relay, &s).await.state.as_str(), "running");
    assert!(
        next_non_status(&mut client, QUIET).await.is_none(),
        "nothing published"
    );
}

// --- who may publish what -------------------------------------------------------------------

#[tokio::test]
async fn clients_may_publish_only_messages_and_control_events() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    for kind in [
        "assistant_delta",
        "assistant_message",
        "worker_status",
        "system_init",
        "session_state",
        "catch_up_truncated",
        "some_future_type",
    ] {
        let r = relay
            .publish_client(&s.access, &s.session, &[event(kind, json!({}))])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "client {kind}");
        assert_eq!(error_type(r).await, "forbidden");
    }
    assert_eq!(
        marker_seq(&relay, &s).await,
        1,
        "nothing refused was stored"
    );
    let allowed = vec![
        user_message("hello"),
        event(
            "control_request",
            json!({"request_id": "r1", "subtype": "interrupt"}),
        ),
        event(
            "control_response",
            json!({"request_id": "r2", "response": {"behavior": "allow"}}),
        ),
    ];
    let p = published(relay.publish_client(&s.access, &s.session, &allowed).await).await;
    assert_eq!(
        p.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 3, 4]
    );
}

#[tokio::test]
async fn a_mixed_batch_with_one_forbidden_event_stores_none() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut worker = worker_sse(&relay, &s, "").await;
    let good = user_message("fine");
    let bad = event(
        "assistant_delta",
        json!({"message_id": "m", "text": "forged"}),
    );
    let r = relay
        .publish_client(
            &s.access,
            &s.session,
            &[good.clone(), bad.clone(), user_message("after")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        worker.next_event(QUIET).await.is_none(),
        "nothing reached the worker"
    );

    // The same over a client WebSocket.
    let mut client = Peer::client(&relay, &s).await;
    let reply = client.write(&json!({"events": [good, bad]})).await;
    assert_eq!(reply["error"]["type"], "forbidden", "{reply}");

    // The good event was not stored either: publishing it now is not a duplicate, and the
    // only event before it is the worker_status of the stream above.
    let p = published(
        relay
            .publish_client(&s.access, &s.session, std::slice::from_ref(&good))
            .await,
    )
    .await;
    assert!(!p.events[0].duplicate);
    assert_eq!(p.events[0].seq, 2);
    let mut all = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let kinds: Vec<String> = all.drain(QUIET).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["worker_status", "user_message"]);
}

#[tokio::test]
async fn workers_may_not_publish_relay_notices() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    for kind in ["worker_status", "catch_up_truncated"] {
        let r = relay
            .publish_worker(
                &s.grant,
                &s.session,
                &[event(kind, json!({"online": false, "oldest_seq": 1}))],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "worker {kind}");
        assert_eq!(error_type(r).await, "forbidden");
    }
    // Refused requests do not even mark the worker online.
    assert_eq!(marker_seq(&relay, &s).await, 1);
    // Nor over the worker's WebSocket.
    let mut w = Peer::worker(&relay, &s).await;
    let reply = w
        .write(&json!({"worker_epoch": s.grant.worker_epoch, "events": [event("worker_status", json!({"online": false}))]}))
        .await;
    assert_eq!(reply["error"]["type"], "forbidden", "{reply}");
    let mut all = client_sse(&relay, &s, "?from_seq=0", &[]).await;
    let got = all.drain(QUIET).await;
    let forged: Vec<&Event> = got
        .iter()
        .filter(|e| {
            e.kind == "catch_up_truncated"
                || (e.kind == "worker_status" && e.source != Source::Relay)
        })
        .collect();
    assert!(forged.is_empty(), "{forged:?}");
    assert!(
        got.iter()
            .all(|e| e.payload.get("online") != Some(&json!(false))),
        "{got:?}"
    );
}

#[tokio::test]
async fn unknown_event_types_from_the_worker_pass_through() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut client = client_sse(&relay, &s, "", &[]).await;
    let future = event(
        "some_future_type_v2",
        json!({"anything": {"deep": [1, {"x": "y"}]}, "unknown_field": true}),
    );
    published(
        relay
            .publish_worker(&s.grant, &s.session, std::slice::from_ref(&future))
            .await,
    )
    .await;
    let e = next_non_status(&mut client, WAIT).await.unwrap();
    assert_eq!(e.kind, future.kind);
    assert_eq!(e.id, future.id);
    assert_eq!(e.payload, future.payload);
    assert_eq!(e.source, Source::Worker);
}

// --- malformed events -----------------------------------------------------------------------

#[tokio::test]
async fn malformed_events_are_refused_with_400() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let path = format!("/v1/code/sessions/{}/events", s.session);
    let id = || uuid::Uuid::new_v4().to_string();
    let bad_bodies = [
        json!({"events": [{"id": "not-a-uuid", "type": "user_message", "payload": {}}]}),
        json!({"events": [{"id": id(), "type": "User Message", "payload": {}}]}),
        json!({"events": [{"id": id(), "type": "", "payload": {}}]}),
        json!({"events": [{"id": id(), "type": "user_message", "payload": "text"}]}),
        json!({"events": [{"id": id(), "type": "user_message", "payload": [1, 2]}]}),
        json!({"events": [{"id": id(), "type": "user_message"}]}), // payload missing = null
        json!({"events": [{"type": "user_message", "payload": {}}]}),
        json!({"events": "nope"}),
        json!({}),
    ];
    for body in bad_bodies {
        let r = post_raw(&relay, &s.access, &path, body.to_string()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_type(r).await, "invalid_request", "{body}");
    }
    let r = post_raw(&relay, &s.access, &path, "{\"events\": [".into()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "truncated JSON");
    // The worker's endpoint applies the same rules.
    let r = relay
        .publish_worker(
            &s.grant,
            &s.session,
            &[NewEvent {
                id: "123".into(),
                kind: "assistant_delta".into(),
                payload: json!({}),
            }],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = relay
        .publish_worker(&s.grant, &s.session, &[event("Bad-Type", json!({}))])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = relay
        .publish_worker(&s.grant, &s.session, &[event("assistant_delta", json!(42))])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        marker_seq(&relay, &s).await,
        1,
        "nothing malformed was stored"
    );
}

// --- size limits ----------------------------------------------------------------------------

const MAX_BODY: usize = 8 * 1024;
const MAX_EVENT: usize = 1024;
const MAX_BATCH: usize = 4;

async fn limited() -> Option<(TestRelay, Setup)> {
    let relay = start_relay!(|c| {
        c.limits.max_body = MAX_BODY;
        c.limits.max_event = MAX_EVENT;
        c.limits.max_batch = MAX_BATCH;
    });
    let s = relay.setup("alice").await;
    Some((relay, s))
}

#[tokio::test]
async fn oversized_bodies_events_and_batches_get_413() {
    let Some((relay, s)) = limited().await else {
        return;
    };
    // A body over max_body whose one event is small: only the body limit is broken (unknown
    // fields are ignored, so the padding would otherwise be fine).
    let big_body = json!({"events": [user_message("small")], "padding": "x".repeat(MAX_BODY)});
    assert!(big_body.to_string().len() > MAX_BODY);
    let path = format!("/v1/code/sessions/{}/events", s.session);
    let r = post_raw(&relay, &s.access, &path, big_body.to_string()).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "body");
    assert_eq!(error_type(r).await, "too_large");
    // The same event with less padding is accepted (and is the one event stored below).
    let fits = json!({"events": [user_message("small")], "padding": "x".repeat(MAX_BODY / 2)});
    let r = post_raw(&relay, &s.access, &path, fits.to_string()).await;
    assert_eq!(r.status(), StatusCode::OK, "padding is ignored");

    // Without a Content-Length (chunked), the limit holds too.
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok(big_body.to_string()[..5000].into()),
        Ok(big_body.to_string()[5000..].into()),
    ];
    let r = relay
        .post(&path)
        .bearer_auth(&s.access)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "chunked body");

    // One event over max_event, in a small body.
    let r = relay
        .publish_client(
            &s.access,
            &s.session,
            &[user_message("ok"), user_message(&"y".repeat(MAX_EVENT))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "event");
    assert_eq!(error_type(r).await, "too_large");
    let r = relay
        .publish_worker(
            &s.grant,
            &s.session,
            &[event(
                "assistant_delta",
                json!({"text": "z".repeat(MAX_EVENT)}),
            )],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "worker event");

    // More than max_batch events; exactly max_batch is fine.
    let batch: Vec<NewEvent> = (0..=MAX_BATCH)
        .map(|i| user_message(&i.to_string()))
        .collect();
    let r = relay.publish_client(&s.access, &s.session, &batch).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "batch");
    assert_eq!(error_type(r).await, "too_large");
    // Only the padded event that fitted came before the marker.
    assert_eq!(
        marker_seq(&relay, &s).await,
        2,
        "nothing oversized was stored"
    );
    let p = published(
        relay
            .publish_client(&s.access, &s.session, &batch[..MAX_BATCH])
            .await,
    )
    .await;
    assert_eq!(p.events.len(), MAX_BATCH);
}

#[tokio::test]
async fn oversized_websocket_messages_publish_nothing() {
    let Some((relay, s)) = limited().await else {
        return;
    };
    let path = format!("/v1/code/sessions/{}/ws", s.session);

    // An event over max_event in a message under max_body: refused, the socket stays usable.
    let mut client = Peer::connect(&relay, &path, &s.access).await;
    let reply = client
        .write(&json!({"events": [user_message(&"y".repeat(MAX_EVENT))]}))
        .await;
    assert_eq!(reply["error"]["type"], "too_large", "{reply}");
    let batch: Vec<NewEvent> = (0..=MAX_BATCH)
        .map(|i| user_message(&i.to_string()))
        .collect();
    let reply = client.write(&json!({"events": batch})).await;
    assert_eq!(reply["error"]["type"], "too_large", "{reply}");

    // A message over max_body (a small event and ignored padding): the socket is closed with
    // 1009, "message too big", and the event is not published.
    let huge = json!({"events": [user_message("small")], "padding": "x".repeat(MAX_BODY)});
    assert!(huge.to_string().len() > MAX_BODY);
    ws_send(&mut client.ws, &huge).await;
    assert_eq!(ws_closed(&mut client.ws, WAIT).await, Some(Some(1009)));
    // The same for a worker, and for a frame many times the limit.
    let worker_path = format!("/v1/code/sessions/{}/worker/ws", s.session);
    let mut worker = Peer::connect(&relay, &worker_path, &s.grant.worker_jwt).await;
    let huge = json!({
        "worker_epoch": s.grant.worker_epoch,
        "events": [],
        "padding": "x".repeat(16 * MAX_BODY),
    });
    ws_send(&mut worker.ws, &huge).await;
    assert_eq!(ws_closed(&mut worker.ws, WAIT).await, Some(Some(1009)));
    assert_eq!(
        marker_seq(&relay, &s).await,
        2,
        "nothing from the sockets was stored (but the worker's online notice)"
    );
}

// --- stream caps --------------------------------------------------------------------------

/// A stream request's status, type and message, and its `Retry-After`.
async fn refused_stream(
    relay: &TestRelay,
    token: &str,
    path: &str,
) -> (StatusCode, String, String, Option<String>) {
    let response = relay.get(path).bearer_auth(token).send().await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        retry,
    )
}

#[tokio::test]
async fn streams_per_session_and_per_account_are_capped_with_429() {
    let relay = start_relay!(|c| {
        c.limits.max_streams_per_session = 2;
        c.limits.max_streams_per_account = 3;
    });
    let s = relay.setup("alice").await;
    let first = client_sse(&relay, &s, "", &[]).await;
    let _worker = worker_sse(&relay, &s, "").await;
    // A third stream on the session, over SSE or WebSocket: 429 with the reason.
    let (status, kind, message, retry) =
        refused_stream(&relay, &s.access, &client_stream_path(&s, "")).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_streams")
    );
    assert!(
        message.contains("This session already has 2 open streams"),
        "{message}"
    );
    assert!(retry.is_some(), "a Retry-After for clients that back off");
    let ws = ws_connect(
        &relay.ws_url(&format!("/v1/code/sessions/{}/ws", s.session)),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    match ws {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 429)
        }
        other => panic!("expected 429, got {other:?}"),
    }
    // Another session of the same account: one more fits, then the account is full.
    let other = relay.create_session(&s.access).await;
    let other_path = format!("/v1/code/sessions/{}/events/stream", other.id);
    let third = Sse::open(
        &relay.http,
        &relay.at(&other_path),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    assert_eq!(third.status, StatusCode::OK);
    let (status, _, message, _) = refused_stream(&relay, &s.access, &other_path).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        message.contains("This account already has 3 open streams"),
        "{message}"
    );
    // Another account is not affected.
    relay.add_user("bob");
    let bob = relay.cli_login("bob").await.access_token;
    let bobs = relay.create_session(&bob).await;
    let bob_stream = Sse::open(
        &relay.http,
        &relay.at(&format!("/v1/code/sessions/{}/events/stream", bobs.id)),
        &[("authorization", &bearer(&bob))],
    )
    .await;
    assert_eq!(bob_stream.status, StatusCode::OK);
    // Closing a stream makes room again (once the relay notices, at the next keepalive).
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sse = Sse::open(
            &relay.http,
            &relay.at(&client_stream_path(&s, "")),
            &[("authorization", &bearer(&s.access))],
        )
        .await;
        if sse.status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream was never uncounted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The session's client and worker streams, over SSE and over a WebSocket each.
async fn four_streams(relay: &TestRelay, s: &Setup) -> (Sse, Sse, Ws, Ws) {
    let ws = |path: &str, token: &str| {
        let url = relay.ws_url(&format!("/v1/code/sessions/{}/{path}", s.session));
        let auth = bearer(token);
        async move { ws_connect(&url, &[("authorization", &auth)]).await.unwrap() }
    };
    (
        client_sse(relay, s, "", &[]).await,
        worker_sse(relay, s, "").await,
        ws("ws", &s.access).await,
        ws("worker/ws", &s.grant.worker_jwt).await,
    )
}

// --- deletion -------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_session_ends_its_streams() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let (mut client, mut worker, mut client_ws, mut worker_ws) = four_streams(&relay, &s).await;
    // All four are live until the delete.
    assert!(!sse_ends(&mut client, Duration::from_millis(300)).await);
    assert!(
        ws_closed(&mut client_ws, Duration::from_millis(300))
            .await
            .is_none()
    );

    let r = relay
        .http
        .delete(relay.at(&format!("/v1/code/sessions/{}", s.session)))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    assert!(sse_ends(&mut client, WAIT).await, "client SSE ended");
    assert!(sse_ends(&mut worker, WAIT).await, "worker SSE ended");
    let gone = tether_protocol::StreamEnd::Gone.close_code();
    assert_eq!(
        ws_closed(&mut client_ws, WAIT).await,
        Some(Some(gone)),
        "client WS closed"
    );
    assert_eq!(
        ws_closed(&mut worker_ws, WAIT).await,
        Some(Some(gone)),
        "worker WS closed"
    );

    let again = Sse::open(
        &relay.http,
        &relay.at(&client_stream_path(&s, "")),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// A node that stops tells each stream to move at once: SSE readers get `event: reconnect`
/// (no id: their last event ID stays) and the stream ends; WebSockets close with 1012.
#[tokio::test]
async fn a_stopping_relay_tells_every_stream_to_reconnect() {
    let mut relay = start_relay!();
    let s = relay.setup("alice").await;
    let (mut client, mut worker, mut client_ws, mut worker_ws) = four_streams(&relay, &s).await;
    // What is already there first.
    assert!(next_status(&mut client, WAIT).await.is_some());
    let stopping = tokio::spawn(relay.relay.take().unwrap().stop());
    for sse in [&mut client, &mut worker] {
        let last = loop {
            match sse
                .next_frame(WAIT)
                .await
                .expect("a last word before the end")
            {
                Frame::Reconnect(data) => break data,
                Frame::Event { .. } | Frame::Comment(_) => continue,
            }
        };
        let last: Value = serde_json::from_str(&last).unwrap();
        assert!(
            last["reason"].as_str().unwrap().contains("reconnect"),
            "{last}"
        );
        assert!(sse_ends(sse, WAIT).await, "the stream ends after it");
    }
    let moving = tether_protocol::StreamEnd::Moving.close_code();
    assert_eq!(moving, 1012);
    for ws in [&mut client_ws, &mut worker_ws] {
        assert_eq!(ws_closed(ws, WAIT).await, Some(Some(moving)));
    }
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stopped")
        .unwrap()
        .unwrap();
}

/// A WebSocket outlives the HTTP connection it was upgraded from: stopping waits until it has
/// said its last word and closed, or a relay process would exit with the close frame unsent and
/// its readers would not know to move (the page would show a plain "reconnecting").
#[tokio::test]
async fn stopping_waits_for_each_websocket_to_close() {
    let mut relay = start_relay!();
    let s = relay.setup("alice").await;
    let url = relay.ws_url(&format!("/v1/code/sessions/{}/ws", s.session));
    let mut ws = ws_connect(&url, &[("authorization", &bearer(&s.access))])
        .await
        .unwrap();
    let said = event("assistant_delta", json!({"message_id": "m", "text": "hi"}));
    relay.publish_worker(&s.grant, &s.session, &[said]).await;
    assert!(ws_next(&mut ws, WAIT).await.is_some(), "the stream is open");
    let stopping = tokio::spawn(relay.relay.take().unwrap().stop());
    // The relay has sent its close frame and waits for ours, which is not read yet.
    tokio::time::sleep(QUIET).await;
    assert!(
        !stopping.is_finished(),
        "the relay stopped with a WebSocket still open"
    );
    assert_eq!(
        ws_closed(&mut ws, WAIT).await,
        Some(Some(tether_protocol::StreamEnd::Moving.close_code()))
    );
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stopped once the WebSocket closed")
        .unwrap()
        .unwrap();
}

/// Events that come while a reader is away go out in one write when it is back, not one write
/// each: a wake-up costs one write however many events it carries.
#[tokio::test]
async fn a_reader_gets_every_event_due_in_one_write() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut client = client_sse(&relay, &s, "", &[]).await;
    let batch: Vec<NewEvent> = (0..50)
        .map(|i| {
            event(
                "assistant_delta",
                json!({"message_id": "m", "text": format!("piece {i} ")}),
            )
        })
        .collect();
    let p = published(relay.publish_worker(&s.grant, &s.session, &batch).await).await;
    assert_eq!(p.events.len(), 50);
    let chunks = client.chunks_for(50, WAIT).await.expect("all 50 arrive");
    // One write of ~10 KiB; the client's reads may cut it once or twice, never into 50.
    assert!(chunks <= 3, "50 events came in {chunks} writes");
}

// --- fan-out --------------------------------------------------------------------------------

#[tokio::test]
async fn ten_clients_all_receive_the_same_fifty_events_in_order() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let mut streams = Vec::new();
    for _ in 0..10 {
        streams.push(client_sse(&relay, &s, "", &[]).await);
    }
    let mut sent = Vec::new();
    for chunk in 0..10 {
        let batch: Vec<NewEvent> = (0..5)
            .map(|i| user_message(&format!("{chunk}.{i}")))
            .collect();
        published(relay.publish_client(&s.access, &s.session, &batch).await).await;
        sent.extend(batch);
    }
    let expected: Vec<(u64, String)> = sent
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u64 + 1, e.id.clone()))
        .collect();
    let readers = streams.into_iter().map(|mut sse| async move {
        let mut got = Vec::new();
        while got.len() < 50 {
            match sse.next_event(WAIT).await {
                Some(e) => got.push((e.seq, e.id)),
                None => break,
            }
        }
        got
    });
    for (i, got) in futures::future::join_all(readers)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(got, expected, "stream {i}");
    }
}
