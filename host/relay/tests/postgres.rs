//! The relay's suites (tests/suites) on PostgreSQL: the same tests as `tests/sqlite.rs`, each
//! on a fresh database of a server the tests start themselves (`test_support::postgres`).

mod common;
mod suites;

/// The store these suites run on.
const STORE: tether_relay::test_support::StoreKind =
    tether_relay::test_support::StoreKind::Postgres;

/// What only PostgreSQL has: a schema history of refinery's, and nodes sharing one database.
mod only_postgres {
    use std::time::Duration;

    use reqwest::StatusCode;
    use tether_protocol::api::Published;
    use tether_relay::store::{self, Location, StoreError};
    use tether_relay::test_support::postgres::{PgServer, blocking};
    use tether_relay::test_support::{TestRelay, user_message};

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
            let mut sse = Sse::open(
                &node.http,
                &node.at(&format!(
                    "/v1/code/sessions/{}/events/stream?from_seq=0",
                    s.session
                )),
                &[("authorization", &format!("Bearer {}", s.access))],
            )
            .await;
            assert_eq!(sse.status, StatusCode::OK);
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
}
