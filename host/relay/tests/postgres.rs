//! The relay's suites (tests/suites) on PostgreSQL: the same tests as `tests/sqlite.rs`, each
//! on a fresh database of a server the tests start themselves (`test_support::postgres`).

#[path = "postgres/client_killed.rs"]
mod client_killed;
mod common;
#[path = "postgres/outage.rs"]
mod outage;
mod suites;

/// The store these suites run on.
const STORE: tether_relay::test_support::StoreKind =
    tether_relay::test_support::StoreKind::Postgres;

/// What only PostgreSQL has: a schema history of refinery's, and nodes sharing one database.
mod only_postgres {
    use std::time::{Duration, Instant};

    use reqwest::StatusCode;
    use serde_json::json;
    use tether_protocol::Event;
    use tether_protocol::api::Published;
    use tether_relay::nodes::NodesConfig;
    use tether_relay::store::sql::Param;
    use tether_relay::store::{self, Location, StoreError};
    use tether_relay::test_support::event;
    use tether_relay::test_support::postgres::{PgServer, blocking};
    use tether_relay::test_support::redis::RedisServer;
    use tether_relay::test_support::{Setup, TestRelay, user_message};

    use crate::common::Sse;

    fn fresh() -> Option<(&'static PgServer, String)> {
        let server = blocking(PgServer::get)?;
        let url = blocking(|| server.fresh_database());
        Some((server, url))
    }

    #[test]
    fn migrations_run_once_and_a_newer_schema_is_refused_untouched() {
        let Some((server, url)) = fresh() else { return };
        let db = Location::Postgres(url.clone());
        let first = store::migrate(&db, true).unwrap();
        assert_eq!((first.found, first.latest), (0, first.latest), "empty");
        assert!(first.latest >= 1);
        assert_eq!(store::migrate(&db, false).unwrap().found, 0);
        assert_eq!(
            store::migrate(&db, false).unwrap().found,
            first.latest,
            "a second run finds it done"
        );
        // What a newer relay would leave: one more version in refinery's history.
        let name = url.rsplit('/').next().unwrap().to_owned();
        let newer = first.latest as i32 + 1;
        blocking(|| {
            server
                .connect(&name)
                .execute(
                    "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
                     VALUES ($1, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
                    &[&newer],
                )
                .unwrap()
        });
        for check in [true, false] {
            let err = store::migrate(&db, check).unwrap_err();
            assert!(
                matches!(err, StoreError::TooNew { found, known } if found == newer as usize && known == first.latest),
                "{err}"
            );
            assert!(err.to_string().contains("newer tether relay"), "{err}");
        }
        let err = match store::Store::open(&db) {
            Ok(_) => panic!("a newer schema must not be served"),
            Err(err) => err,
        };
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        let kept: i64 = blocking(|| {
            server
                .connect(&name)
                .query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
                .unwrap()
                .get(0)
        });
        assert_eq!(kept, newer as i64, "left as it was");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_clear_error() {
        if blocking(PgServer::get).is_none() {
            return;
        }
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = Location::Postgres(format!("postgres://tether:hunter2@127.0.0.1:{port}/none"));
        let err = match blocking(|| store::Store::open(&db)) {
            Ok(_) => panic!("nothing listens there"),
            Err(err) => err,
        };
        assert!(err.is_unavailable(), "{err}");
        assert!(
            err.to_string().contains("cannot connect to PostgreSQL"),
            "{err}"
        );
        assert!(!db.display().contains("hunter2"), "{}", db.display());
    }

    /// One node's writes to different sessions run side by side: an append held up in the
    /// database (its session's row locked by someone else) does not hold up another session's.
    /// A single order for every session made the node append one event at a time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_held_up_in_the_database_does_not_hold_up_another() {
        let Some((server, url)) = fresh() else { return };
        let name = url.rsplit('/').next().unwrap().to_owned();
        let relay = TestRelay::start_at(
            Location::Postgres(url),
            tempfile::tempdir().unwrap(),
            |_| {},
        )
        .await;
        let s = relay.setup("ada").await;
        // Two sessions of hers whose writes do not share an order, the held one's taken after
        // the other's: whatever takes every order in turn (the sweep, every 100 ms here) would
        // hold the other's while it waits for the held one's.
        let order = |id: &str| tether_relay::test_support::order_of(&id.parse().unwrap());
        let first = s.session.clone();
        let second = loop {
            let id = relay.create_session(&s.access).await.id.to_string();
            if order(&id) != order(&first) {
                break id;
            }
        };
        let (held, other) = if order(&first) > order(&second) {
            (first, second)
        } else {
            (second, first)
        };
        // Someone else holds the first session's row until told to let go.
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (id, db) = (held.clone(), name.clone());
        let locker = std::thread::spawn(move || {
            let mut c = server.connect(&db);
            let mut t = c.transaction().unwrap();
            t.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", &[&id])
                .unwrap();
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv();
            t.commit().unwrap();
        });
        locked_rx.recv().unwrap();
        let waiting = {
            let (http, url) = (
                relay.http.clone(),
                relay.at(&format!("/v1/code/sessions/{held}/events")),
            );
            let (access, body) = (
                s.access.clone(),
                json!({"events": [user_message("held up")]}),
            );
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(access)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "the held session's append waits for its row"
        );
        let started = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            relay.publish_client(&s.access, &other, &[user_message("goes ahead")]),
        )
        .await
        .expect("another session's append is not held up");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(!waiting.is_finished());
        release_tx.send(()).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the held append goes through once the row is free")
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        locker.join().unwrap();
    }

