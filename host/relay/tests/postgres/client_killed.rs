//! The node a phone reads from dies (killed: no goodbye, its sockets cut) while the terminal's
//! worker, on a node of its own, goes on replying. Three nodes on one database: the worker's
//! (never killed), and two behind the phone's load balancer, killed in turn. The phone
//! reconnects through the balancer from its last `seq`, as the page does, and gets every reply
//! exactly once, in order, over SSE and over a WebSocket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tether_protocol::Event;
use tether_relay::nodes::NodesConfig;
use tether_relay::store::Location;
use tether_relay::test_support::postgres::{PgServer, blocking};
use tether_relay::test_support::proxy::{Pick, TcpProxy};
use tether_relay::test_support::redis::RedisServer;
use tether_relay::test_support::{KillableNode, TestRelay, event};

use crate::common::{Sse, ws_connect, ws_next};

/// Replies the worker sends; the phone's node dies after a third and after two thirds of them.
const REPLIES: u64 = 60;
const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Transport {
    Sse,
    Ws,
}

/// Reads the session through `balancer` for ever, reconnecting at once (from the last `seq`)
/// whenever its stream ends or breaks; everything it got, in arrival order.
fn phone(
    transport: Transport,
    balancer: String,
    session: String,
    access: String,
) -> (Arc<Mutex<Vec<Event>>>, tokio::task::JoinHandle<()>) {
    let got = Arc::new(Mutex::new(Vec::<Event>::new()));
    let seen = Arc::clone(&got);
    let reader = tokio::spawn(async move {
        let http = tether_relay::test_support::http_client();
        loop {
            let last = seen.lock().unwrap().last().map_or(0, |e| e.seq);
            let path = format!("/v1/code/sessions/{session}/events/stream?from_seq={last}");
            match transport {
                Transport::Sse => {
                    let auth = format!("Bearer {access}");
                    let mut sse = Sse::open(
                        &http,
                        &format!("{balancer}{path}"),
                        &[("authorization", &auth)],
                    )
                    .await;
                    if sse.status.is_success() {
                        while let Some(e) = sse.next_event(Duration::from_secs(2)).await {
                            seen.lock().unwrap().push(e);
                        }
                    }
                }
                Transport::Ws => {
                    let url = format!(
                        "{}/v1/code/sessions/{session}/ws?from_seq={last}",
                        balancer.replacen("http://", "ws://", 1)
                    );
                    let auth = format!("Bearer {access}");
                    if let Ok(mut ws) = ws_connect(&url, &[("authorization", &auth)]).await {
                        while let Some(v) = ws_next(&mut ws, Duration::from_secs(2)).await {
                            if let Ok(e) = serde_json::from_value::<Event>(v) {
                                seen.lock().unwrap().push(e);
                            }
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (got, reader)
}

async fn a_phones_node_killed_loses_and_repeats_nothing(transport: Transport) {
    let Some(server) = blocking(PgServer::get) else {
        return;
    };
    let db = Location::Postgres(blocking(|| server.fresh_database()));
    let redis = RedisServer::start();
    let nodes = NodesConfig {
        redis_url: redis.as_ref().map(|r| r.url()),
        ..NodesConfig::default()
    };
    let worker_node = TestRelay::start_node(
        db.clone(),
        tempfile::tempdir().unwrap(),
        |_| {},
        nodes.clone(),
    )
    .await;
    let mut pair = [
        KillableNode::start(db.clone(), nodes.clone(), |_| {}).await,
        KillableNode::start(db, nodes, |_| {}).await,
    ];
    let balancer = TcpProxy::start(pair.iter().map(|n| n.addr).collect(), Pick::InOrder).await;
    let s = worker_node.setup("ada").await;
    let (got, reader) = phone(
        transport,
        balancer.url(),
        s.session.clone(),
        s.access.clone(),
    );

    for n in 0..REPLIES {
        if n == REPLIES / 3 {
            // The phone is on the first node: it dies, the phone moves to the second (and
            // stays there when the first is back).
            pair[0].kill();
            let deadline = tokio::time::Instant::now() + WAIT;
            while balancer.sent()[1] == 0 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the phone never moved"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            pair[0].start_again().await;
        }
        if n == 2 * REPLIES / 3 {
            // Now on the second: it dies, the phone moves back to the first.
            pair[1].kill();
        }
        let reply = event("assistant_delta", json!({"message_id": "m", "n": n}));
        let r = worker_node
            .publish_worker(&s.grant, &s.session, &[reply])
            .await;
        assert!(r.status().is_success(), "reply {n}: {}", r.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let deadline = tokio::time::Instant::now() + WAIT;
    let numbers = loop {
        let numbers: Vec<u64> = got
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == "assistant_delta")
            .map(|e| e.payload["n"].as_u64().unwrap())
            .collect();
        if numbers.len() as u64 >= REPLIES || tokio::time::Instant::now() > deadline {
            break numbers;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A moment more, for anything that would arrive twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    reader.abort();
    let events = got.lock().unwrap().clone();
    assert_eq!(
        numbers,
        (0..REPLIES).collect::<Vec<_>>(),
        "{transport:?}: every reply once, in order"
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{transport:?}: seq strictly increasing across the moves: {seqs:?}"
    );
    let sent = balancer.sent();
    assert!(
        sent[0] >= 2 && sent[1] >= 1,
        "{transport:?}: the phone moved to the second node and back: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_sse_a_phones_node_killed_loses_and_repeats_nothing() {
    a_phones_node_killed_loses_and_repeats_nothing(Transport::Sse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_websocket_a_phones_node_killed_loses_and_repeats_nothing() {
    a_phones_node_killed_loses_and_repeats_nothing(Transport::Ws).await;
}
