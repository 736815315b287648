//! Ending a login: RFC 7009 revocation (what `tether logout` calls), and a revoked trusted
//! device taking the login that enrolled it along.

mod common;
use common::*;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// `POST /v1/oauth/revoke` with `form`: the status and the body.
async fn revoke(relay: &TestRelay, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = relay
        .post("/v1/oauth/revoke")
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn revoke_token(relay: &TestRelay, token: &str, hint: &str) -> StatusCode {
    revoke(
        relay,
        &[
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", "tether-cli"),
        ],
    )
    .await
    .0
}

/// What an access token can still do: list sessions, and publish into one.
async fn access_works(relay: &TestRelay, access: &str, session: &str) -> (StatusCode, StatusCode) {
    let list = relay
        .get("/v1/code/sessions")
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status();
    let inject = relay
        .publish_client(access, session, &[user_message("rm -rf ~")])
        .await
        .status();
    (list, inject)
}

/// A refresh with `refresh`: the error code, or `None` when it worked.
async fn refresh_error(relay: &TestRelay, refresh: &str) -> Option<String> {
    let response = relay.refresh(refresh).await;
    if response.status() == StatusCode::OK {
        return None;
    }
    let body: Value = response.json().await.unwrap();
    Some(body["error"].as_str().unwrap().to_owned())
}

const DEAD: (StatusCode, StatusCode) = (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED);
const ALIVE: (StatusCode, StatusCode) = (StatusCode::OK, StatusCode::OK);

#[tokio::test]
async fn revoking_the_refresh_token_ends_the_whole_login() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let other = relay.cli_login("alice").await;
    assert_eq!(access_works(&relay, &s.access, &s.session).await, ALIVE);

    assert_eq!(
        revoke_token(&relay, &s.refresh, "refresh_token").await,
        StatusCode::OK
    );
    assert_eq!(access_works(&relay, &s.access, &s.session).await, DEAD);
    assert_eq!(
        refresh_error(&relay, &s.refresh).await.as_deref(),
        Some("invalid_grant")
    );
    // Revoking again, or a token nobody issued, is still `200` (RFC 7009 §2.2).
    assert_eq!(
        revoke_token(&relay, &s.refresh, "refresh_token").await,
        StatusCode::OK
    );
    let made_up = format!("tthr_rt_{}", "A".repeat(43));
    assert_eq!(
        revoke_token(&relay, &made_up, "refresh_token").await,
        StatusCode::OK
    );
    assert_eq!(
        revoke_token(&relay, "garbage", "access_token").await,
        StatusCode::OK
    );
    // The account's other login is not touched.
    assert_eq!(
        access_works(&relay, &other.access_token, &s.session).await,
        ALIVE
    );
    assert_eq!(refresh_error(&relay, &other.refresh_token).await, None);
}

#[tokio::test]
async fn revoking_the_access_token_ends_the_whole_login_whatever_the_hint() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    // A rotation first: the family, not the one pair, is what ends.
    let renewed: Value = relay.refresh(&s.refresh).await.json().await.unwrap();
    let (access, refresh) = (
        renewed["access_token"].as_str().unwrap(),
        renewed["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(
        revoke_token(&relay, &s.access, "refresh_token").await,
        StatusCode::OK
    );
    assert_eq!(access_works(&relay, access, &s.session).await, DEAD);
    assert_eq!(access_works(&relay, &s.access, &s.session).await, DEAD);
    assert_eq!(
        refresh_error(&relay, refresh).await.as_deref(),
        Some("invalid_grant")
    );
}

