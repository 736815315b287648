//! Worker JWTs refused: expired, tampered, unsigned, the wrong role, the wrong session, used as a
//! client, replaced by an OAuth token, or superseded by a newer worker (stale epoch).

use std::time::Duration;

use crate::common::*;
use crate::start_relay;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tether_relay::auth::jwt::{self, WorkerClaims};
use tether_relay::auth::jwt_key::JwtKey;

const WAIT: Duration = Duration::from_secs(5);

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Status and error type of a worker request with `token`, for each worker endpoint: POST
/// events, PUT state, heartbeat, SSE stream and WebSocket.
async fn worker_answers(
    relay: &TestRelay,
    session: &str,
    token: &str,
    epoch: u64,
) -> Vec<(&'static str, u16, String)> {
    let base = format!("/v1/code/sessions/{session}");
    let mut out = Vec::new();
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        if status == 200 && r.headers()["content-type"] == "text/event-stream" {
            return (status, String::new()); // an open stream: never read to its end
        }
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (
            status,
            body["error"]["type"].as_str().unwrap_or("").to_owned(),
        )
    };
    let r = relay.post(&format!("{base}/worker/events"))
        .bearer_auth(token)
        .json(&json!({"worker_epoch": epoch, "events": [event("assistant_delta", json!({"message_id": "m", "text": "t"}))]}))
        .send()
        .await
        .unwrap();
    let (s, t) = answer(r).await;
    out.push(("POST events", s, t));
    let r = relay
        .http
        .put(relay.at(&format!("{base}/worker")))
        .bearer_auth(token)
        .json(&json!({"worker_epoch": epoch, "state": "running"}))
        .send()
        .await
        .unwrap();
    let (s, t) = answer(r).await;
    out.push(("PUT state", s, t));
    let r = relay
        .post(&format!("{base}/worker/heartbeat"))
        .bearer_auth(token)
        .json(&json!({"worker_epoch": epoch}))
        .send()
        .await
        .unwrap();
    let (s, t) = answer(r).await;
    out.push(("heartbeat", s, t));
    let r = relay
        .get(&format!("{base}/worker/events/stream"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (s, t) = answer(r).await;
    out.push(("SSE", s, t));
    let ws = ws_connect(
        &relay.ws_url(&format!("{base}/worker/ws")),
        &[("authorization", &bearer(token))],
    )
    .await;
    let s = match ws {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("ws: {e}"),
    };
    out.push(("WS", s, String::new()));
    out
}

fn assert_all(answers: &[(&'static str, u16, String)], status: u16, kind: &str) {
    for (what, s, t) in answers {
        assert_eq!(*s, status, "{what}: {answers:?}");
        if *what != "WS" {
            assert_eq!(t, kind, "{what}: {answers:?}");
        }
    }
}

/// A worker token whose POST is accepted: shows the setup is right before a variant is refused.
async fn accepted(relay: &TestRelay, s: &Setup, token: &str) {
    let r = relay
        .post(&format!("/v1/code/sessions/{}/worker/heartbeat", s.session))
        .bearer_auth(token)
        .json(&json!({"worker_epoch": s.grant.worker_epoch}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "the genuine token works"
    );
}

fn parts(token: &str) -> (String, String, String) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "{token}");
    (p[0].to_owned(), p[1].to_owned(), p[2].to_owned())
}

fn claims_of(token: &str) -> WorkerClaims {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts(token).1).unwrap()).unwrap()
}

fn relay_key(relay: &TestRelay) -> Vec<u8> {
    let key = relay.sql(|c| {
        c.query_one("SELECT value FROM meta WHERE key = 'jwt_key'", &[])?
            .blob(0)
    });
    assert_eq!(key.len(), 32);
    key
}

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

