//! Readers that never read, while the log holds large events: the relay must hold a stream
//! buffer per stream for them, not a page of the largest events (issue 12 measured ~43 MiB per
//! stream). The relay runs in this process, and this file holds one test, so the process's RSS
//! is the relay's.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// An SSE request on a socket with a tiny receive buffer, never read from.
async fn stalled_reader(relay: &TestRelay, path: &str, token: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(relay.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_never_read_hold_a_bounded_buffer() {
    // More than memory keeps (256), so that pages come from the database.
    const EVENTS: usize = 264;
    const EVENT_TEXT: usize = 100 * 1024;
    const READERS: usize = 4;
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    // 264 events of 100 KiB (26 MiB), eight to a request (each under the 1 MiB body limit).
    let text = "x".repeat(EVENT_TEXT);
    for _ in 0..EVENTS / 8 {
        let batch: Vec<_> = (0..8)
            .map(|_| event("assistant_delta", json!({"message_id": "m", "text": text})))
            .collect();
        let r = relay.publish_worker(&s.grant, &s.session, &batch).await;
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib();
    // Readers that start from the beginning (older than memory reaches: pages come from the
    // database) and never read.
    let path = format!("/v1/code/sessions/{}/events/stream?from_seq=0", s.session);
    let mut readers = Vec::new();
    for _ in 0..READERS {
        readers.push(stalled_reader(&relay, &path, &s.access).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = rss_kib();
    let grown_mib = after.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "RSS {:.1} MiB before the readers, {:.1} MiB with {READERS} stalled readers (+{grown_mib:.1} MiB)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
    );
    // Each reader may hold its stream buffer (1 MiB) plus what hyper and the socket buffer hold
    // for one event; a page of 256 such events would be 25 MiB each.
    assert!(
        grown_mib < 8.0 * READERS as f64,
        "{READERS} stalled readers grew the relay by {grown_mib:.1} MiB"
    );
    // The relay still serves everyone else.
    let r = relay.get("/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(readers);
}
