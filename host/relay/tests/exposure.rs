//! What a relay exposes and to whom: login cookies that stay with their relay, the embedded
//! relay's short list of routes, `/metrics` only where the operator put it, and pages that stay
//! pages when the database fails.

mod common;
use common::*;

use reqwest::StatusCode;
use tether_protocol::RelayKind;

fn set_cookie(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn two_relays_on_one_host_keep_their_own_login_cookies() {
    let (a, b) = (TestRelay::start().await, TestRelay::start().await);
    a.add_user("alice");
    b.add_user("bob");
    let (alice, bob) = (a.browser_login("alice").await, b.browser_login("bob").await);
    let name = |cookie: &str| cookie.split('=').next().unwrap().to_owned();
    assert_eq!(name(&alice), format!("tether_login_{}", a.addr.port()));
    assert_eq!(name(&bob), format!("tether_login_{}", b.addr.port()));
    // Cookies are not isolated by port: a browser sends both to each relay. Each takes its own
    // and neither login replaced the other.
    let jar = format!("{alice}; {bob}");
    for relay in [&a, &b] {
        let sessions = relay.get("/v1/code/sessions").header("cookie", &jar);
        assert_eq!(status(sessions).await, StatusCode::OK, "{}", relay.url);
    }
    // Logging out of one clears only its own cookie.
    let out = a
        .post("/logout")
        .header("origin", &a.url)
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&out).starts_with(&format!("{}=;", name(&alice))));
    let sessions = b.get("/v1/code/sessions").header("cookie", &jar);
    assert_eq!(status(sessions).await, StatusCode::OK);
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_secure() {
    let relay =
        TestRelay::start_with(|c| c.public_url = Some("https://relay.example".into())).await;
    relay.add_user("alice");
    // The relay itself is reached over plain HTTP, as behind a TLS proxy.
    let at = |path: &str| format!("http://{}{path}", relay.addr);
    let response = relay
        .http
        .post(at("/login"))
        .header("origin", "https://relay.example")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("__Host-tether_login_443="), "{cookie}");
    let attributes: Vec<String> = cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    // What `__Host-` demands: Secure, Path=/, no Domain.
    assert!(attributes.contains(&"secure".to_owned()), "{cookie}");
    assert!(attributes.contains(&"path=/".to_owned()), "{cookie}");
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let sessions = relay
        .http
        .get(at("/v1/code/sessions"))
        .header("cookie", pair);
    assert_eq!(status(sessions).await, StatusCode::OK);
    // The unprefixed name is someone else's cookie.
    let value = pair.split_once('=').unwrap().1;
    let plain = relay
        .http
        .get(at("/v1/code/sessions"))
        .header("cookie", format!("tether_login_443={value}"));
    assert_eq!(status(plain).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_embedded_relay_serves_no_device_flow_password_form_or_metrics() {
    let relay = TestRelay::start_with(|c| {
        c.kind = RelayKind::Local;
        c.require_trusted_device = false;
        c.metrics_listen = None;
    })
    .await;
    let login = relay.server().local_login("local").await.unwrap();
    let device_code = relay
        .post("/v1/oauth/device/code")
        .form(&[("client_id", "tether-cli")]);
    assert_eq!(status(device_code).await, StatusCode::NOT_FOUND);
    assert_eq!(
        status(relay.get("/device?user_code=BCDF-GHJK")).await,
        StatusCode::NOT_FOUND
    );
    let grant = relay.post("/v1/oauth/token").form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", "tthr_dc_x"),
        ("client_id", "tether-cli"),
    ]);
    let grant = grant.send().await.unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = grant.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    assert_eq!(status(relay.get("/metrics")).await, StatusCode::NOT_FOUND);
    assert!(relay.server().metrics_addr().is_none());

    // No password form, and posting one checks no password.
    let page = relay.get("/login").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("QR code") && !text.contains("<form method=\"post\" action=\"/login\""),
        "{text}"
    );
    let post = relay
        .post("/login")
        .header("origin", &relay.url)
        .form(&[("username", "local"), ("password", "!")]);
    assert_eq!(status(post).await, StatusCode::NOT_FOUND);

    // What it does need still works: the terminal's token refresh, and pages.
    let refresh = relay.post("/v1/oauth/token").form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", login.tokens.refresh_token.as_str()),
        ("client_id", "tether-cli"),
    ]);
    assert_eq!(status(refresh).await, StatusCode::OK);
    assert_eq!(status(relay.get("/healthz")).await, StatusCode::OK);
}

#[tokio::test]
async fn a_hosted_relay_serves_metrics_only_on_the_metrics_listener() {
    let relay = TestRelay::start().await;
    assert_eq!(status(relay.get("/metrics")).await, StatusCode::NOT_FOUND);
    let addr = relay.server().metrics_addr().unwrap();
    assert_ne!(addr.port(), relay.addr.port());
    let scraped = relay.http.get(format!("http://{addr}/metrics"));
    assert_eq!(status(scraped).await, StatusCode::OK);
    // The metrics listener serves nothing else of the relay.
    for path in ["/login", "/code", "/v1/code/sessions"] {
        let other = relay.http.get(format!("http://{addr}{path}"));
        assert_eq!(status(other).await, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn with_a_token_metrics_are_served_publicly_to_its_bearer_only() {
    let relay =
        TestRelay::start_with(|c| c.metrics_token = Some("scrape-me-0123456789".into())).await;
    assert_eq!(
        status(relay.get("/metrics")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(relay.get("/metrics").bearer_auth("scrape-me-0123456788")).await,
        StatusCode::UNAUTHORIZED
    );
    let ok = relay
        .get("/metrics")
        .bearer_auth("scrape-me-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("tether_relay_password_checks_total")
    );
}

/// Make every write of a new browser login fail, as a full disk would.
fn fail_login_writes(relay: &TestRelay) {
    let db = rusqlite::Connection::open(relay.sqlite_path()).unwrap();
    db.execute_batch(
        "CREATE TRIGGER disk_full BEFORE INSERT ON browser_logins
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .unwrap();
}

#[tokio::test]
async fn when_the_database_fails_the_login_page_is_still_a_page() {
    let relay = TestRelay::start().await;
    relay.add_user("alice");
    fail_login_writes(&relay);
    let response = relay
        .post("/login")
        .header("origin", &relay.url)
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("set-cookie").is_none());
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(response.headers().contains_key("content-security-policy"));
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(body.contains("internal error"), "{body}");
}
