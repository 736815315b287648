//! PostgreSQL stopped for 5 s while two nodes carry a conversation: every request in the outage
//! is a clear `503` with `Retry-After` (never a `500`, never a hang), `/readyz` says so, and once
//! the database is back every event that was accepted (and every one retried after a `503`)
//! reaches the other side exactly once, in order, with `seq` strictly increasing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tether_protocol::Event;
use tether_protocol::NewEvent;
use tether_relay::nodes::NodesConfig;
use tether_relay::store::Location;
use tether_relay::test_support::postgres::{PgServer, blocking};
use tether_relay::test_support::proxy::{Pick, TcpProxy};
use tether_relay::test_support::{TestRelay, event, user_message};

use crate::common::Sse;

const EACH_SIDE: usize = 40;
const OUTAGE: Duration = Duration::from_secs(5);

/// Every status a publisher saw, and whether each 503 said when to come back.
#[derive(Default)]
struct Answers {
    statuses: Vec<u16>,
    /// When each publish was accepted.
    accepted: Vec<tokio::time::Instant>,
    unadvised_503s: usize,
}

/// Publish `events` one at a time, each retried with the same id after a `503` (as the bridge
/// and the page do) until it is accepted.
async fn publish_all(
    events: Vec<NewEvent>,
    answers: Arc<Mutex<Answers>>,
    send: impl Fn(NewEvent) -> futures::future::BoxFuture<'static, reqwest::Result<reqwest::Response>>,
) {
    for e in events {
        loop {
            let status = match send(e.clone()).await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    if s == 503 && !r.headers().contains_key("retry-after") {
                        answers.lock().unwrap().unadvised_503s += 1;
                    }
                    s
                }
                Err(err) => panic!("a publish got no answer at all: {err}"),
            };
            answers.lock().unwrap().statuses.push(status);
            if status == 200 {
                answers
                    .lock()
                    .unwrap()
                    .accepted
                    .push(tokio::time::Instant::now());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Read `url`'s stream until `want` events of `kind` arrived, reopening it after the last
/// `seq` seen whenever it ends or is refused, as clients do.
async fn read_all(
    http: reqwest::Client,
    url: String,
    auth: String,
    kind: &'static str,
    want: usize,
) -> Vec<Event> {
    let mut got: Vec<Event> = Vec::new();
    let mut last_seq = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while got.len() < want && tokio::time::Instant::now() < deadline {
        let from = format!("{url}?from_seq={last_seq}");
        let mut sse = Sse::open(&http, &from, &[("authorization", &auth)]).await;
        if sse.status != StatusCode::OK {
            assert_eq!(sse.status, StatusCode::SERVICE_UNAVAILABLE, "{from}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        while let Some(e) = sse.next_event(Duration::from_secs(10)).await {
            assert!(e.seq > last_seq, "seq {} after {last_seq}", e.seq);
            last_seq = e.seq;
            if e.kind == kind {
                got.push(e);
                if got.len() == want {
                    break;
                }
            }
        }
    }
    got
}

// Several threads: the database's proxy runs on this runtime, and the test's own queries
// (`blocking`) hold a thread while they go through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_database_outage_is_503s_and_loses_nothing() {
    let Some(server) = blocking(PgServer::get) else {
        return;
    };
    let direct = blocking(|| server.fresh_database());
    let proxy = TcpProxy::start(
        vec![format!("127.0.0.1:{}", server.port).parse().unwrap()],
        Pick::InOrder,
    )
    .await;
    let url = direct.replace(
        &format!("127.0.0.1:{}/", server.port),
        &format!("{}/", proxy.addr),
    );
    let (a, b) =
        TestRelay::two_nodes_on(Location::Postgres(url), |_| {}, NodesConfig::default()).await;
    let s = a.setup("ada").await;

    let replies: Vec<NewEvent> = (0..EACH_SIDE)
        .map(|i| {
            event(
                "assistant_message",
                json!({"message_id": format!("m{i}"), "text": format!("reply {i}")}),
            )
        })
        .collect();
    let messages: Vec<NewEvent> = (0..EACH_SIDE)
        .map(|i| user_message(&format!("message {i}")))
        .collect();

    // The phone reads on B, the worker on A.
    let client_reader = tokio::spawn(read_all(
        b.http.clone(),
        b.at(&format!("/v1/code/sessions/{}/events/stream", s.session)),
        format!("Bearer {}", s.access),
        "assistant_message",
        EACH_SIDE,
    ));
    let worker_reader = tokio::spawn(read_all(
        a.http.clone(),
        a.at(&format!(
            "/v1/code/sessions/{}/worker/events/stream",
            s.session
        )),
        format!("Bearer {}", s.grant.worker_jwt),
        "user_message",
        EACH_SIDE,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let answers = Arc::new(Mutex::new(Answers::default()));
    let worker_side = {
        let (http, url) = (
            a.http.clone(),
            a.at(&format!("/v1/code/sessions/{}/worker/events", s.session)),
        );
        let (jwt, epoch) = (s.grant.worker_jwt.clone(), s.grant.worker_epoch);
        tokio::spawn(publish_all(
            replies.clone(),
            Arc::clone(&answers),
            move |e| {
                let request = http
                    .post(&url)
                    .bearer_auth(&jwt)
                    .timeout(Duration::from_secs(10))
                    .json(&json!({"worker_epoch": epoch, "events": [e]}));
                Box::pin(request.send())
            },
        ))
    };
    let client_side = {
        let (http, url) = (
            b.http.clone(),
            b.at(&format!("/v1/code/sessions/{}/events", s.session)),
        );
        let access = s.access.clone();
        tokio::spawn(publish_all(
            messages.clone(),
            Arc::clone(&answers),
            move |e| {
                let request = http
                    .post(&url)
                    .bearer_auth(&access)
                    .timeout(Duration::from_secs(10))
                    .json(&json!({"events": [e]}));
                Box::pin(request.send())
            },
        ))
    };

    tokio::time::sleep(Duration::from_millis(600)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for node in [&a, &b] {
        let r = node.get("/readyz").send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "readyz in the outage"
        );
    }
    tokio::time::sleep(OUTAGE - Duration::from_millis(1500)).await;
    proxy.restore();
    let restored = tokio::time::Instant::now();

    // A relay that hangs instead of answering fails here rather than holding up the run.
    let (to_client, to_worker) = tokio::time::timeout(Duration::from_secs(60), async {
        worker_side.await.unwrap();
        client_side.await.unwrap();
        (client_reader.await.unwrap(), worker_reader.await.unwrap())
    })
    .await
    .expect("publishing and reading finish within a minute of the outage");
    for node in [&a, &b] {
        let r = node.get("/readyz").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "readyz after the outage");
    }

    let answers = answers.lock().unwrap();
    let refused = answers.statuses.iter().filter(|s| **s == 503).count();
    assert!(refused > 0, "the outage was felt: {:?}", answers.statuses);
    assert!(
        answers.statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 200s and 503s: {:?}",
        answers.statuses
    );
    assert_eq!(answers.unadvised_503s, 0, "every 503 says Retry-After");
    let back = answers
        .accepted
        .iter()
        .filter(|at| **at >= restored)
        .min()
        .map(|at| at.duration_since(restored))
        .expect("publishing went on after the outage");
    // A publisher retries every 100 ms: the nodes take up the database within a few tries.
    assert!(back <= Duration::from_secs(2), "back after {back:?}");
    for (side, got, sent) in [
        ("the phone", &to_client, &replies),
        ("the worker", &to_worker, &messages),
    ] {
        let ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
        let want: Vec<&str> = sent.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, want, "{side} got everything once, in order");
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            EACH_SIDE,
            "{side}: no duplicates"
        );
    }
    eprintln!(
        "outage of {OUTAGE:?}: {refused} of {} publishes answered 503; accepting again {back:?} after the database returned",
        answers.statuses.len()
    );
}
