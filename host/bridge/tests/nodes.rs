//! The bridge worker on a relay of two nodes (one PostgreSQL database) behind a load balancer:
//! a node that stops sends its worker to the other at once, and the conversation goes on with
//! nothing lost and nothing twice; nodes killed mid-conversation lose nothing either.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tether_bridge::{Api, Status, TokenSource, Transport, spawn};
use tether_relay::nodes::NodesConfig;
use tether_relay::store::Location;

const WAIT: Duration = Duration::from_secs(10);

/// Two nodes on a fresh database, or `None` (skipped) without PostgreSQL.
async fn two_nodes() -> Option<(TestRelay, TestRelay)> {
    let server = postgres::blocking(postgres::PgServer::get)?;
    let db = Location::Postgres(postgres::blocking(|| server.fresh_database()));
    Some(TestRelay::two_nodes_on(db, |_| {}, NodesConfig::default()).await)
}

/// The worker reaches the relay through the balancer, which sends every connection to node A
/// while A is up. Its backoff is 30 s: only the "reconnect" of a stopping node can bring it
/// back within seconds.
async fn moved_by_a_stopping_node(transport: Transport) {
    let Some((mut a, b)) = two_nodes().await else {
        return;
    };
    let proxy = TcpProxy::start(vec![a.addr, b.addr], Pick::InOrder).await;
    let (credentials, _) = a.credentials("ada").await;
    // The phone is on B throughout (each test node has a URL, so a cookie, of its own).
    let cookie = b.browser_login("ada").await;
    let session = a.session(&credentials).await;
    let mut config = a.worker(&credentials, &session, transport);
    let api = Api::new(&proxy.url()).unwrap();
    config.tokens = TokenSource::new(api.clone(), credentials.clone());
    config.api = api;
    config.backoff_initial = Duration::from_secs(30);
    config.backoff_max = Duration::from_secs(30);
    let (worker, mut inbound) = spawn(config);
    wait_status(&worker, WAIT, |s| *s == Status::Online).await;
    assert_eq!(proxy.sent()[1], 0, "everything went to A");

    let say = |from: u64, to: u64| {
        for n in from..to {
            worker.publish(&raw("assistant_delta", json!({ "n": n })));
        }
    };
    say(0, 5);
    b.client_publish(&cookie, &session, &[user_message("c0")])
        .await;
    assert!(worker.flush(WAIT).await);
    let mut items = receive(&mut inbound, 1, WAIT).await;

    let stopped = Instant::now();
    a.stop().await;
    // The phone goes on talking (to B) while the worker moves; so does the terminal.
    let phone: Vec<_> = (1..6).map(|n| user_message(&format!("c{n}"))).collect();
    b.client_publish(&cookie, &session, &phone).await;
    say(5, 10);
    assert!(worker.flush(WAIT).await, "delivered through B");
    items.extend(receive(&mut inbound, 5, WAIT).await);
    let moved = stopped.elapsed();
    assert!(
        moved < Duration::from_secs(5),
        "moved at once, not after a backoff: {moved:?}"
    );
    assert!(proxy.sent()[1] > 0, "B took over");
    assert_eq!(*worker.status().borrow(), Status::Online);

    let expected: Vec<String> = (0..6).map(|n| format!("c{n}")).collect();
    assert_eq!(texts(&items), expected, "each phone message once, in order");
    assert_eq!(items.len(), 6, "{items:?}");
    let log = b.client_log(&cookie, &session).await;
    assert_eq!(
        worker_numbers(&log, "assistant_delta"),
        (0..10).collect::<Vec<_>>(),
        "each terminal event once, in order"
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn over_sse_a_stopping_node_moves_its_worker_at_once() {
    moved_by_a_stopping_node(Transport::Sse).await;
}

#[tokio::test]
async fn over_websocket_a_stopping_node_moves_its_worker_at_once() {
    moved_by_a_stopping_node(Transport::Ws).await;
}

/// Kills this many nodes, one after the other, in one conversation.
const KILLS: usize = 6;

/// Nodes A and B die in turn mid-conversation (killed: no goodbye, streams cut, requests
/// unanswered) and come back; the worker, through the balancer, always finds the live one.
/// Meanwhile a phone on node C, never killed, keeps talking. Every message reaches the
/// terminal once and in order, and every terminal event is stored once and in order.
async fn killed_nodes_lose_nothing(transport: Transport) {
    let Some(mut c) = cluster(transport, |_| {}).await else {
        return;
    };

    let mut items = Vec::new();
    let mut said = 0u64;
    let mut failovers = Vec::new();
    for kill in 0..KILLS {
        // A and B in turn: the worker is on A first, on B after A's death, and so on.
        let victim = kill % 2;
        for _ in 0..5 {
            c.worker
                .publish(&raw("assistant_delta", json!({ "n": said })));
            said += 1;
        }
        c.phone
            .client_publish(&c.cookie, &c.session, &[user_message(&format!("c{kill}"))])
            .await;
        // Mid-conversation: whatever is in flight now is cut off.
        let back = back_online(&c.worker);
        c.pair[victim].kill();
        failovers.push(back.await.expect("the watcher"));
        c.pair[victim].start_again().await;
        items.extend(receive(&mut c.inbound, 1, WAIT).await);
    }
    assert!(c.worker.flush(WAIT).await, "everything stored in the end");
    items.extend(receive(&mut c.inbound, 0, Duration::from_millis(500)).await);

    let expected: Vec<String> = (0..KILLS).map(|n| format!("c{n}")).collect();
    assert_eq!(texts(&items), expected, "each phone message once, in order");
    let log = c.phone.client_log(&c.cookie, &c.session).await;
    assert_eq!(
        worker_numbers(&log, "assistant_delta"),
        (0..said).collect::<Vec<_>>(),
        "each terminal event once, in order"
    );
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gap");
    eprintln!("failovers ({transport:?}): {failovers:?}");
    c.worker.shutdown().await;
}

#[tokio::test]
async fn over_sse_killed_nodes_lose_nothing() {
    killed_nodes_lose_nothing(Transport::Sse).await;
}

#[tokio::test]
async fn over_websocket_killed_nodes_lose_nothing() {
    killed_nodes_lose_nothing(Transport::Ws).await;
}