    /// Two nodes started together on one database: they migrate once, sign with one key, and
    /// number one session's events as one log.
    #[tokio::test]
    async fn nodes_on_one_database_share_accounts_keys_and_numbering() {
        let Some((_, url)) = fresh() else { return };
        let db = Location::Postgres(url);
        let (a, b) = tokio::join!(
            TestRelay::start_at(db.clone(), tempfile::tempdir().unwrap(), |_| {}),
            TestRelay::start_at(db.clone(), tempfile::tempdir().unwrap(), |_| {}),
        );
        let s = a.setup("ada").await;
        // Node B accepts what node A issued, from the database.
        let r = b
            .get("/v1/code/sessions")
            .bearer_auth(&s.access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let mut seqs = Vec::new();
        for (i, node) in [&a, &b, &a, &b].into_iter().enumerate() {
            let r = node
                .publish_client(&s.access, &s.session, &[user_message(&format!("m{i}"))])
                .await;
            assert_eq!(r.status(), StatusCode::OK, "node {i}");
            let published: Published = r.json().await.unwrap();
            seqs.extend(published.events.iter().map(|e| e.seq));
        }
        assert_eq!(seqs, [1, 2, 3, 4], "one log, numbered by the database");
        // Both read the whole log from the database.
        for node in [&a, &b] {
            let mut sse = client_stream(node, &s).await;
            let mut got = Vec::new();
            while got.len() < 4 {
                let Some(e) = sse.next_event(Duration::from_secs(5)).await else {
                    break;
                };
                if e.kind == "user_message" {
                    got.push(e.seq);
                }
            }
            assert_eq!(got, [1, 2, 3, 4]);
        }
    }

    /// Appends to one session from two nodes at once, many in flight on each: every one is
    /// stored, and the log is numbered 1…n without a gap or a repeat. Each append reads the
    /// head only once it holds the session's row (a head read in the statement that waits for
    /// the lock would see the log as it was before the wait, and two appends would take the
    /// same `seq`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_to_one_session_from_two_nodes_are_numbered_once_each() {
        let Some((a, b, s)) = two_nodes(NodesConfig::default()).await else {
            return;
        };
        let per_node = 40;
        let messages: Vec<(&TestRelay, Vec<_>)> = [&a, &b]
            .into_iter()
            .enumerate()
            .flat_map(|(n, node)| {
                (0..per_node).map(move |i| (node, vec![user_message(&format!("n{n} m{i}"))]))
            })
            .collect();
        let answers = futures::future::join_all(
            messages
                .iter()
                .map(|(node, said)| node.publish_client(&s.access, &s.session, said)),
        )
        .await;
        for r in answers {
            assert_eq!(r.status(), StatusCode::OK);
        }
        let mut sse = client_stream(&a, &s).await;
        let mut seqs = Vec::new();
        let mut said = std::collections::HashSet::new();
        while said.len() < 2 * per_node {
            let Some(e) = sse.next_event(Duration::from_secs(5)).await else {
                break;
            };
            seqs.push(e.seq);
            if e.kind == "user_message" {
                assert!(said.insert(e.payload["text"].to_string()), "twice: {e:?}");
            }
        }
        assert_eq!(said.len(), 2 * per_node, "every append stored");
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "numbered 1…n"
        );
    }

    /// Two nodes of one relay on a fresh database, following each other as `nodes` says, and
    /// an account set up on the first; `None` when PostgreSQL is not installed.
    async fn two_nodes(nodes: NodesConfig) -> Option<(TestRelay, TestRelay, Setup)> {
        two_nodes_with(nodes, |_| {}).await
    }

    /// [`two_nodes`], both configured with `tweak`.
    async fn two_nodes_with(
        nodes: NodesConfig,
        tweak: fn(&mut tether_relay::RelayConfig),
    ) -> Option<(TestRelay, TestRelay, Setup)> {
        let (_, url) = fresh()?;
        let (a, b) = TestRelay::two_nodes_on(Location::Postgres(url), tweak, nodes).await;
        let s = a.setup("ada").await;
        Some((a, b, s))
    }

    /// The session's client stream on `node`.
    async fn client_stream(node: &TestRelay, s: &Setup) -> Sse {
        let sse = Sse::open(
            &node.http,
            &node.at(&format!("/v1/code/sessions/{}/events/stream", s.session)),
            &[("authorization", &format!("Bearer {}", s.access))],
        )
        .await;
        assert_eq!(sse.status, StatusCode::OK);
        sse
    }

    /// The session's worker stream on `node`.
    async fn worker_stream(node: &TestRelay, s: &Setup) -> Sse {
        let sse = Sse::open(
            &node.http,
            &node.at(&format!(
                "/v1/code/sessions/{}/worker/events/stream",
                s.session
            )),
            &[("authorization", &format!("Bearer {}", s.grant.worker_jwt))],
        )
        .await;
        assert_eq!(sse.status, StatusCode::OK);
        sse
    }

    /// Two nodes: the worker's streams on A, a client's on B. Each side sees what the other
    /// published, in order and exactly once, within `within` of its commit.
    async fn across_nodes(nodes: NodesConfig, within: Duration) {
        let redis = nodes.redis_url.is_some();
        let Some((a, b, s)) = two_nodes(nodes).await else {
            return;
        };
        let mut client = client_stream(&b, &s).await;
        let mut worker = worker_stream(&a, &s).await;
        // Wait until node B knows the session's head, so that what follows is news to it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut slowest = Duration::ZERO;
        for round in 0..5 {
            // The worker replies on A; the client reads on B.
            let reply = event(
                "assistant_message",
                json!({"message_id": format!("m{round}"), "text": format!("reply {round}")}),
            );
            let sent = Instant::now();
            let r = a
                .publish_worker(&s.grant, &s.session, std::slice::from_ref(&reply))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            let got = next_of(&mut client, "assistant_message", Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("round {round}: the reply never reached node B"));
            slowest = slowest.max(sent.elapsed());
            assert_eq!(got.id, reply.id, "round {round}: in order");
            // The client writes on B; the worker reads on A.
            let message = user_message(&format!("message {round}"));
            let sent = Instant::now();
            let r = b
                .publish_client(&s.access, &s.session, std::slice::from_ref(&message))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            let got = next_of(&mut worker, "user_message", Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("round {round}: the message never reached node A"));
            slowest = slowest.max(sent.elapsed());
            assert_eq!(got.id, message.id, "round {round}: in order");
        }
        assert!(
            slowest <= within,
            "an event took {slowest:?} to reach the other node (at most {within:?})"
        );
        // Nothing twice: a further wait brings nothing more.
        assert!(
            next_of(&mut client, "assistant_message", Duration::from_millis(700))
                .await
                .is_none()
        );
        assert!(
            next_of(&mut worker, "user_message", Duration::from_millis(700))
                .await
                .is_none()
        );
        // A second worker registering on B supersedes the stream on A.
        let newer = b.bridge(&s.access, &s.device, &s.session).await;
        assert!(newer.worker_epoch > s.grant.worker_epoch);
        assert!(
            worker.drain(Duration::from_secs(2)).await.len() <= 1,
            "the stale worker's stream ends"
        );
        // Each node timed its own database calls, and heard the other's announcements.
        for node in [&a, &b] {
            for op in ["read", "write"] {
                let name = format!("tether_relay_store_seconds_count{{op=\"{op}\"}}");
                assert!(node.metric(&name).await > 0, "{name}");
            }
            let heard = node.metric("tether_relay_redis_lag_seconds_count").await;
            assert_eq!(heard > 0, redis, "Redis lag observed: {heard}");
        }
    }

    /// The next event of `kind`, skipping others (worker_status, keepalives).
    async fn next_of(sse: &mut Sse, kind: &str, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = sse.next_event(left).await?;
            if event.kind == kind {
                return Some(event);
            }
        }
    }

    #[tokio::test]
    async fn without_redis_nodes_follow_each_other_through_the_database() {
        // The poll runs every 500 ms: a commit reaches the other node within one interval
        // (and the time the test itself takes).
        across_nodes(NodesConfig::default(), Duration::from_millis(900)).await;
    }

    #[tokio::test]
    async fn with_redis_nodes_hear_of_each_other_at_once() {
        let Some(redis) = RedisServer::start() else {
            return;
        };
        // The poll all but off: only Redis can be this quick.
        let nodes = NodesConfig {
            redis_url: Some(redis.url()),
            poll_interval: Duration::from_secs(60),
        };
        across_nodes(nodes, Duration::from_millis(300)).await;
    }

    /// The `worker_status` events of the session's log, oldest first.
    fn statuses(node: &TestRelay, s: &Setup) -> Vec<bool> {
        let id = s.session.to_string();
        node.sql(move |c| {
            c.query(
                "SELECT payload FROM events WHERE session_id = ?1 AND type = 'worker_status' ORDER BY seq",
                &[store::sql::Param::Text(&id)],
            )
        })
        .into_iter()
        .map(|r| {
            let payload: serde_json::Value = serde_json::from_str(&r.text(0).unwrap()).unwrap();
            payload["online"].as_bool().unwrap()
        })
        .collect()
    }

    /// The worker streams to A and posts to B: it is online once, stays online while A holds
    /// its stream however long it is silent, and when A dies B reports it offline, once.
    #[tokio::test]
    async fn presence_is_one_answer_across_nodes_and_survives_the_node_holding_the_worker() {
        let Some((mut a, b, s)) = two_nodes(NodesConfig::default()).await else {
            return;
        };
        let mut client = client_stream(&b, &s).await;
        let _worker = worker_stream(&a, &s).await;
        let online = next_of(&mut client, "worker_status", Duration::from_secs(3))
            .await
            .expect("the client on B hears the worker came online on A");
        assert_eq!(online.payload["online"], true);
        let heartbeat = b
            .post(&format!("/v1/code/sessions/{}/worker/heartbeat", s.session))
            .bearer_auth(&s.grant.worker_jwt)
            .json(&json!({ "worker_epoch": s.grant.worker_epoch }))
            .send()
            .await
            .unwrap();
        assert_eq!(heartbeat.status(), StatusCode::NO_CONTENT);
        // Three timeouts (1 s each in tests) of silence but for A's open stream.
        assert!(
            next_of(&mut client, "worker_status", Duration::from_secs(3))
                .await
                .is_none(),
            "no second online from B, no offline while A holds the stream"
        );
        let path = format!("/v1/code/sessions/{}", s.session);
        let summary: tether_protocol::api::SessionSummary = b.get_json(&path, &s.access).await;
        assert!(summary.worker_online, "B says what A knows");
        // A goes away with the worker's stream; nobody hears the worker any more.
        a.stop().await;
        let went = Instant::now();
        let offline = next_of(&mut client, "worker_status", Duration::from_secs(5))
            .await
            .expect("B reports the worker of a dead node offline");
        assert_eq!(offline.payload["online"], false);
        assert!(
            went.elapsed() <= Duration::from_millis(2500),
            "offline {:?} after the node went (timeout 1 s)",
            went.elapsed()
        );
        let summary: tether_protocol::api::SessionSummary = b.get_json(&path, &s.access).await;
        assert!(!summary.worker_online);
        assert_eq!(
            statuses(&b, &s),
            [true, false],
            "each change announced once"
        );
    }

    /// A login revoked on node A: node B refuses its worker token and ends its worker's stream
    /// within a second, though the token itself is valid for minutes more.
    #[tokio::test]
    async fn a_revocation_on_one_node_holds_on_the_others_within_a_second() {
        let Some((a, b, s)) = two_nodes(NodesConfig::default()).await else {
            return;
        };
        let mut worker = worker_stream(&b, &s).await;
        let reply = || {
            event(
                "assistant_message",
                json!({"message_id": "m", "text": "still here"}),
            )
        };
        assert_eq!(
            b.publish_worker(&s.grant, &s.session, &[reply()])
                .await
                .status(),
            StatusCode::OK
        );
        let r = a
            .post("/v1/oauth/revoke")
            .form(&[
                ("token", s.refresh.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", "tether-cli"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let revoked = Instant::now();
        let refused = loop {
            let status = b
                .publish_worker(&s.grant, &s.session, &[reply()])
                .await
                .status();
            if status == StatusCode::UNAUTHORIZED {
                break revoked.elapsed();
            }
            assert_eq!(status, StatusCode::OK);
            assert!(
                revoked.elapsed() < Duration::from_secs(3),
                "node B still takes the revoked login's worker token"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(refused <= Duration::from_millis(1200), "{refused:?}");
        // Its stream on B has ended (whatever it delivered before).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while worker
            .next_frame(Duration::from_millis(300))
            .await
            .is_some()
        {
            assert!(tokio::time::Instant::now() < deadline, "the stream goes on");
        }
    }

    /// Redis stops and comes back: the nodes say so on /readyz (still ready), the client on B
    /// goes on getting the worker's replies from A through the database meanwhile, and every
    /// reply arrives once, in order.
    #[tokio::test]
    async fn a_redis_restart_loses_and_repeats_nothing() {
        let Some(mut redis) = RedisServer::start() else {
            return;
        };
        let nodes = NodesConfig {
            redis_url: Some(redis.url()),
            ..NodesConfig::default()
        };
        let Some((a, b, s)) = two_nodes(nodes).await else {
            return;
        };
        let mut client = client_stream(&b, &s).await;
        let readyz = |node: &TestRelay| {
            let request = node.get("/readyz");
            async move {
                let r = request.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK, "Redis down is not unready");
                r.text().await.unwrap()
            }
        };
        let mut sent = Vec::new();
        let mut reply = |round: usize| {
            let e = event(
                "assistant_message",
                json!({"message_id": format!("m{round}"), "text": format!("reply {round}")}),
            );
            sent.push(e.id.clone());
            e
        };
        let mut got = Vec::new();
        for round in 0..9 {
            match round {
                3 => {
                    redis.stop();
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while readyz(&b).await == "ready" {
                        assert!(Instant::now() < deadline, "B never noticed Redis gone");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    assert!(readyz(&b).await.contains("Redis unreachable"));
                }
                6 => {
                    redis.start_again();
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while readyz(&b).await != "ready" {
                        assert!(Instant::now() < deadline, "B never heard Redis again");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                _ => {}
            }
            let e = reply(round);
            let r = a.publish_worker(&s.grant, &s.session, &[e]).await;
            assert_eq!(r.status(), StatusCode::OK, "round {round}");
            let e = next_of(&mut client, "assistant_message", Duration::from_secs(3))
                .await
                .unwrap_or_else(|| panic!("round {round}: the reply never reached node B"));
            got.push(e.id);
        }
        assert!(
            next_of(&mut client, "assistant_message", Duration::from_millis(700))
                .await
                .is_none()
        );
        assert_eq!(got, sent, "every reply once, in order");
    }

    /// `POST /login` on `node` as `name` with `password`: the status.
    async fn login(node: &TestRelay, name: &str, password: &str) -> u16 {
        node.post("/login")
            .header("origin", &node.url)
            .form(&[("username", name), ("password", password)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A guesser spreading a burst over both nodes gets what one node would give: five
    /// failures for the account, the rest refused before any password is checked, and the
    /// owner, on either node, waits too.
    #[tokio::test]
    async fn failed_logins_are_counted_once_across_nodes() {
        let Some((a, b, _s)) = two_nodes(NodesConfig::default()).await else {
            return;
        };
        let checks = || async {
            a.metric("tether_relay_password_checks_total").await
                + b.metric("tether_relay_password_checks_total").await
        };
        // Setting up the session logged ada in once already.
        let before = checks().await;
        let guesses = (0..40).map(|i| {
            let node = if i % 2 == 0 { &a } else { &b };
            login(node, "ada", "guess guess")
        });
        let statuses = futures::future::join_all(guesses).await;
        let count = |status| statuses.iter().filter(|s| **s == status).count();
        assert_eq!((count(401), count(429)), (5, 35), "{statuses:?}");
        assert_eq!(checks().await - before, 5);
        for node in [&a, &b] {
            assert_eq!(
                login(node, "ada", tether_relay::test_support::PASSWORD).await,
                429
            );
        }
    }

    /// The caps on open streams hold whichever nodes the streams are on, and a stream's place
    /// is given back when it closes, wherever the next one opens.
    #[tokio::test]
    async fn stream_caps_hold_across_nodes() {
        let Some((a, b, s)) = two_nodes_with(NodesConfig::default(), |c| {
            c.limits.max_streams_per_session = 2;
        })
        .await
        else {
            return;
        };
        let path = format!("/v1/code/sessions/{}/events/stream", s.session);
        let open = |node: &TestRelay| {
            let url = node.at(&path);
            let http = node.http.clone();
            let auth = format!("Bearer {}", s.access);
            async move { Sse::open(&http, &url, &[("authorization", &auth)]).await }
        };
        let on_a = open(&a).await;
        assert_eq!(on_a.status, StatusCode::OK);
        let on_b = open(&b).await;
        assert_eq!(on_b.status, StatusCode::OK);
        for node in [&a, &b] {
            assert_eq!(open(node).await.status, StatusCode::TOO_MANY_REQUESTS);
        }
        drop(on_a);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let again = open(&b).await;
            if again.status == StatusCode::OK {
                break;
            }
            assert!(Instant::now() < deadline, "A never gave its place back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(on_b);
    }

    /// Streams a node holds when it dies (no goodbye, only its places on record) stop counting
    /// once their lease runs out, four sweeps later: a dead node locks no one out.
    #[tokio::test]
    async fn a_dead_nodes_stream_places_are_freed_by_their_lease() {
        let Some((a, _b, s)) = two_nodes_with(NodesConfig::default(), |c| {
            c.limits.max_streams_per_session = 2;
        })
        .await
        else {
            return;
        };
        // The test config sweeps every 100 ms: a lease of 400 ms.
        let session = s.session.to_string();
        a.sql(move |c| {
            for _ in 0..2 {
                c.execute(
                    "INSERT INTO streams (node, session_id, account_id, expires_at_ms)
                     SELECT 'a-node-that-died', id, account_id, ?2 FROM sessions WHERE id = ?1",
                    &[
                        Param::from(session.as_str()),
                        Param::from(store::now_ms() + 400),
                    ],
                )?;
            }
            Ok(())
        });
        let url = a.at(&format!("/v1/code/sessions/{}/events/stream", s.session));
        let auth = format!("Bearer {}", s.access);
        let headers = [("authorization", auth.as_str())];
        let open = || Sse::open(&a.http, &url, &headers);
        let refused_at = Instant::now();
        assert_eq!(open().await.status, StatusCode::TOO_MANY_REQUESTS);
        let freed = loop {
            let sse = open().await;
            if sse.status == StatusCode::OK {
                break refused_at.elapsed();
            }
            assert!(
                refused_at.elapsed() < Duration::from_secs(3),
                "the dead node's places were never freed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(freed <= Duration::from_millis(1500), "{freed:?}");
    }
}