#[tokio::test]
async fn revocation_requests_are_checked_in_oauth_terms() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let error = |body: &str| -> String {
        serde_json::from_str::<Value>(body).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, body) = revoke(&relay, &[("client_id", "tether-cli")]).await;
    assert_eq!(
        (status, error(&body).as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = revoke(&relay, &[("token", &s.refresh), ("client_id", "evil")]).await;
    assert_eq!(
        (status, error(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let (status, body) = revoke(&relay, &[("token", &s.refresh)]).await;
    assert_eq!(
        (status, error(&body).as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    // None of those revoked anything.
    assert_eq!(access_works(&relay, &s.access, &s.session).await, ALIVE);
}

#[tokio::test]
async fn revoking_a_device_revokes_the_login_that_enrolled_it() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    // A second machine of the same account, with its own login and device.
    let laptop = relay.cli_login("alice").await;
    let laptop_device = relay.enroll(&laptop.access_token).await;

    // From the laptop, revoke the first machine: its login goes with it.
    assert_eq!(
        revoke_the_other_device(&relay, &laptop.access_token, &laptop_device.device_id).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(access_works(&relay, &s.access, &s.session).await, DEAD);
    assert_eq!(
        refresh_error(&relay, &s.refresh).await.as_deref(),
        Some("invalid_grant")
    );
    let bridge = relay
        .post(&format!("/v1/code/sessions/{}/bridge", s.session))
        .bearer_auth(&s.access)
        .header("x-trusted-device-token", &s.device)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(bridge.status(), StatusCode::UNAUTHORIZED);
    // The laptop carries on.
    assert_eq!(
        access_works(&relay, &laptop.access_token, &s.session).await,
        ALIVE
    );
    relay
        .bridge(
            &laptop.access_token,
            &laptop_device.device_token,
            &s.session,
        )
        .await;
}

// Live streams and worker tokens: authorised once, when they were opened or minted, they must
// still end with the login.

const WAIT: Duration = Duration::from_secs(5);
/// The relay's close code for a stream whose login was revoked.
const CLOSE_REVOKED: u16 = tether_protocol::StreamEnd::Revoked.close_code();

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn client_ws(relay: &TestRelay, access: &str, session: &str) -> Ws {
    let url = relay.ws_url(&format!("/v1/code/sessions/{session}/ws"));
    ws_connect(&url, &[("authorization", &bearer(access))])
        .await
        .unwrap()
}

async fn client_sse(relay: &TestRelay, access: &str, session: &str) -> Sse {
    let url = relay.at(&format!("/v1/code/sessions/{session}/events/stream"));
    let sse = Sse::open(&relay.http, &url, &[("authorization", &bearer(access))]).await;
    assert_eq!(sse.status, StatusCode::OK);
    sse
}

/// The code the socket is closed with within `WAIT` (`None`: it was not), skipping events.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.ok()?? {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code.into()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Whether a write on the socket is acknowledged.
async fn acked(ws: &mut Ws, text: &str) -> bool {
    ws_send(ws, &json!({"events": [user_message(text)]})).await;
    while let Some(frame) = ws_next(ws, WAIT).await {
        if frame.get("ack").is_some() {
            return true;
        }
        if frame.get("error").is_some() {
            return false;
        }
    }
    false
}

/// Whether the SSE stream ends (rather than idling on keepalives) within `WAIT`.
async fn sse_ends(sse: &mut Sse) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if sse.next_frame(deadline - Instant::now()).await.is_none() {
            return Instant::now() < deadline;
        }
    }
    false
}

/// Whether `sse` delivers an event with `text` within `WAIT`.
async fn sse_delivers(sse: &mut Sse, text: &str) -> bool {
    while let Some(event) = sse.next_event(WAIT).await {
        if event.payload["text"] == text {
            return true;
        }
    }
    false
}

async fn heartbeat(relay: &TestRelay, s: &Setup) -> StatusCode {
    relay
        .post(&format!("/v1/code/sessions/{}/worker/heartbeat", s.session))
        .bearer_auth(&s.grant.worker_jwt)
        .json(&json!({ "worker_epoch": s.grant.worker_epoch }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_client_websocket_closes_when_its_login_is_revoked() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let other = relay.cli_login("alice").await;
    let mut revoked = client_ws(&relay, &s.access, &s.session).await;
    let mut kept = client_ws(&relay, &other.access_token, &s.session).await;
    assert!(acked(&mut revoked, "before").await);

    assert_eq!(
        revoke_token(&relay, &s.refresh, "refresh_token").await,
        StatusCode::OK
    );
    assert_eq!(close_code(&mut revoked).await, Some(CLOSE_REVOKED));
    // Nothing more gets through it.
    let after = revoked
        .send(Message::Text(
            json!({"events": [user_message("after")]})
                .to_string()
                .into(),
        ))
        .await;
    assert!(after.is_err() || ws_next(&mut revoked, WAIT).await.is_none());
    // The account's other login keeps its socket, and sees no write from the revoked one.
    assert!(acked(&mut kept, "still here").await);
    let mut log = client_sse(&relay, &other.access_token, &s.session).await;
    let texts: Vec<Value> = log
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .map(|e| e.payload["text"].clone())
        .collect();
    assert!(texts.contains(&json!("before")) && texts.contains(&json!("still here")));
    assert!(!texts.contains(&json!("after")), "{texts:?}");
}

#[tokio::test]
async fn an_sse_stream_ends_when_its_login_is_revoked() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let other = relay.cli_login("alice").await;
    let mut revoked = client_sse(&relay, &s.access, &s.session).await;
    let mut kept = client_sse(&relay, &other.access_token, &s.session).await;

    assert_eq!(
        revoke_token(&relay, &s.access, "access_token").await,
        StatusCode::OK
    );
    assert!(
        sse_ends(&mut revoked).await,
        "the revoked login's stream ended"
    );
    let published = relay
        .publish_client(&other.access_token, &s.session, &[user_message("hello")])
        .await;
    assert_eq!(published.status(), StatusCode::OK);
    assert!(sse_delivers(&mut kept, "hello").await);
}

#[tokio::test]
async fn a_worker_token_of_a_revoked_login_is_refused_and_its_streams_end() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let worker_ws = relay.ws_url(&format!("/v1/code/sessions/{}/worker/ws", s.session));
    let mut ws = ws_connect(
        &worker_ws,
        &[("authorization", &bearer(&s.grant.worker_jwt))],
    )
    .await
    .unwrap();
    let worker_sse = relay.at(&format!(
        "/v1/code/sessions/{}/worker/events/stream",
        s.session
    ));
    let auth = bearer(&s.grant.worker_jwt);
    let mut sse = Sse::open(&relay.http, &worker_sse, &[("authorization", &auth)]).await;
    assert_eq!(sse.status, StatusCode::OK);
    assert_eq!(heartbeat(&relay, &s).await, StatusCode::NO_CONTENT);

    assert_eq!(
        revoke_token(&relay, &s.refresh, "refresh_token").await,
        StatusCode::OK
    );
    assert_eq!(close_code(&mut ws).await, Some(CLOSE_REVOKED));
    assert!(sse_ends(&mut sse).await, "the worker's SSE stream ended");
    assert_eq!(heartbeat(&relay, &s).await, StatusCode::UNAUTHORIZED);
    let events = relay
        .publish_worker(
            &s.grant,
            &s.session,
            &[event("assistant_message", json!({"text": "x"}))],
        )
        .await;
    assert_eq!(events.status(), StatusCode::UNAUTHORIZED);
    let body: Value = events.json().await.unwrap();
    assert!(body.to_string().contains("revoked"), "{body}");
    let reopened = ws_connect(&worker_ws, &[("authorization", &auth)]).await;
    assert!(reopened.is_err(), "a revoked worker token opens no stream");
}

#[tokio::test]
async fn a_revoked_worker_token_stays_refused_after_a_restart() {
    let mut relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    revoke_token(&relay, &s.access, "access_token").await;
    relay.restart_with(|_| {}).await;
    assert_eq!(heartbeat(&relay, &s).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_device_ends_the_streams_of_the_login_that_enrolled_it() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let laptop = relay.cli_login("alice").await;
    let laptop_device = relay.enroll(&laptop.access_token).await;
    let mut revoked = client_ws(&relay, &s.access, &s.session).await;
    let mut kept = client_ws(&relay, &laptop.access_token, &s.session).await;

    assert_eq!(
        revoke_the_other_device(&relay, &laptop.access_token, &laptop_device.device_id).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(close_code(&mut revoked).await, Some(CLOSE_REVOKED));
    assert_eq!(heartbeat(&relay, &s).await, StatusCode::UNAUTHORIZED);
    assert!(acked(&mut kept, "the laptop carries on").await);
}

#[tokio::test]
async fn a_browser_logout_ends_that_browser_logins_streams() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let cookie = relay.browser_login("alice").await;
    let other = relay.browser_login("alice").await;
    let url = relay.ws_url(&format!("/v1/code/sessions/{}/ws", s.session));
    let origin = relay.url.clone();
    let mut revoked = ws_connect(&url, &[("cookie", &cookie), ("origin", &origin)])
        .await
        .unwrap();
    let mut kept = ws_connect(&url, &[("cookie", &other), ("origin", &origin)])
        .await
        .unwrap();

    let response = relay
        .post("/logout")
        .header("origin", &relay.url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(close_code(&mut revoked).await, Some(CLOSE_REVOKED));
    assert!(acked(&mut kept, "the other tab carries on").await);
}

/// From the login holding `access` (whose own device is `own`), revoke the account's other
/// trusted device; the answer's status.
async fn revoke_the_other_device(relay: &TestRelay, access: &str, own: &str) -> StatusCode {
    let devices: Vec<Value> = relay.get_json("/v1/auth/trusted_devices", access).await;
    let other = devices.iter().find(|d| d["device_id"] != own).unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay
        .http
        .delete(relay.at(&format!("/v1/auth/trusted_devices/{other}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}
