//! Browser login, the CLI's device login (RFC 8628), refresh-token rotation, trusted devices and
//! the relay's plain pages, driven over HTTP against a real relay.

use crate::common::*;
use crate::start_relay;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tether_protocol::api::{TokenResponse, TrustedDevice};

// ---------------------------------------------------------------------------------------------
// Helpers local to these tests.

/// `POST /login` with the given Origin (or none) and credentials.
async fn post_login(
    relay: &TestRelay,
    origin: Option<&str>,
    username: &str,
    password: &str,
    next: &str,
) -> reqwest::Response {
    let mut request = relay.post("/login").form(&[
        ("username", username),
        ("password", password),
        ("next", next),
    ]);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The status and `{error: {type, message}}` of a JSON API error.
async fn api_error(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["type"].as_str().unwrap().to_owned(),
        body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

/// `GET /v1/code/sessions` with an access token: just the status.
async fn list_status(relay: &TestRelay, access: &str) -> StatusCode {
    relay
        .get("/v1/code/sessions")
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

/// `POST /v1/oauth/token` with an arbitrary form: the status and the JSON body.
async fn token_request(relay: &TestRelay, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = relay
        .post("/v1/oauth/token")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn refresh(
    relay: &TestRelay,
    refresh_token: &str,
) -> Result<TokenResponse, (StatusCode, String)> {
    let (status, body) = token_request(
        relay,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "tether-cli"),
        ],
    )
    .await;
    if status == StatusCode::OK {
        Ok(serde_json::from_value(body).unwrap())
    } else {
        Err((
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        ))
    }
}

async fn list_devices(relay: &TestRelay, access: &str) -> Vec<TrustedDevice> {
    let response = relay
        .get("/v1/auth/trusted_devices")
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn revoke_device(relay: &TestRelay, access: &str, device_id: &str) -> reqwest::Response {
    relay
        .http
        .delete(relay.at(&format!("/v1/auth/trusted_devices/{device_id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

/// `POST …/bridge` with optional trusted-device token.
async fn bridge_raw(
    relay: &TestRelay,
    access: &str,
    device: Option<&str>,
    session: &str,
) -> reqwest::Response {
    let mut request = relay
        .post(&format!("/v1/code/sessions/{session}/bridge"))
        .bearer_auth(access)
        .json(&json!({}));
    if let Some(device) = device {
        request = request.header("x-trusted-device-token", device);
    }
    request.send().await.unwrap()
}

/// The relay counts time in whole seconds. Tests that need two requests to land in the same
/// second (or a 1 s credential to still be valid right after it is issued) start just after a
/// second boundary.
async fn start_of_a_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.subsec_millis();
    if into > 300 {
        tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Browser login.

#[tokio::test]
async fn login_page_is_a_form_with_strict_headers() {
    let relay = start_relay!();
    let response = relay.get("/login").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        header(&response, "content-security-policy").contains("default-src 'none'"),
        "{:?}",
        response.headers()
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(header(&response, "content-type").starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(
        body.contains("<form method=\"post\" action=\"/login\""),
        "{body}"
    );
    assert!(body.contains("name=\"username\""), "{body}");
    assert!(body.contains("name=\"password\""), "{body}");
    assert!(body.contains("name=\"next\" value=\"/code\""), "{body}");
}

#[tokio::test]
async fn login_redirects_to_next_with_a_strict_cookie() {
    let relay = start_relay!();
    relay.add_user("alice");
    let response = post_login(
        &relay,
        Some(&relay.url),
        "alice",
        PASSWORD,
        "/device?user_code=BCDF-GHJK",
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&response, "location"), "/device?user_code=BCDF-GHJK");
    let cookie = header(&response, "set-cookie").to_owned();
    // Named for the relay's port: another relay on this host has a cookie of its own.
    assert!(
        cookie.starts_with(&format!("tether_login_{}=", relay.addr.port())),
        "{cookie}"
    );
    let attributes: Vec<String> = cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.contains(&"httponly".to_owned()), "{cookie}");
    assert!(
        attributes.contains(&"samesite=strict".to_owned()),
        "{cookie}"
    );
    assert!(attributes.contains(&"path=/".to_owned()), "{cookie}");
    assert!(
        !attributes.iter().any(|a| a == "secure"),
        "no Secure over plain http: {cookie}"
    );

    // The cookie logs the browser in: the login page now sends it on.
    let pair = cookie.split(';').next().unwrap();
    let again = relay
        .get("/login?next=/code")
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&again, "location"), "/code");
}

#[tokio::test]
async fn login_never_redirects_off_the_relay() {
    let relay = start_relay!();
    relay.add_user("alice");
    for evil in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "evil",
        "",
    ] {
        let response = post_login(&relay, Some(&relay.url), "alice", PASSWORD, evil).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{evil:?}");
        assert_eq!(header(&response, "location"), "/code", "{evil:?}");
    }
    // The same rule on the GET side (the `next` carried in the form).
    let page = relay
        .get("/login?next=%2F%2Fevil.example")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"next\" value=\"/code\""), "{page}");
    assert!(!page.contains("evil.example"), "{page}");
}

#[tokio::test]
async fn wrong_credentials_get_401_and_no_cookie() {
    let relay = start_relay!();
    relay.add_user("alice");
    let wrong = post_login(
        &relay,
        Some(&relay.url),
        "alice",
        "not the password",
        "/code",
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(header(&wrong, "content-type").starts_with("text/html"));
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong user name or password.")
    );

    let unknown = post_login(&relay, Some(&relay.url), "mallory", PASSWORD, "/code").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(unknown.headers().get("set-cookie").is_none());
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("Wrong user name or password.")
    );
}

#[tokio::test]
async fn login_needs_our_origin() {
    let relay = start_relay!();
    relay.add_user("alice");
    let missing = post_login(&relay, None, "alice", PASSWORD, "/code").await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.headers().get("set-cookie").is_none());
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("needs an Origin header")
    );

    let foreign = post_login(
        &relay,
        Some("https://evil.example"),
        "alice",
        PASSWORD,
        "/code",
    )
    .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(foreign.headers().get("set-cookie").is_none());
    assert!(foreign.text().await.unwrap().contains("evil.example"));

    // The same port on another host name is another origin.
    let other_host = format!("http://localhost:{}", relay.addr.port());
    let response = post_login(&relay, Some(&other_host), "alice", PASSWORD, "/code").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn brute_force_on_one_account_is_throttled() {
    let relay = start_relay!(|c| c.throttle.failures_per_account = 3);
    relay.add_user("alice");
    relay.add_user("bob");
    for i in 0..3 {
        let r = post_login(&relay, Some(&relay.url), "alice", "guess guess", "/code").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Now even the right password is refused, with a time to come back.
    let limited = post_login(&relay, Some(&relay.url), "alice", PASSWORD, "/code").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&limited, "retry-after").parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    assert!(limited.headers().get("set-cookie").is_none());
    assert!(
        limited
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );

    // Another account from the same address is not affected.
    let bob = post_login(&relay, Some(&relay.url), "bob", PASSWORD, "/code").await;
    assert_eq!(bob.status(), StatusCode::SEE_OTHER);

    let metrics = relay.metrics().await;
    assert!(
        metrics.contains("\ntether_relay_rate_limited_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\ntether_relay_login_failures_total 3\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn brute_force_from_one_address_is_throttled() {
    let relay = start_relay!(|c| {
        c.throttle.failures_per_address = 3;
        c.throttle.failures_per_account = 100;
    });
    relay.add_user("alice");
    for name in ["user1", "user2", "user3"] {
        let r = post_login(&relay, Some(&relay.url), name, "guess guess", "/code").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    for name in ["user4", "alice"] {
        let r = post_login(&relay, Some(&relay.url), name, PASSWORD, "/code").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
        assert!(r.headers().get("retry-after").is_some());
    }
}

#[tokio::test]
async fn logout_ends_the_browser_login() {
    let relay = start_relay!();
    relay.add_user("alice");
    let cookie = relay.browser_login("alice").await;
    let get = |cookie: String| {
        let request = relay.get("/v1/code/sessions").header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(get(cookie.clone()).await.status(), StatusCode::OK);

    // Without an Origin, logging out is refused (and the login survives).
    let refused = relay
        .post("/logout")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(get(cookie.clone()).await.status(), StatusCode::OK);

    let response = relay
        .post("/logout")
        .header("origin", &relay.url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&response, "location"), "/login");
    let cleared = header(&response, "set-cookie");
    let name = cookie.split('=').next().unwrap();
    assert!(cleared.starts_with(&format!("{name}=;")), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("HttpOnly"), "{cleared}");

    let (status, kind, _) = api_error(get(cookie.clone()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(kind, "unauthorized");
    // And pages send the browser back to the login form.
    let page = relay
        .get("/code")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}

// ---------------------------------------------------------------------------------------------
// The device authorization grant.

#[tokio::test]
async fn device_page_needs_a_login_and_comes_back_after_it() {
    let relay = start_relay!();
    relay.add_user("alice");
    let response = relay.get("/device").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&response, "location"), "/login?next=%2Fdevice");

    let response = relay
        .get("/device?user_code=BCDF-GHJK")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&response, "location"),
        "/login?next=%2Fdevice%3Fuser_code%3DBCDF-GHJK"
    );

    // The login page carries `next` through the form, and the login goes back to it.
    let page = relay
        .get("/login?next=%2Fdevice%3Fuser_code%3DBCDF-GHJK")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("value=\"/device?user_code=BCDF-GHJK\""),
        "{page}"
    );
    let login = post_login(
        &relay,
        Some(&relay.url),
        "alice",
        PASSWORD,
        "/device?user_code=BCDF-GHJK",
    )
    .await;
    assert_eq!(header(&login, "location"), "/device?user_code=BCDF-GHJK");
    let cookie = header(&login, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let page = relay
        .get("/device?user_code=BCDF-GHJK")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, "content-security-policy").contains("default-src 'none'"));
    let body = page.text().await.unwrap();
    assert!(body.contains("value=\"BCDF-GHJK\""), "{body}");
    assert!(body.contains("value=\"approve\""), "{body}");
}

