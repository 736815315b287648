//! Ending a login: RFC 7009 revocation (what `tether logout` calls), and a revoked trusted
//! device taking the login that enrolled it along.

mod common;
use common::*;

use reqwest::StatusCode;
use serde_json::{Value, json};

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
    let response = relay
        .post("/v1/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "tether-cli"),
        ])
        .send()
        .await
        .unwrap();
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
    let renewed: Value = relay
        .post("/v1/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", s.refresh.as_str()),
            ("client_id", "tether-cli"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let devices: Vec<Value> = relay
        .get("/v1/auth/trusted_devices")
        .bearer_auth(&laptop.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = devices
        .iter()
        .find(|d| d["device_id"] != laptop_device.device_id.as_str())
        .unwrap()["device_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // From the laptop, revoke the first machine: its login goes with it.
    let revoked = relay
        .http
        .delete(relay.at(&format!("/v1/auth/trusted_devices/{first}")))
        .bearer_auth(&laptop.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
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