async fn ws_close_code(ws: &mut Ws, wait: Duration) -> Option<Option<u16>> {
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

#[tokio::test]
async fn an_expired_worker_jwt_is_401() {
    let relay = start_relay!(|c| c.lifetimes.worker_jwt = Duration::from_secs(1));
    let s = relay.setup("alice").await;
    assert_eq!(s.grant.expires_in, 1);
    let c = claims_of(&s.grant.worker_jwt);
    assert_eq!(c.exp, c.iat + 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let answers = worker_answers(
        &relay,
        &s.session,
        &s.grant.worker_jwt,
        s.grant.worker_epoch,
    )
    .await;
    assert_all(&answers, 401, "unauthorized");
    let r = relay
        .publish_worker(&s.grant, &s.session, &[event("assistant_delta", json!({}))])
        .await;
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    // A fresh /bridge is the way back.
    let grant = relay.bridge(&s.access, &s.device, &s.session).await;
    let r = relay
        .publish_worker(&grant, &s.session, &[event("assistant_delta", json!({}))])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tampered_worker_jwt_is_401() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let other = relay.create_session(&s.access).await;
    let token = &s.grant.worker_jwt;
    let (h, p, sig) = parts(token);

    // One character of the payload flipped.
    let mut chars: Vec<char> = p.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let flipped = format!("{h}.{}.{sig}", chars.into_iter().collect::<String>());
    assert_ne!(&flipped, token);
    assert_all(
        &worker_answers(&relay, &s.session, &flipped, s.grant.worker_epoch).await,
        401,
        "unauthorized",
    );

    // Well-formed claims re-encoded with another session or a higher epoch, old signature.
    let mut c = claims_of(token);
    c.sid = other.id.clone();
    let moved = format!(
        "{h}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
    );
    assert_all(
        &worker_answers(&relay, other.id.as_str(), &moved, s.grant.worker_epoch).await,
        401,
        "unauthorized",
    );
    let mut c = claims_of(token);
    c.exp += 3600;
    let longer = format!(
        "{h}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap())
    );
    assert_all(
        &worker_answers(&relay, &s.session, &longer, s.grant.worker_epoch).await,
        401,
        "unauthorized",
    );
    // A signature flipped.
    let mut sig_chars: Vec<char> = sig.chars().collect();
    sig_chars[0] = if sig_chars[0] == 'A' { 'B' } else { 'A' };
    let resigned = format!("{h}.{p}.{}", sig_chars.into_iter().collect::<String>());
    assert_all(
        &worker_answers(&relay, &s.session, &resigned, s.grant.worker_epoch).await,
        401,
        "unauthorized",
    );

    accepted(&relay, &s, token).await;
}

#[tokio::test]
async fn an_alg_none_worker_jwt_is_401() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let (_, payload, sig) = parts(&s.grant.worker_jwt);
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None","typ":"JWT"}"#,
    ] {
        let h = URL_SAFE_NO_PAD.encode(header);
        let unsigned = format!("{h}.{payload}.");
        assert_all(
            &worker_answers(&relay, &s.session, &unsigned, s.grant.worker_epoch).await,
            401,
            "unauthorized",
        );
        // Nor with the genuine signature still attached.
        let with_sig = format!("{h}.{payload}.{sig}");
        assert_all(
            &worker_answers(&relay, &s.session, &with_sig, s.grant.worker_epoch).await,
            401,
            "unauthorized",
        );
    }
    accepted(&relay, &s, &s.grant.worker_jwt).await;
}

#[tokio::test]
async fn a_validly_signed_token_with_another_role_is_403() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let key = relay_key(&relay);
    let mut claims = claims_of(&s.grant.worker_jwt);
    // The key is the relay's: re-signing the genuine claims gives a token it accepts.
    accepted(&relay, &s, &jwt::sign(&key, &claims)).await;
    for role in ["client", "admin", "", "Worker"] {
        claims.role = role.into();
        let forged = jwt::sign(&key, &claims);
        assert_all(
            &worker_answers(&relay, &s.session, &forged, s.grant.worker_epoch).await,
            403,
            "forbidden",
        );
    }
}

#[tokio::test]
async fn a_worker_jwt_for_another_session_is_403() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let b = relay.create_session(&s.access).await;
    // Session B even has a worker of its own at the same epoch number.
    let grant_b = relay.bridge(&s.access, &s.device, b.id.as_str()).await;
    assert_eq!(grant_b.worker_epoch, s.grant.worker_epoch);
    assert_all(
        &worker_answers(
            &relay,
            b.id.as_str(),
            &s.grant.worker_jwt,
            s.grant.worker_epoch,
        )
        .await,
        403,
        "forbidden",
    );
    // Nothing reached session B.
    let mut sse = Sse::open(
        &relay.http,
        &relay.at(&format!("/v1/code/sessions/{}/events/stream", b.id)),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    assert!(sse.drain(Duration::from_millis(300)).await.is_empty());
}

#[tokio::test]
async fn a_worker_jwt_cannot_act_as_a_client() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let token = &s.grant.worker_jwt;
    let check = |what: &'static str, r: reqwest::Response| async move {
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "forbidden", "{what}: {body}");
    };
    let r = relay
        .publish_client(token, &s.session, &[user_message("as a client")])
        .await;
    check("POST events", r).await;
    let r = relay
        .get(&format!("/v1/code/sessions/{}/events/stream", s.session))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    check("client SSE", r).await;
    let r = relay
        .get("/v1/code/sessions")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    check("GET sessions", r).await;
    let r = relay
        .get(&format!("/v1/code/sessions/{}", s.session))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    check("GET session", r).await;
    let r = relay
        .post(&format!("/v1/code/sessions/{}/bridge", s.session))
        .bearer_auth(token)
        .header("x-trusted-device-token", &s.device)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    check("bridge", r).await;
    match ws_connect(
        &relay.ws_url(&format!("/v1/code/sessions/{}/ws", s.session)),
        &[("authorization", &bearer(token))],
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "client WS")
        }
        other => panic!(
            "client WS with a worker token: {:?}",
            other.map(|_| "upgraded")
        ),
    }
    // The worker token is still good for what it is for.
    accepted(&relay, &s, token).await;
}

