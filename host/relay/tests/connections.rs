//! Connections as an attacker holds them: request heads that never finish, keep-alive
//! connections left idle, bodies that trickle, more connections than the relay may hold, and a
//! relay told to stop while all that is going on. Raw sockets, so nothing is hidden by a client
//! library's own timeouts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

/// A connection that has sent part of a request head and then goes quiet.
async fn half_open(relay: &TestRelay) -> TcpStream {
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tcp
}

/// Everything the peer sends until it closes, or `None` if it is still open after `wait`.
async fn until_closed(tcp: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// One response head read from `tcp` (the relay's answers here are small), and what came
/// with it.
async fn response_head(tcp: &mut TcpStream) -> String {
    read_until(tcp, "\r\n\r\n").await
}

async fn healthz(relay: &TestRelay) -> Duration {
    let started = Instant::now();
    // A new client: its connection is a new one.
    let response = tokio::time::timeout(WAIT, http_client().get(relay.at("/healthz")).send())
        .await
        .expect("/healthz answered in time")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    started.elapsed()
}

/// Stops the relay, failing with `why` if that takes longer than `WAIT`; how long it took.
async fn stop(relay: &mut TestRelay, why: &str) -> Duration {
    let started = Instant::now();
    tokio::time::timeout(WAIT, relay.relay.take().unwrap().stop())
        .await
        .expect(why)
        .unwrap();
    started.elapsed()
}

#[tokio::test]
async fn healthz_says_alive_and_readyz_says_the_database_answers() {
    let relay = TestRelay::start().await;
    healthz(&relay).await;
    let ready = http_client().get(relay.at("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn a_stalled_request_head_is_closed_after_the_header_timeout() {
    let relay = TestRelay::start_with(|c| {
        c.connections.header_timeout = Duration::from_millis(300);
    })
    .await;
    let started = Instant::now();
    let mut tcp = half_open(&relay).await;
    let answer = until_closed(&mut tcp, WAIT)
        .await
        .expect("the stalled connection is closed");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too soon: {took:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    // A connection that never sends a byte is closed the same way.
    let mut silent = TcpStream::connect(relay.addr).await.unwrap();
    assert!(until_closed(&mut silent, WAIT).await.is_some());
}

#[tokio::test]
async fn a_stalled_stream_head_is_closed_after_the_header_timeout() {
    let relay = TestRelay::start_with(|c| {
        c.connections.header_timeout = Duration::from_millis(300);
    })
    .await;
    let started = Instant::now();
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    // The request line of a stream (read outside hyper), then nothing.
    tcp.write_all(b"GET /v1/code/sessions/s/events/stream HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(until_closed(&mut tcp, WAIT).await.is_some());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too soon: {took:?}"
    );
}

/// A raw stream request on a connection of its own, and its response head.
async fn raw_stream(relay: &TestRelay, s: &Setup) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    let head = format!(
        "GET /v1/code/sessions/{}/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        s.session, s.access
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let head = response_head(&mut tcp).await;
    (tcp, head)
}

/// Read from `tcp` until what came contains `want`; everything read.
async fn read_until(tcp: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{want:?} in time; got {:?}", String::from_utf8_lossy(&got)))
            .unwrap();
        assert!(
            n > 0,
            "closed before {want:?}: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

async fn publish(relay: &TestRelay, s: &Setup, text: &str) {
    let published = http_client()
        .post(relay.at(&format!("/v1/code/sessions/{}/events", s.session)))
        .bearer_auth(&s.access)
        .json(&serde_json::json!({ "events": [user_message(text)] }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stream_asked_for_first_is_written_chunked_and_its_connection_ends_with_it() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let (mut tcp, head) = raw_stream(&relay, &s).await;
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        lower.contains("\r\ncontent-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(
        lower.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(lower.contains("\r\nconnection: close\r\n"), "{head}");
    assert!(lower.contains("\r\ndate: "), "{head}");

    // Bytes sent after the stream's head (a pipelined request, junk) are not answered, and
    // the stream goes on.
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01junk")
        .await
        .unwrap();
    publish(&relay, &s, "first words").await;
    let got = read_until(&mut tcp, "first words").await;
    assert!(!got.contains("HTTP/1.1"), "{got}");

    // Deleting the session ends the stream: the last chunk, then the connection closes.
    let deleted = http_client()
        .delete(relay.at(&format!("/v1/code/sessions/{}", s.session)))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let rest = until_closed(&mut tcp, WAIT)
        .await
        .expect("the connection closes");
    assert!(rest.ends_with("0\r\n\r\n"), "{rest:?}");
}

#[tokio::test]
async fn a_refused_stream_is_answered_and_closed() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    let head = format!(
        "GET /v1/code/sessions/{}/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n",
        s.session
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut tcp, WAIT)
        .await
        .expect("closed after the answer");
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    assert!(answer.contains("unauthorized"), "{answer}");
}

#[tokio::test]
async fn a_stream_whose_peer_went_away_gives_its_place_back_at_once() {
    let relay = TestRelay::start_with(|c| {
        c.limits.max_streams_per_session = 1;
        c.liveness.keepalive = Duration::from_secs(30);
    })
    .await;
    let s = relay.setup("alice").await;
    let (tcp, head) = raw_stream(&relay, &s).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let (_, refused) = raw_stream(&relay, &s).await;
    assert!(refused.starts_with("HTTP/1.1 429 "), "{refused}");
    // The peer closes; nothing is written to it (the keepalive is 30 s away), so only reading
    // tells the relay.
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_, head) = raw_stream(&relay, &s).await;
        if head.starts_with("HTTP/1.1 200 ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the place is still taken: {head}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let relay = TestRelay::start_with(|c| {
        c.connections.header_timeout = Duration::from_millis(300);
    })
    .await;
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    for _ in 0..2 {
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let head = response_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Still usable well within the timeout: keep-alive works.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_from = Instant::now();
    assert!(
        until_closed(&mut tcp, WAIT).await.is_some(),
        "closed when idle"
    );
    assert!(idle_from.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_body_that_trickles_gets_408() {
    let relay = TestRelay::start_with(|c| {
        c.connections.body_timeout = Duration::from_millis(300);
    })
    .await;
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(
        b"POST /v1/oauth/device/code HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nclient_id=",
    )
    .await
    .unwrap();
    let head = response_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
}

#[tokio::test]
async fn at_the_cap_the_longest_idle_connection_makes_room_and_streams_are_kept() {
    const CAP: usize = 8;
    let relay = TestRelay::start_with(|c| {
        c.connections.max_connections = Some(CAP);
    })
    .await;
    let s = relay.setup("alice").await;
    // A stream (busy for as long as it lives) and then the rest of the slots half-open.
    let mut stream = Sse::open(
        &http_client(),
        &relay.at(&format!("/v1/code/sessions/{}/events/stream", s.session)),
        &[("authorization", &format!("Bearer {}", s.access))],
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    let mut flood = Vec::new();
    for _ in 0..3 * CAP {
        flood.push(half_open(&relay).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The relay still answers a new client, at once (the header timeout is 10 s).
    let took = healthz(&relay).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The oldest half-open connections were closed to make room; the newest are still open.
    let mut first = flood.remove(0);
    assert!(
        until_closed(&mut first, Duration::from_millis(500))
            .await
            .is_some(),
        "the longest-idle connection was closed"
    );
    let mut last = flood.pop().unwrap();
    assert!(
        until_closed(&mut last, Duration::from_millis(200))
            .await
            .is_none(),
        "the newest connection was left alone"
    );
    // The stream was never closed to make room: it still delivers.
    let published = http_client()
        .post(relay.at(&format!("/v1/code/sessions/{}/events", s.session)))
        .bearer_auth(&s.access)
        .json(&serde_json::json!({ "events": [user_message("still here")] }))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    let mut texts = Vec::new();
    while let Some(e) = stream.next_event(Duration::from_secs(2)).await {
        texts.push(e.payload["text"].as_str().unwrap_or_default().to_owned());
        if texts.iter().any(|t| t == "still here") {
            break;
        }
    }
    assert!(texts.iter().any(|t| t == "still here"), "{texts:?}");
}

#[tokio::test]
async fn a_request_that_only_claims_an_upgrade_leaves_its_connection_evictable() {
    const CAP: usize = 8;
    let relay = TestRelay::start_with(|c| {
        c.connections.max_connections = Some(CAP);
    })
    .await;
    // Every slot: a finished request that carried `Upgrade` but was answered `200`, kept alive.
    let mut held = Vec::new();
    for _ in 0..CAP {
        let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
            .await
            .unwrap();
        response_head(&mut tcp).await;
        held.push(tcp);
    }
    // Those connections are idle, not taken over: a new client gets a slot at once.
    let took = healthz(&relay).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn stopping_with_a_half_sent_request_is_prompt() {
    let mut relay = TestRelay::start_with(|c| {
        c.connections.header_timeout = Duration::from_secs(60);
        c.connections.shutdown_grace = Duration::from_secs(60);
    })
    .await;
    let _half = half_open(&relay).await;
    let mut idle = TcpStream::connect(relay.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    response_head(&mut idle).await;
    let took = stop(
        &mut relay,
        "stop does not wait for requests that were never sent",
    )
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn a_half_sent_request_to_the_metrics_listener_does_not_hold_up_stopping() {
    let mut relay = TestRelay::start_with(|c| {
        c.connections.header_timeout = Duration::from_secs(60);
        c.connections.shutdown_grace = Duration::from_secs(60);
    })
    .await;
    let metrics = relay.server().metrics_addr().expect("a metrics listener");
    let mut half = TcpStream::connect(metrics).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = stop(
        &mut relay,
        "stop does not wait for a scrape that was never sent",
    )
    .await;
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn stopping_lets_a_request_in_progress_finish_within_the_grace_period() {
    let mut relay = TestRelay::start_with(|c| {
        c.connections.shutdown_grace = Duration::from_secs(5);
    })
    .await;
    let body = b"client_id=tether-cli";
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(
        format!(
            "POST /v1/oauth/device/code HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tcp.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(relay.relay.take().unwrap().stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "the request in progress is waited for"
    );
    tcp.write_all(&body[5..]).await.unwrap();
    let answer = until_closed(&mut tcp, WAIT)
        .await
        .expect("answered, then closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("user_code"), "{answer}");
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("stopped once the request finished")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn stopping_drops_what_is_left_after_the_grace_period() {
    let mut relay = TestRelay::start_with(|c| {
        c.connections.shutdown_grace = Duration::from_millis(300);
        c.connections.body_timeout = Duration::from_secs(60);
    })
    .await;
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(
        b"POST /v1/oauth/device/code HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nclient",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = stop(
        &mut relay,
        "stop gives up on the request after the grace period",
    )
    .await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(until_closed(&mut tcp, WAIT).await.is_some());
}