#[tokio::test]
async fn device_code_answer_follows_rfc_8628() {
    let relay = start_relay!();
    let code = relay.device_code().await;
    assert_eq!(code.interval, 1);
    assert_eq!(code.expires_in, 600);
    assert_eq!(code.verification_uri, relay.at("/device"));
    assert_eq!(
        code.verification_uri_complete,
        format!("{}?user_code={}", relay.at("/device"), code.user_code)
    );
    assert_eq!(code.user_code.len(), 9);
    assert_eq!(&code.user_code[4..5], "-");
    assert!(
        code.device_code.starts_with("tthr_dc_"),
        "{}",
        code.device_code
    );

    let response = relay
        .post("/v1/oauth/device/code")
        .form(&[("client_id", "someone-else")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn device_code_requests_are_throttled_per_address() {
    let relay = start_relay!(|c| c.throttle.device_codes_per_address = 2);
    relay.device_code().await;
    relay.device_code().await;
    let response = relay
        .post("/v1/oauth/device/code")
        .form(&[("client_id", "tether-cli")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "slow_down");
}

#[tokio::test]
async fn polling_too_fast_earns_slow_down() {
    let relay = start_relay!();
    let code = relay.device_code().await;
    start_of_a_second().await;
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "authorization_pending".to_owned())
    );
    // Right away again: inside the 1 s interval.
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "slow_down".to_owned())
    );
    // slow_down added 5 s to the interval (RFC 8628 §3.5), so 1 s later is still too fast.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "slow_down".to_owned())
    );
}

