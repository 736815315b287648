//! The embedded relay's login: the terminal logs itself in, and a one-time secret in the QR
//! code's URL logs in whoever opens it first.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use tether_protocol::RelayKind;

async fn local() -> (TestRelay, i64, String, String) {
    let relay = TestRelay::start_with(|c| {
        c.kind = RelayKind::Local;
        c.require_trusted_device = false;
        c.throttle.failures_per_address = 3;
    })
    .await;
    let login = relay.server().local_login("local").await.unwrap();
    let session = relay.create_session(&login.tokens.access_token).await;
    assert!(
        session.id.as_str().starts_with("session_local_"),
        "{}",
        session.id
    );
    (
        relay,
        login.account,
        login.tokens.access_token,
        session.id.to_string(),
    )
}

#[tokio::test]
async fn a_pairing_secret_logs_in_once_and_leaves_the_url() {
    let (relay, account, _access, session) = local().await;
    let secret = relay
        .server()
        .pairing_secret(account, Duration::from_secs(60));
    assert!(relay.server().pairing_live(&secret));
    let response = relay
        .get(&format!("/code/{session}?pair={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], format!("/code/{session}"));
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(!relay.server().pairing_live(&secret));

    // The cookie is a login for the local account: it can follow the session.
    let stream = Sse::open(
        &relay.http,
        &relay.at(&format!("/v1/code/sessions/{session}/events/stream")),
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(stream.status, StatusCode::OK);
    let page = relay
        .get(&format!("/code/{session}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Whoever scans the same code later gets nothing.
    let again = relay
        .get(&format!("/code/{session}?pair={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.headers().get("set-cookie").is_none());
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("already used or has expired")
    );
}

#[tokio::test]
async fn an_expired_or_made_up_secret_is_refused_and_guessing_is_throttled() {
    let (relay, account, _access, session) = local().await;
    let secret = relay.server().pairing_secret(account, Duration::ZERO);
    let expired = relay
        .get(&format!("/code/{session}?pair={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    for guess in ["x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        let r = relay
            .get(&format!("/code/{session}?pair={guess}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // Three failures from this address: even a good secret now waits.
    let good = relay
        .server()
        .pairing_secret(account, Duration::from_secs(60));
    let r = relay
        .get(&format!("/code/{session}?pair={good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(
        relay.server().pairing_live(&good),
        "a refused attempt does not spend the secret"
    );
}

#[tokio::test]
async fn the_local_account_cannot_log_in_with_a_password() {
    let (relay, _account, access, _session) = local().await;
    for password in ["!", "", "local"] {
        let r = relay
            .post("/login")
            .header("origin", &relay.url)
            .form(&[("username", "local"), ("password", password)])
            .send()
            .await
            .unwrap();
        // The embedded relay has no password logins at all: nothing is checked.
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{password:?}");
    }
    assert_eq!(relay.metric("tether_relay_password_checks_total").await, 0);
    // Its terminal login works like a device login: sessions, and /bridge without a device.
    let sessions = relay
        .get("/v1/code/sessions")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(sessions.status(), StatusCode::OK);
    // A second local_login reuses the account.
    let again = relay.server().local_login("local").await.unwrap();
    let listed: serde_json::Value = relay
        .get_json("/v1/code/sessions", &again.tokens.access_token)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}
