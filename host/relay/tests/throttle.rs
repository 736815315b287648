//! Login throttling under attack: bursts of concurrent guesses, floods of password checks, the
//! client's address behind a TLS proxy, and bad pairing links.

mod common;
use common::*;

use reqwest::StatusCode;

/// `POST /login` with our Origin, extra headers and the given credentials: the status.
async fn login(relay: &TestRelay, name: &str, password: &str, headers: &[(&str, &str)]) -> u16 {
    login_response(relay, name, password, headers)
        .await
        .status()
        .as_u16()
}

async fn login_response(
    relay: &TestRelay,
    name: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = relay
        .post("/login")
        .header("origin", &relay.url)
        .form(&[("username", name), ("password", password)]);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

/// `n` logins at once; `name(i)` names the user of the i-th. The statuses, in order.
async fn burst(
    relay: &TestRelay,
    n: usize,
    name: impl Fn(usize) -> String,
    password: &str,
) -> Vec<u16> {
    let requests = (0..n).map(|i| {
        let name = name(i);
        async move { login(relay, &name, password, &[]).await }
    });
    futures::future::join_all(requests).await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn a_burst_of_guesses_for_one_account_is_throttled_like_a_sequence() {
    let relay = TestRelay::start().await;
    relay.add_user("alice");
    let statuses = burst(&relay, 60, |_| "alice".into(), "guess guess").await;
    // Five failures per account, as in a sequence; the other 55 are refused before any
    // password is checked.
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 55, "{statuses:?}");
    assert_eq!(relay.metric("tether_relay_password_checks_total").await, 5);
    assert_eq!(relay.metric("tether_relay_login_failures_total").await, 5);
    // Even the right password waits now.
    assert_eq!(login(&relay, "alice", PASSWORD, &[]).await, 429);
}

#[tokio::test]
async fn a_burst_from_one_address_is_throttled_like_a_sequence() {
    let relay = TestRelay::start().await;
    let statuses = burst(&relay, 40, |i| format!("nobody{i}"), "guess guess").await;
    assert_eq!(count(&statuses, 401), 20, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 20, "{statuses:?}");
    assert_eq!(relay.metric("tether_relay_password_checks_total").await, 20);
}

#[tokio::test]
async fn password_checks_are_bounded_and_the_rest_refused_at_once() {
    let relay = TestRelay::start_with(|c| {
        c.throttle.failures_per_account = 1000;
        c.throttle.failures_per_address = 30;
        c.throttle.password_workers = 1;
        c.throttle.password_queue = 1;
    })
    .await;
    relay.add_user("alice");
    let names: Vec<String> = (0..30).map(|i| format!("nobody{i}")).collect();
    let responses = futures::future::join_all(
        names
            .iter()
            .map(|name| login_response(&relay, name, "guess guess", &[])),
    )
    .await;
    let mut statuses = Vec::new();
    for r in responses {
        let status = r.status().as_u16();
        if status == 503 {
            assert_eq!(r.headers()["retry-after"], "1");
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = r.text().await.unwrap();
            assert!(body.contains("busy"), "{body}");
        }
        statuses.push(status);
    }
    let refused = count(&statuses, 503);
    assert!(
        refused >= 1,
        "one worker and one place in the queue: {statuses:?}"
    );
    assert_eq!(count(&statuses, 401) + refused, 30, "{statuses:?}");
    assert_eq!(
        relay.metric("tether_relay_password_checks_total").await,
        count(&statuses, 401) as u64,
        "only what was admitted was hashed"
    );
    assert_eq!(
        relay
            .metric("tether_relay_password_checks_refused_total")
            .await,
        refused as u64
    );
    // Refused checks were not counted as failures: the address still has room for alice.
    assert_eq!(login(&relay, "alice", PASSWORD, &[]).await, 303);
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_for_the_throttles() {
    let relay = TestRelay::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.throttle.failures_per_address = 3;
        c.throttle.failures_per_account = 100;
    })
    .await;
    relay.add_user("alice");
    let attacker = [("x-forwarded-for", "203.0.113.66")];
    for i in 0..3 {
        let name = format!("user{i}");
        assert_eq!(login(&relay, &name, "guess guess", &attacker).await, 401);
    }
    assert_eq!(login(&relay, "user9", "guess guess", &attacker).await, 429);
    // Everyone else behind the same proxy is unaffected, in either header's form.
    let others: [&[(&str, &str)]; 3] = [
        &[("x-forwarded-for", "198.51.100.7")],
        &[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")],
        // What the attacker's client wrote left of the proxy's entry is not believed.
        &[("x-forwarded-for", "203.0.113.66, 198.51.100.8")],
    ];
    for headers in others {
        assert_eq!(
            login(&relay, "alice", PASSWORD, headers).await,
            303,
            "{headers:?}"
        );
    }
    // And the attacker cannot escape by claiming another address to the left of its own.
    let spoof = [("x-forwarded-for", "198.51.100.9, 203.0.113.66")];
    assert_eq!(login(&relay, "alice", PASSWORD, &spoof).await, 429);
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let relay = TestRelay::start_with(|c| {
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        c.throttle.failures_per_address = 3;
        c.throttle.failures_per_account = 100;
    })
    .await;
    relay.add_user("alice");
    // A fresh made-up address each time: all of them are 127.0.0.1, which is not a proxy.
    for i in 0..3 {
        let spoof = format!("198.51.100.{i}");
        let headers = [
            ("x-forwarded-for", spoof.as_str()),
            ("forwarded", "for=192.0.2.1"),
        ];
        assert_eq!(login(&relay, &format!("user{i}"), "x", &headers).await, 401);
    }
    let fresh = [("x-forwarded-for", "192.0.2.200")];
    assert_eq!(login(&relay, "alice", PASSWORD, &fresh).await, 429);
}

#[tokio::test]
async fn bad_pairing_links_on_a_hosted_relay_lock_no_one_out() {
    let relay = TestRelay::start_with(|c| c.throttle.failures_per_address = 3).await;
    relay.add_user("alice");
    let s = relay.setup("bob").await;
    for i in 0..20 {
        let r = relay
            .get(&format!("/code/{}?pair=guess{i}", s.session))
            .send()
            .await
            .unwrap();
        // A hosted relay has no pairing secrets: the link is an ordinary link.
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "attempt {i}");
        assert!(r.headers().get("set-cookie").is_none());
    }
    assert_eq!(login(&relay, "alice", PASSWORD, &[]).await, 303);
}

#[tokio::test]
async fn a_burst_of_wrong_device_codes_is_throttled_like_a_sequence() {
    let relay = TestRelay::start().await;
    relay.add_user("alice");
    let cookie = relay.browser_login("alice").await;
    // Well-formed codes that no login is waiting for, so each is looked up.
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let guesses: Vec<String> = (0..30)
        .map(|i| {
            let (a, b) = (LETTERS[i / 20] as char, LETTERS[i % 20] as char);
            format!("BCDF-GH{a}{b}")
        })
        .collect();
    let answers = futures::future::join_all(
        guesses
            .iter()
            .map(|code| relay.post_decision(&cookie, code, "approve")),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    // Ten wrong codes per account in the window (twice the password limit), then 429.
    assert_eq!(count(&statuses, 404), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 20, "{statuses:?}");
}