#[tokio::test]
async fn approval_issues_tokens_exactly_once() {
    let relay = start_relay!();
    relay.add_user("alice");
    let code = relay.device_code().await;
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "authorization_pending".to_owned())
    );
    let cookie = relay.browser_login("alice").await;
    let approved = relay
        .post_decision(&cookie, &code.user_code, "approve")
        .await;
    assert_eq!(approved.status(), StatusCode::OK);
    assert!(approved.text().await.unwrap().contains("Approved."));

    // Wait out the polling interval, then the tokens come.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let tokens = relay.poll_token(&code.device_code).await.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 3600);
    assert!(tokens.access_token.starts_with("tthr_at_"));
    assert!(tokens.refresh_token.starts_with("tthr_rt_"));
    assert_eq!(
        list_status(&relay, &tokens.access_token).await,
        StatusCode::OK
    );

    // The device code is spent.
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "invalid_grant".to_owned())
    );
    // And its user code can no longer be decided.
    let again = relay
        .post_decision(&cookie, &code.user_code, "approve")
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn denial_is_access_denied() {
    let relay = start_relay!();
    relay.add_user("alice");
    let code = relay.device_code().await;
    let cookie = relay.browser_login("alice").await;
    let denied = relay.post_decision(&cookie, &code.user_code, "deny").await;
    assert_eq!(denied.status(), StatusCode::OK);
    assert!(denied.text().await.unwrap().contains("Denied."));
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "access_denied".to_owned())
    );
    // A denied request cannot be approved afterwards.
    let approve = relay
        .post_decision(&cookie, &code.user_code, "approve")
        .await;
    assert_eq!(approve.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unanswered_request_expires() {
    let relay = start_relay!(|c| c.lifetimes.device_code = Duration::from_secs(1));
    relay.add_user("alice");
    let code = relay.device_code().await;
    assert_eq!(code.expires_in, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "expired_token".to_owned())
    );
    // Too late to approve, too.
    let cookie = relay.browser_login("alice").await;
    let late = relay
        .post_decision(&cookie, &code.user_code, "approve")
        .await;
    assert_eq!(late.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn token_endpoint_refuses_bad_requests_in_oauth_terms() {
    let relay = start_relay!();
    let code = relay.device_code().await;
    let grant = "urn:ietf:params:oauth:grant-type:device_code";
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("grant_type", grant),
                ("device_code", &code.device_code),
                ("client_id", "not-the-cli"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            &[("grant_type", grant), ("device_code", &code.device_code)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[
                ("device_code", &code.device_code),
                ("client_id", "tether-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[("grant_type", "password"), ("client_id", "tether-cli")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", grant), ("client_id", "tether-cli")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[
                ("grant_type", grant),
                ("device_code", "garbage"),
                ("client_id", "tether-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            // Well formed, but never issued.
            &[
                ("grant_type", grant),
                (
                    "device_code",
                    "tthr_dc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
                ("client_id", "tether-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "garbage"),
                ("client_id", "tether-cli"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (form, status, error) in cases {
        let (got, body) = token_request(&relay, form).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (*status, *error),
            "{form:?}: {body}"
        );
    }
    // None of that counted as a poll of the real code.
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err().1,
        "authorization_pending"
    );
}

#[tokio::test]
async fn user_codes_forgive_case_and_spaces() {
    let relay = start_relay!();
    relay.add_user("alice");
    let code = relay.device_code().await;
    let cookie = relay.browser_login("alice").await;
    let sloppy = format!(" {} ", code.user_code.to_lowercase().replace('-', " "));
    let approved = relay.post_decision(&cookie, &sloppy, "approve").await;
    assert_eq!(approved.status(), StatusCode::OK);
    let tokens = relay.poll_token(&code.device_code).await.unwrap();
    assert_eq!(
        list_status(&relay, &tokens.access_token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_user_codes_and_foreign_origins_approve_nothing() {
    let relay = start_relay!();
    relay.add_user("alice");
    let code = relay.device_code().await;
    let cookie = relay.browser_login("alice").await;
    // A code that cannot exist (and one that could but was never issued).
    let other = if code.user_code == "BCDF-GHJK" {
        "BCDF-GHJL"
    } else {
        "BCDF-GHJK"
    };
    for wrong in ["1234-5678", other] {
        let response = relay.post_decision(&cookie, wrong, "approve").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{wrong}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("No login is waiting for that code")
        );
    }
    // The right code, from another site's page.
    let foreign = relay
        .post("/device")
        .header("origin", "https://evil.example")
        .header("cookie", &cookie)
        .form(&[
            ("user_code", code.user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    // Or with no login at all.
    let anonymous = relay
        .post("/device")
        .header("origin", &relay.url)
        .form(&[
            ("user_code", code.user_code.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    // A decision that is neither.
    let odd = relay.post_decision(&cookie, &code.user_code, "maybe").await;
    assert_eq!(odd.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "authorization_pending".to_owned())
    );
}

#[tokio::test]
async fn guessing_user_codes_is_throttled() {
    // Guesses allowed per account: twice the login failures.
    let relay = start_relay!(|c| c.throttle.failures_per_account = 2);
    relay.add_user("alice");
    relay.add_user("bob");
    let code = relay.device_code().await;
    let cookie = relay.browser_login("alice").await;
    let wrong = if code.user_code == "BCDF-GHJK" {
        "BCDF-GHJL"
    } else {
        "BCDF-GHJK"
    };
    for i in 0..4 {
        let r = relay.post_decision(&cookie, wrong, "approve").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "guess {i}");
    }
    let limited = relay
        .post_decision(&cookie, &code.user_code, "approve")
        .await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get("retry-after").is_some());
    assert!(
        limited
            .text()
            .await
            .unwrap()
            .contains("Too many wrong codes")
    );
    assert_eq!(
        relay.poll_token(&code.device_code).await.unwrap_err().1,
        "authorization_pending"
    );
    // The limit is alice's, not bob's.
    let bob = relay.browser_login("bob").await;
    assert_eq!(
        relay
            .post_decision(&bob, &code.user_code, "approve")
            .await
            .status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------------
// Tokens.

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_login() {
    let relay = start_relay!();
    relay.add_user("alice");
    let first = relay.cli_login("alice").await;
    let second = refresh(&relay, &first.refresh_token).await.unwrap();
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.token_type, "Bearer");
    assert_eq!(
        list_status(&relay, &second.access_token).await,
        StatusCode::OK
    );

    // The first refresh token comes back: someone copied it. The whole login ends.
    assert_eq!(
        refresh(&relay, &first.refresh_token).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "invalid_grant".to_owned())
    );
    assert_eq!(
        list_status(&relay, &second.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        list_status(&relay, &first.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&relay, &second.refresh_token).await.unwrap_err(),
        (StatusCode::BAD_REQUEST, "invalid_grant".to_owned())
    );

    // Another login of the same account is a different family and lives on.
    let other = relay.cli_login("alice").await;
    assert_eq!(
        list_status(&relay, &other.access_token).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn access_tokens_expire() {
    let relay = start_relay!(|c| c.lifetimes.access_token = Duration::from_secs(1));
    relay.add_user("alice");
    start_of_a_second().await;
    let tokens = relay.cli_login("alice").await;
    assert_eq!(tokens.expires_in, 1);
    assert_eq!(
        list_status(&relay, &tokens.access_token).await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = relay
        .get("/v1/code/sessions")
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    let (status, kind, message) = api_error(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(kind, "unauthorized");
    assert!(message.contains("expired"), "{message}");
    // The refresh token still gets a new pair.
    let renewed = refresh(&relay, &tokens.refresh_token).await.unwrap();
    assert!(renewed.access_token.starts_with("tthr_at_"));
}

// ---------------------------------------------------------------------------------------------
// Trusted devices.

#[tokio::test]
async fn trusted_devices_enrol_list_and_revoke() {
    let relay = start_relay!();
    relay.add_user("alice");
    let tokens = relay.cli_login("alice").await;
    let access = tokens.access_token.as_str();
    let response = relay
        .post("/v1/auth/trusted_devices")
        .bearer_auth(access)
        .json(&json!({"display_name": "laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let enrolled: Value = response.json().await.unwrap();
    let device_id = enrolled["device_id"].as_str().unwrap().to_owned();
    let device_token = enrolled["device_token"].as_str().unwrap().to_owned();
    assert!(device_id.starts_with("dev_"), "{device_id}");
    assert!(device_token.starts_with("tthr_dt_"), "{device_token}");

    let devices = list_devices(&relay, access).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device_id, device_id);
    assert_eq!(devices[0].display_name, "laptop");
    assert_eq!(devices[0].last_used_at, None);

    let session = relay.create_session(access).await;
    let grant = relay
        .bridge(access, &device_token, session.id.as_str())
        .await;
    assert_eq!(grant.worker_epoch, 1);
    assert!(list_devices(&relay, access).await[0].last_used_at.is_some());

    assert_eq!(
        revoke_device(&relay, access, &device_id).await.status(),
        StatusCode::NO_CONTENT
    );
    // The login that enrolled the device ended with it (tests/revoke.rs); carry on with another.
    assert_eq!(list_status(&relay, access).await, StatusCode::UNAUTHORIZED);
    let again = relay.cli_login("alice").await;
    let access = again.access_token.as_str();
    assert!(list_devices(&relay, access).await.is_empty());
    let (status, kind, _) = api_error(revoke_device(&relay, access, &device_id).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    // The revoked device can no longer register workers; nor can a request without one.
    let (status, kind, message) =
        api_error(bridge_raw(&relay, access, Some(&device_token), session.id.as_str()).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(message.contains("not trusted"), "{message}");
    let (status, _, message) =
        api_error(bridge_raw(&relay, access, None, session.id.as_str()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message.contains("X-Trusted-Device-Token"), "{message}");
    let (status, _, _) =
        api_error(bridge_raw(&relay, access, Some("tthr_dt_garbage"), session.id.as_str()).await)
            .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bridge_without_a_device_when_the_relay_does_not_require_one() {
    let relay = start_relay!(|c| c.require_trusted_device = false);
    relay.add_user("alice");
    let tokens = relay.cli_login("alice").await;
    let session = relay.create_session(&tokens.access_token).await;
    let response = bridge_raw(&relay, &tokens.access_token, None, session.id.as_str()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let grant: Value = response.json().await.unwrap();
    assert_eq!(grant["worker_epoch"], 1);
    assert_eq!(grant["api_base_url"], relay.url.as_str());
}

#[tokio::test]
async fn enrolment_only_right_after_login() {
    let relay = start_relay!(|c| c.lifetimes.enrolment_window = Duration::from_secs(0));
    relay.add_user("alice");
    let tokens = relay.cli_login("alice").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = relay
        .post("/v1/auth/trusted_devices")
        .bearer_auth(&tokens.access_token)
        .json(&json!({"display_name": "late"}))
        .send()
        .await
        .unwrap();
    let (status, kind, message) = api_error(response).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(message.contains("right after logging in"), "{message}");
    assert!(list_devices(&relay, &tokens.access_token).await.is_empty());
}

#[tokio::test]
async fn enrolment_is_not_for_browsers() {
    let relay = start_relay!();
    relay.add_user("alice");
    let cookie = relay.browser_login("alice").await;
    let response = relay
        .post("/v1/auth/trusted_devices")
        .header("cookie", &cookie)
        .header("origin", &relay.url)
        .json(&json!({"display_name": "browser"}))
        .send()
        .await
        .unwrap();
    let (status, kind, message) = api_error(response).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(message.contains("access token"), "{message}");
}

#[tokio::test]
async fn another_account_cannot_revoke_my_device() {
    let relay = start_relay!();
    let alice = relay.setup("alice").await;
    relay.add_user("bob");
    let bob = relay.cli_login("bob").await;
    let devices = list_devices(&relay, &alice.access).await;
    assert_eq!(devices.len(), 1);
    assert!(list_devices(&relay, &bob.access_token).await.is_empty());

    let (status, kind, _) =
        api_error(revoke_device(&relay, &bob.access_token, &devices[0].device_id).await).await;
    assert_eq!(
        (status, kind.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(list_devices(&relay, &alice.access).await, devices);
    // Still trusted: alice's worker can register again.
    let grant = relay
        .bridge(&alice.access, &alice.device, &alice.session)
        .await;
    assert_eq!(grant.worker_epoch, alice.grant.worker_epoch + 1);
    // And bob cannot use alice's device token for his own sessions either.
    let bobs = relay.create_session(&bob.access_token).await;
    let response = bridge_raw(
        &relay,
        &bob.access_token,
        Some(&alice.device),
        bobs.id.as_str(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// Plain pages.

#[tokio::test]
async fn healthz_and_metrics() {
    let relay = start_relay!();
    let health = relay.get("/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");

    let s = relay.setup("alice").await;
    let published = relay
        .publish_client(&s.access, &s.session, &[user_message("hi")])
        .await;
    assert_eq!(published.status(), StatusCode::OK);

    let addr = relay.server().metrics_addr().unwrap();
    let metrics = relay
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(header(&metrics, "content-type").starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("# HELP tether_relay_events_published_total "),
        "{text}"
    );
    assert!(
        text.contains("# TYPE tether_relay_events_published_total counter\n"),
        "{text}"
    );
    let published: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tether_relay_events_published_total "))
        .expect("a sample line")
        .parse()
        .unwrap();
    assert!(published >= 1, "{text}");
    assert!(
        text.contains("\ntether_relay_sessions_created_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\ntether_relay_bridges_issued_total 1\n"),
        "{text}"
    );
    // Every sample has its HELP and TYPE (a histogram's under its family's name).
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let sample = line.split([' ', '{']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.strip_suffix(suffix))
            .filter(|f| text.contains(&format!("# TYPE {f} histogram\n")))
            .unwrap_or(sample);
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}");
    }
    // The database's latency is timed (this test's own requests read and wrote).
    for op in ["read", "write"] {
        let count: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("tether_relay_store_seconds_count{{op=\"{op}\"}} "))
            })
            .expect("a latency count")
            .parse()
            .unwrap();
        assert!(count >= 1, "{op}: {text}");
    }
}

#[tokio::test]
async fn sessions_page_needs_a_login_and_escapes_titles() {
    let relay = start_relay!();
    let response = relay.get("/code").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&response, "location"), "/login?next=%2Fcode");

    relay.add_user("alice");
    let tokens = relay.cli_login("alice").await;
    let created = relay
        .post("/v1/code/sessions")
        .bearer_auth(&tokens.access_token)
        .json(&json!({"title": "<script>x</script>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let cookie = relay.browser_login("alice").await;
    let page = relay
        .get("/code")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, "content-security-policy").contains("default-src 'none'"));
    let body = page.text().await.unwrap();
    assert!(body.contains("&lt;script&gt;x&lt;/script&gt;"), "{body}");
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains(&format!("href=\"/code/{id}\"")), "{body}");

    let one = relay
        .get(&format!("/code/{id}"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    let body = one.text().await.unwrap();
    assert!(body.contains("&lt;script&gt;x&lt;/script&gt;"), "{body}");
    assert!(!body.contains("<script>"), "{body}");

    // Another account sees neither the session nor its page.
    relay.add_user("bob");
    let bob = relay.browser_login("bob").await;
    let page = relay
        .get("/code")
        .header("cookie", &bob)
        .send()
        .await
        .unwrap();
    assert!(!page.text().await.unwrap().contains(&id));
    let theirs = relay
        .get(&format!("/code/{id}"))
        .header("cookie", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_login_form_is_refused_whole() {
    let relay = start_relay!();
    relay.add_user("alice");
    let body = format!("username=alice&password={}", "a".repeat(70 * 1024));
    let response = relay
        .post("/login")
        .header("origin", &relay.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn garbage_login_forms_are_client_errors() {
    let relay = start_relay!();
    relay.add_user("alice");
    let bodies: [&[u8]; 5] = [
        b"\xff\xfe\xfd=\x80\x81",
        b"username=%ff%fe&password=%80%81",
        b"garbage",
        b"username=alice",
        b"username=alice&password=x&username=bob",
    ];
    for body in bodies {
        let response = relay
            .post("/login")
            .header("origin", &relay.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
            "{body:?}: {status}"
        );
        assert!(response.headers().get("set-cookie").is_none());
    }
    // The relay is still fine afterwards.
    relay.browser_login("alice").await;
}