#[tokio::test]
async fn an_oauth_access_token_is_not_a_worker_token() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    assert_all(
        &worker_answers(&relay, &s.session, &s.access, s.grant.worker_epoch).await,
        401,
        "unauthorized",
    );
    // Nor is the device token, nor nothing at all.
    assert_all(
        &worker_answers(&relay, &s.session, &s.device, s.grant.worker_epoch).await,
        401,
        "unauthorized",
    );
    let r = relay
        .post(&format!("/v1/code/sessions/{}/worker/events", s.session))
        .json(&json!({"worker_epoch": s.grant.worker_epoch, "events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "no token");
}

#[tokio::test]
async fn a_superseded_worker_is_stopped_with_409_and_4409() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let old = s.grant.clone();
    let mut old_sse = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/worker/events/stream",
            s.session
        )),
        &[("authorization", &bearer(&old.worker_jwt))],
    )
    .await;
    assert_eq!(old_sse.status, StatusCode::OK);
    let mut old_ws = ws_connect(
        &relay.ws_url(&format!("/v1/code/sessions/{}/worker/ws", s.session)),
        &[("authorization", &bearer(&old.worker_jwt))],
    )
    .await
    .unwrap();
    // Both are live until the new registration.
    assert!(!sse_ends(&mut old_sse, Duration::from_millis(300)).await);
    assert!(
        ws_close_code(&mut old_ws, Duration::from_millis(300))
            .await
            .is_none()
    );

    let new = relay.bridge(&s.access, &s.device, &s.session).await;
    assert!(new.worker_epoch > old.worker_epoch);

    assert!(
        sse_ends(&mut old_sse, WAIT).await,
        "the old SSE stream ends"
    );
    assert_eq!(
        ws_close_code(&mut old_ws, WAIT).await,
        Some(Some(tether_protocol::StreamEnd::StaleEpoch.close_code())),
        "the old WebSocket closes with 4409"
    );
    let answers = worker_answers(&relay, &s.session, &old.worker_jwt, old.worker_epoch).await;
    assert_all(&answers, 409, "stale_epoch");

    // The new worker carries on, and nothing the old one tried was published.
    let p = relay
        .publish_worker(
            &new,
            &s.session,
            &[event("assistant_delta", json!({"text": "new"}))],
        )
        .await;
    assert_eq!(p.status(), StatusCode::OK);
    let mut all = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/events/stream?from_seq=0",
            s.session
        )),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    let texts: Vec<Value> = all
        .drain(Duration::from_millis(300))
        .await
        .into_iter()
        .filter(|e| e.kind != "worker_status")
        .map(|e| e.payload["text"].clone())
        .collect();
    assert_eq!(texts, [json!("new")]);
}

#[tokio::test]
async fn a_body_epoch_that_does_not_match_the_token_is_409() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let token = &s.grant.worker_jwt;
    let epoch = s.grant.worker_epoch;
    for wrong in [epoch + 1, epoch - 1] {
        let answers = worker_answers(&relay, &s.session, token, wrong).await;
        // The streams carry no body epoch; the three writes must refuse.
        assert_all(&answers[..3], 409, "stale_epoch");
    }
    // Over the WebSocket too.
    let mut ws = ws_connect(
        &relay.ws_url(&format!("/v1/code/sessions/{}/worker/ws", s.session)),
        &[("authorization", &bearer(token))],
    )
    .await
    .unwrap();
    ws_send(
        &mut ws,
        &json!({"worker_epoch": epoch + 1, "events": [event("assistant_delta", json!({}))]}),
    )
    .await;
    let reply = ws_next(&mut ws, WAIT).await.expect("a reply");
    assert_eq!(reply["error"]["type"], "stale_epoch", "{reply}");
    ws_send(
        &mut ws,
        &json!({"events": [event("assistant_delta", json!({}))]}),
    )
    .await;
    // (the socket may already be closed after the first refusal)
    let _ = ws_next(&mut ws, Duration::from_millis(300)).await;

    // None of it was published; the right epoch still works.
    let mut all = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/events/stream?from_seq=0",
            s.session
        )),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    let kinds: Vec<String> = all
        .drain(Duration::from_millis(300))
        .await
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k != "worker_status")
        .collect();
    assert!(kinds.is_empty(), "{kinds:?}");
    accepted(&relay, &s, token).await;
}

