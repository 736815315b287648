//! The sessions API: create, list, read, rename, delete; `/bridge`; who may touch what; and the
//! validation of what comes in.

use crate::common::*;
use crate::start_relay;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tether_protocol::RelayKind;

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests.

/// A user logged in on the CLI: the access token.
async fn login(relay: &TestRelay, name: &str) -> String {
    relay.add_user(name);
    relay.cli_login(name).await.access_token
}

fn sessions_url(relay: &TestRelay, rest: &str) -> String {
    relay.at(&format!("/v1/code/sessions{rest}"))
}

/// The status and `{error: {type, message}}` of a JSON API error.
async fn api_error(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: not a JSON error body ({e}): {text:?}"));
    (
        status,
        body["error"]["type"]
            .as_str()
            .expect("error.type")
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .expect("error.message")
            .to_owned(),
    )
}

async fn create_titled(relay: &TestRelay, access: &str, body: Value) -> reqwest::Response {
    relay
        .http
        .post(sessions_url(relay, ""))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn list(relay: &TestRelay, access: &str) -> Vec<Value> {
    let response = relay
        .http
        .get(sessions_url(relay, ""))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The HTTP status a refused WebSocket handshake got.
fn handshake_status(result: Result<Ws, tokio_tungstenite::tungstenite::Error>) -> StatusCode {
    match result {
        Ok(_) => panic!("the WebSocket handshake succeeded"),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            StatusCode::from_u16(response.status().as_u16()).unwrap()
        }
        Err(e) => panic!("the handshake failed without an HTTP answer: {e}"),
    }
}

fn is_rfc3339(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' && s.ends_with('Z')
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_list_get_patch_delete() {
    let relay = start_relay!();
    let access = login(&relay, "alice").await;
    assert!(list(&relay, &access).await.is_empty());

    let response = create_titled(&relay, &access, json!({"title": "  first  "})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let uuid = id.strip_prefix("session_").expect("a production id");
    assert_eq!(uuid.len(), 36, "{id}");
    assert!(uuid::Uuid::try_parse(uuid).is_ok(), "{id}");
    assert!(!uuid.starts_with("staging_") && !uuid.starts_with("local_"));
    assert_eq!(created["url"], format!("{}/code/{id}", relay.url));
    assert!(
        is_rfc3339(created["created_at"].as_str().unwrap()),
        "{created}"
    );

    // Without a title (or an empty body) a default one is used.
    let untitled = create_titled(&relay, &access, json!({})).await;
    assert_eq!(untitled.status(), StatusCode::CREATED);
    let untitled_id = untitled.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let sessions = list(&relay, &access).await;
    assert_eq!(sessions.len(), 2);
    let listed = sessions
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("listed");
    assert_eq!(listed["title"], "first");
    assert_eq!(listed["state"], "idle");
    assert_eq!(listed["worker_online"], false);
    assert_eq!(listed["url"], created["url"]);
    assert_eq!(listed["created_at"], created["created_at"]);
    assert!(
        is_rfc3339(listed["updated_at"].as_str().unwrap()),
        "{listed}"
    );
    let other = sessions
        .iter()
        .find(|s| s["id"] == untitled_id.as_str())
        .expect("listed");
    assert_eq!(other["title"], "New session");

    let got = relay
        .http
        .get(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(&got.json::<Value>().await.unwrap(), listed);

    let patched = relay
        .http
        .patch(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .json(&json!({"title": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["title"], "renamed");
    assert_eq!(patched["id"], id.as_str());
    let got: Value = relay
        .http
        .get(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["title"], "renamed");
    // An empty title is refused rather than silently kept.
    let empty = relay
        .http
        .patch(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .json(&json!({"title": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);

    let deleted = relay
        .http
        .delete(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = relay
        .http
        .get(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    let (status, kind, _) = api_error(gone).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let again = relay
        .http
        .delete(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let remaining = list(&relay, &access).await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], untitled_id.as_str());
}

#[tokio::test]
async fn a_staging_relay_makes_staging_ids() {
    let relay = start_relay!(|c| c.kind = RelayKind::Staging);
    let access = login(&relay, "alice").await;
    let created = relay.create_session(&access).await;
    let id = created.id.to_string();
    let uuid = id.strip_prefix("session_staging_").expect("a staging id");
    assert_eq!(uuid.len(), 36);
    assert!(uuid::Uuid::try_parse(uuid).is_ok());
    assert_eq!(created.url, format!("{}/code/{id}", relay.url));
    // And it is served like any other.
    let got = relay
        .http
        .get(sessions_url(&relay, &format!("/{id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
}

#[tokio::test]
async fn another_accounts_session_does_not_exist() {
    let relay = start_relay!();
    let alice = relay.setup("alice").await;
    relay.add_user("bob");
    let bob = relay.cli_login("bob").await.access_token;
    let bob_device = relay.enroll(&bob).await.device_token;
    let path = |rest: &str| sessions_url(&relay, &format!("/{}{rest}", alice.session));

    let get = relay
        .http
        .get(path(""))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let (status, kind, message) = api_error(get).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(message, "No such session.");

    let patch = relay
        .http
        .patch(path(""))
        .bearer_auth(&bob)
        .json(&json!({"title": "mine now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(patch).await.0, StatusCode::NOT_FOUND);

    let delete = relay
        .http
        .delete(path(""))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(delete).await.0, StatusCode::NOT_FOUND);

    let bridge = relay
        .http
        .post(path("/bridge"))
        .bearer_auth(&bob)
        .header("x-trusted-device-token", &bob_device)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(bridge).await.0, StatusCode::NOT_FOUND);

    let publish = relay
        .publish_client(&bob, &alice.session, &[user_message("hi")])
        .await;
    assert_eq!(api_error(publish).await.0, StatusCode::NOT_FOUND);

    let sse = Sse::open(
        &relay.http,
        &path("/events/stream"),
        &[("authorization", &format!("Bearer {bob}"))],
    )
    .await;
    assert_eq!(sse.status, StatusCode::NOT_FOUND);

    let ws = ws_connect(
        &relay.ws_url(&format!("/v1/code/sessions/{}/ws", alice.session)),
        &[("authorization", &format!("Bearer {bob}"))],
    )
    .await;
    assert_eq!(handshake_status(ws), StatusCode::NOT_FOUND);

    assert!(list(&relay, &bob).await.is_empty());

    // Nothing bob did touched it: same title, same epoch (a bridge now gets the next one), and
    // no event was published.
    let mine: Value = relay
        .http
        .get(path(""))
        .bearer_auth(&alice.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["title"], "test");
    let grant = relay
        .bridge(&alice.access, &alice.device, &alice.session)
        .await;
    assert_eq!(grant.worker_epoch, alice.grant.worker_epoch + 1);
    let mut stream = Sse::open(
        &relay.http,
        &path("/events/stream"),
        &[("authorization", &format!("Bearer {}", alice.access))],
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    let events = stream.drain(Duration::from_millis(300)).await;
    assert!(
        events.iter().all(|e| e.kind != "user_message"),
        "{events:?}"
    );
}

#[tokio::test]
async fn malformed_session_ids_are_unknown() {
    let relay = start_relay!();
    let access = login(&relay, "alice").await;
    let created = relay.create_session(&access).await;
    let upper = created
        .id
        .to_string()
        .to_uppercase()
        .replacen("SESSION_", "session_", 1);
    let unknown = format!("session_{}", uuid::Uuid::new_v4());
    let staging = format!("session_staging_{}", uuid::Uuid::new_v4());
    for id in [
        "session_x",
        "..%2Fetc",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        upper.as_str(),
        unknown.as_str(),
        staging.as_str(),
    ] {
        let response = relay
            .http
            .get(sessions_url(&relay, &format!("/{id}")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        let (status, kind, _) = api_error(response).await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{id}"
        );
        let response = relay
            .http
            .delete(sessions_url(&relay, &format!("/{id}")))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(list(&relay, &access).await.len(), 1);
}

#[tokio::test]
async fn cookie_requests_need_our_origin_when_they_act() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let cookie = relay.browser_login("alice").await;

    // A safe GET needs no Origin.
    let listed = relay
        .http
        .get(sessions_url(&relay, ""))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Vec<Value> = listed.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], s.session.as_str());
    // But a GET that says where it comes from must come from us.
    let foreign_get = relay
        .http
        .get(sessions_url(&relay, ""))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_get.status(), StatusCode::FORBIDDEN);

    let create = |origin: Option<&str>| {
        let mut request = relay
            .http
            .post(sessions_url(&relay, ""))
            .header("cookie", &cookie)
            .json(&json!({"title": "from the browser"}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.unwrap() }
    };
    let (status, kind, message) = api_error(create(None).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(message.contains("Origin"), "{message}");
    let (status, kind, _) = api_error(create(Some("https://evil.example")).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        list(&relay, &s.access).await.len(),
        1,
        "nothing was created"
    );
    let ok = create(Some(&relay.url)).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    assert_eq!(list(&relay, &s.access).await.len(), 2);

    // WebSocket upgrades are checked like writes.
    let ws_url = relay.ws_url(&format!("/v1/code/sessions/{}/ws", s.session));
    let foreign = ws_connect(
        &ws_url,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(handshake_status(foreign), StatusCode::FORBIDDEN);
    let missing = ws_connect(&ws_url, &[("cookie", &cookie)]).await;
    assert_eq!(handshake_status(missing), StatusCode::FORBIDDEN);
    let mut ws = ws_connect(&ws_url, &[("cookie", &cookie), ("origin", &relay.url)])
        .await
        .expect("our own origin may open the socket");
    let message = user_message("typed in the browser");
    ws_send(&mut ws, &json!({"events": [message]})).await;
    let mut acked = false;
    while let Some(frame) = ws_next(&mut ws, Duration::from_secs(5)).await {
        if let Some(events) = frame["ack"]["events"].as_array() {
            assert_eq!(events[0]["id"], message.id.as_str(), "{frame}");
            acked = true;
            break;
        }
        assert!(frame.get("error").is_none(), "{frame}");
    }
    assert!(acked, "the write was acknowledged");
}

#[tokio::test]
async fn bridge_is_for_the_cli_and_bumps_the_epoch() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    assert_eq!(s.grant.worker_epoch, 1);
    assert_eq!(s.grant.api_base_url, relay.url);
    assert_eq!(s.grant.expires_in, 15 * 60);

    let cookie = relay.browser_login("alice").await;
    let response = relay
        .http
        .post(sessions_url(&relay, &format!("/{}/bridge", s.session)))
        .header("cookie", &cookie)
        .header("origin", &relay.url)
        .header("x-trusted-device-token", &s.device)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, kind, message) = api_error(response).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(message.contains("access token"), "{message}");

    // Each registration is the next epoch (the refused one above did not count).
    for expected in 2..=4 {
        let grant = relay.bridge(&s.access, &s.device, &s.session).await;
        assert_eq!(grant.worker_epoch, expected);
        assert_ne!(grant.worker_jwt, s.grant.worker_jwt);
    }
    // An empty body is as good as `{}`.
    let response = relay
        .http
        .post(sessions_url(&relay, &format!("/{}/bridge", s.session)))
        .bearer_auth(&s.access)
        .header("x-trusted-device-token", &s.device)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["worker_epoch"], 5);
    // The old worker's writes are now stale.
    let stale = relay
        .publish_worker(
            &s.grant,
            &s.session,
            &[event(
                "assistant_delta",
                json!({"message_id": "m", "text": "x"}),
            )],
        )
        .await;
    assert_eq!(api_error(stale).await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn titles_are_validated() {
    let relay = start_relay!();
    let access = login(&relay, "alice").await;
    let longest = "t".repeat(200);
    let ok = create_titled(&relay, &access, json!({"title": longest})).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
    // Characters, not bytes: 200 multi-byte characters are fine.
    let wide = create_titled(&relay, &access, json!({"title": "é".repeat(200)})).await;
    assert_eq!(wide.status(), StatusCode::CREATED);
    let id = ok.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Over the limit is 413, as docs/decisions.md says of every limit.
    let too_long = create_titled(&relay, &access, json!({"title": "t".repeat(201)})).await;
    let (status, kind, message) = api_error(too_long).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    assert!(message.contains("longer than 200"), "{message}");

    // Characters that reorder or hide text: bidi overrides, embeddings, isolates and marks,
    // zero-width spaces, line separators.
    for (title, code) in [
        ("invoice\u{202e}gpj.exe", "U+202E"),
        ("\u{202a}embedded", "U+202A"),
        ("isolate\u{2066}d\u{2069}", "U+2066"),
        ("first strong\u{2068}", "U+2068"),
        ("mark\u{200f}", "U+200F"),
        ("zero\u{200b}width", "U+200B"),
        ("two\u{2028}lines", "U+2028"),
        ("bom\u{feff}", "U+FEFF"),
    ] {
        let response = create_titled(&relay, &access, json!({"title": title})).await;
        let (status, kind, message) = api_error(response).await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{title:?}"
        );
        assert!(
            message.contains(code) && message.contains("invisible"),
            "{message}"
        );
    }
    // Right-to-left text and emoji sequences are ordinary titles.
    for title in ["جلسة جديدة", "👩\u{200d}💻 pairing"] {
        let response = create_titled(&relay, &access, json!({"title": title})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{title:?}");
    }

    for control in [
        "a\u{7}b",
        "line\nbreak",
        "nul\u{0}",
        "esc\u{1b}[31m",
        "c1\u{85}c1",
    ] {
        let response = create_titled(&relay, &access, json!({"title": control})).await;
        let (status, _, message) = api_error(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{control:?}");
        assert!(message.contains("control characters"), "{message}");
    }

    // The same rules on rename.
    let patch = |title: String| {
        let request = relay
            .http
            .patch(sessions_url(&relay, &format!("/{id}")))
            .bearer_auth(&access)
            .json(&json!({"title": title}));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        patch("t".repeat(201)).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        patch("bell\u{7}".into()).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        patch("rtl\u{202e}".into()).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(list(&relay, &access).await.len(), 4);
}

#[tokio::test]
async fn sessions_per_account_are_limited() {
    let relay = start_relay!(|c| c.limits.max_sessions_per_account = 2);
    let alice = login(&relay, "alice").await;
    let bob = login(&relay, "bob").await;
    let first = relay.create_session(&alice).await;
    relay.create_session(&alice).await;
    let third = create_titled(&relay, &alice, json!({"title": "third"})).await;
    let (status, kind, message) = api_error(third).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(message.contains("already has 2 sessions"), "{message}");
    assert_eq!(list(&relay, &alice).await.len(), 2);
    // Per account: bob still has room.
    relay.create_session(&bob).await;
    // And deleting one makes room again.
    let deleted = relay
        .http
        .delete(sessions_url(&relay, &format!("/{}", first.id)))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    relay.create_session(&alice).await;
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_401() {
    let relay = start_relay!();
    relay.add_user("alice");
    let tokens = relay.cli_login("alice").await;
    let cases: [(Option<&str>, &str); 7] = [
        (None, "Log in first"),
        (Some("Bearer"), "Authorization: Bearer"),
        (Some("Bearer   "), "Authorization: Bearer"),
        (Some("Basic YWxpY2U6cHc="), "Authorization: Bearer"),
        (Some("Bearer tthr_at_unknown"), "unknown or expired"),
        (
            Some("Bearer tthr_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "unknown or expired",
        ),
        (
            Some(&format!("Bearer {}", tokens.refresh_token)),
            "unknown or expired",
        ),
    ];
    for (authorization, fragment) in cases {
        for (method, path) in [
            (reqwest::Method::GET, "/v1/code/sessions"),
            (reqwest::Method::POST, "/v1/code/sessions"),
            (reqwest::Method::GET, "/v1/auth/trusted_devices"),
        ] {
            let mut request = relay
                .http
                .request(method.clone(), relay.at(path))
                .json(&json!({}));
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let (status, kind, message) = api_error(request.send().await.unwrap()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {authorization:?}"
            );
            assert_eq!(kind, "unauthorized");
            assert!(message.contains(fragment), "{authorization:?}: {message}");
        }
    }
    // The real token works, so the refusals above were about the credentials.
    assert_eq!(list(&relay, &tokens.access_token).await.len(), 0);
    // A worker token is not a client credential either.
    let s = relay.setup("bob").await;
    let response = relay
        .http
        .get(sessions_url(&relay, ""))
        .bearer_auth(&s.grant.worker_jwt)
        .send()
        .await
        .unwrap();
    let (status, kind, _) = api_error(response).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}

#[tokio::test]
async fn oversized_and_malformed_json_bodies() {
    let relay = start_relay!(|c| c.limits.max_body = 4096);
    let access = login(&relay, "alice").await;

    let big = create_titled(&relay, &access, json!({"title": "x".repeat(5000)})).await;
    let (status, kind, message) = api_error(big).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    assert!(message.contains("4096"), "{message}");

    // Without a Content-Length (chunked), the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"title\": \"".to_vec()),
        Ok(vec![b'y'; 5000]),
        Ok(b"\"}".to_vec()),
    ];
    let streamed = relay
        .http
        .post(sessions_url(&relay, ""))
        .bearer_auth(&access)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);

    for malformed in [
        "{\"title\": ",
        "{title: 'x'}",
        "[1, 2",
        "{\"title\": 5}",
        "\u{feff}{}",
    ] {
        let response = relay
            .http
            .post(sessions_url(&relay, ""))
            .bearer_auth(&access)
            .header("content-type", "application/json")
            .body(malformed)
            .send()
            .await
            .unwrap();
        let (status, kind, message) = api_error(response).await;
        assert_eq!(
            (status, kind.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{malformed}"
        );
        assert!(message.contains("not valid"), "{message}");
    }
    assert!(
        list(&relay, &access).await.is_empty(),
        "nothing was created"
    );
}