const KEY_A: &str = "3f1c9a0e5b7d2486f0a1c3e5b7d9f1a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4";
const KEY_B: &str = "a7e3915c0d2b48f6e1c3a5b7d9f0e2c4a6b8d0f1e3c5a7b9d1f3e5c7a9b1d3f5";

fn with_key_a(c: &mut tether_relay::RelayConfig) {
    c.jwt_key = Some(JwtKey::parse(KEY_A).unwrap());
}

fn with_key_b(c: &mut tether_relay::RelayConfig) {
    c.jwt_key = Some(JwtKey::parse(KEY_B).unwrap());
}

fn recorded_fingerprint(relay: &TestRelay) -> String {
    let fp = relay.sql(|c| {
        c.query_one(
            "SELECT value FROM meta WHERE key = 'jwt_key_fingerprint'",
            &[],
        )?
        .blob(0)
    });
    String::from_utf8(fp).unwrap()
}

/// `--jwt-key-file`: tokens are signed with the operator's key, not the database's, so a relay
/// restarted (or another node started) with the same file accepts them, one with another key or
/// with none refuses them, and the worker's way back is a fresh `/bridge`.
#[tokio::test]
async fn worker_tokens_follow_the_jwt_key_file() {
    let mut relay = start_relay!(with_key_a);
    let s = relay.setup("alice").await;
    let key_a = JwtKey::parse(KEY_A).unwrap();
    assert_eq!(
        jwt::sign(key_a.bytes(), &claims_of(&s.grant.worker_jwt)),
        s.grant.worker_jwt,
        "signed with the file's key"
    );
    let in_database = relay.sql(|c| {
        c.query_opt("SELECT value FROM meta WHERE key = 'jwt_key'", &[])
            .map(|row| row.is_some())
    });
    assert!(
        !in_database,
        "with a key file, no signing key is kept in the database"
    );
    assert_eq!(recorded_fingerprint(&relay), key_a.fingerprint());

    relay.restart_with(with_key_a).await;
    accepted(&relay, &s, &s.grant.worker_jwt).await;

    relay.restart_with(with_key_b).await;
    assert_eq!(
        recorded_fingerprint(&relay),
        JwtKey::parse(KEY_B).unwrap().fingerprint()
    );
    assert_all(
        &worker_answers(
            &relay,
            &s.session,
            &s.grant.worker_jwt,
            s.grant.worker_epoch,
        )
        .await,
        401,
        "unauthorized",
    );
    let grant = relay.bridge(&s.access, &s.device, &s.session).await;
    let r = relay
        .publish_worker(&grant, &s.session, &[event("assistant_delta", json!({}))])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a fresh /bridge is the way back"
    );

    relay.restart_with(|_| {}).await;
    let r = relay
        .publish_worker(&grant, &s.session, &[event("assistant_delta", json!({}))])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "back on the database's key"
    );
}

/// A node learns the fingerprint the last node to start recorded, to report a different key.
#[tokio::test]
async fn a_node_learns_the_key_fingerprint_of_the_last_node_to_start() {
    let relay = start_relay!(with_key_a);
    let a = JwtKey::parse(KEY_A).unwrap().fingerprint();
    let b = JwtKey::parse(KEY_B).unwrap().fingerprint();
    let before = relay.sql(move |c| tether_relay::store::record_jwt_key_fingerprint(c, &b));
    assert_eq!(before, Some(a));
}

// --- checks remembered for a second -------------------------------------------------------

/// An access token and a session's owner are checked from what the database said within the
/// last second. What is deleted behind the relay's back (`tether relay user remove`, another
/// node) is refused within that second, and never answered with anything but a refusal: an
/// append to a session that is gone is a `404`, not an error of the relay's.
#[tokio::test]
async fn credentials_deleted_behind_the_relay_are_refused_within_a_second() {
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let list = || async {
        relay
            .get("/v1/code/sessions")
            .bearer_auth(&s.access)
            .send()
            .await
            .unwrap()
            .status()
    };
    let post = || async {
        relay
            .publish_client(
                &s.access,
                &s.session,
                &[tether_relay::test_support::user_message("hi")],
            )
            .await
            .status()
    };
    // Checked once, so remembered.
    assert_eq!(list().await, StatusCode::OK);
    assert_eq!(post().await, StatusCode::OK);
    let store = relay.store.clone();
    tether_relay::test_support::server::blocking(move || {
        tether_relay::users::remove(&store, "alice").unwrap()
    });
    let removed = std::time::Instant::now();
    loop {
        let (listed, posted) = (list().await, post().await);
        assert!(
            matches!(posted, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND),
            "an append for a removed account: {posted}"
        );
        if listed == StatusCode::UNAUTHORIZED && posted == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(listed, StatusCode::OK, "until refused, still as before");
        assert!(
            removed.elapsed() < Duration::from_millis(1300),
            "still accepted {:?} after the token was deleted",
            removed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
