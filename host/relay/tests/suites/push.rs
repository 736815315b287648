//! Web Push: subscriptions kept per account and device, a worker's call handed to the devices
//! that want its kind, signed and encrypted as a browser's push service and the browser itself
//! check it (verified by `push/verify.py`, with Python's `cryptography` and Mozilla's `http_ece`,
//! not tether's code), retried when the service is busy and forgotten when it says gone.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tether_protocol::push::{Notified, PushDevice, PushDevices, PushKey};

use crate::common::*;
use crate::start_relay;
use tether_relay::store::sql::Param;

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(400);

/// The Python with `http_ece` that `push/verify.py` needs: `$TETHER_TEST_PYTHON`, the one
/// `.ci/run` makes under `target/test-python`, or `python3`. `None` (the test says it is
/// skipped) when none has it; in CI that fails.
fn python() -> Option<PathBuf> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("TETHER_TEST_PYTHON").map(PathBuf::from),
        Some(workspace.join("target/test-python/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import http_ece, cryptography"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    let why = "Python with http_ece is missing: `python3 -m venv target/test-python && \
               target/test-python/bin/pip install http_ece` (what .ci/run does)";
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// What `verify.py` makes of one request: the VAPID claims and key, and the decrypted message.
fn verify(
    python: &PathBuf,
    sub: &TestSubscription,
    got: &Received,
    aud: &str,
) -> (Value, String, Value) {
    use base64::Engine as _;
    use std::io::Write as _;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/push/verify.py");
    let input = json!({
        "authorization": got.headers.get("authorization").expect("an Authorization header"),
        "aud": aud,
        "body": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&got.body),
        "private_key": sub.private_key,
        "auth": sub.auth,
    });
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "verify.py refused the request: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message: Value = serde_json::from_str(v["plaintext"].as_str().unwrap()).unwrap();
    (
        v["claims"].clone(),
        v["k"].as_str().unwrap().to_owned(),
        message,
    )
}

/// `body` sent as JSON with `method` to `path`, as `access`'s owner.
async fn send(
    relay: &TestRelay,
    method: reqwest::Method,
    path: &str,
    access: &str,
    body: Value,
) -> reqwest::Response {
    relay
        .http
        .request(method, relay.at(path))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn subscribe(
    relay: &TestRelay,
    access: &str,
    device: &str,
    sub: &TestSubscription,
    kinds: &[&str],
) -> reqwest::Response {
    let body = json!({
        "endpoint": sub.endpoint,
        "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
        "kinds": kinds,
    });
    let path = format!("/v1/push/subscriptions/{device}");
    send(relay, reqwest::Method::PUT, &path, access, body).await
}

async fn notify(relay: &TestRelay, s: &Setup, body: Value) -> reqwest::Response {
    let path = format!("/v1/code/sessions/{}/worker/notify", s.session);
    send(
        relay,
        reqwest::Method::POST,
        &path,
        &s.grant.worker_jwt,
        body,
    )
    .await
}

/// The relay's count of push messages that ended as `outcome` (or of retries).
async fn pushes(relay: &TestRelay, outcome: &str) -> u64 {
    relay
        .metric(&format!(
            "tether_relay_pushes_total{{outcome=\"{outcome}\"}}"
        ))
        .await
}

async fn devices(relay: &TestRelay, access: &str) -> Vec<PushDevice> {
    let listed: PushDevices = relay.get_json("/v1/push/subscriptions", access).await;
    listed.devices
}

#[tokio::test]
async fn a_workers_call_reaches_the_devices_that_want_it_signed_and_encrypted() {
    let service = PushService::get();
    let relay = start_relay!();
    let Some(python) = python() else { return };
    let s = relay.setup("alice").await;
    let key: PushKey = relay.get_json("/v1/push/key", &s.access).await;
    let phone = service.subscribe();
    let laptop = service.subscribe();
    let r = subscribe(
        &relay,
        &s.access,
        "phone-1",
        &phone,
        &["permission", "done"],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let shown: PushDevice = r.json().await.unwrap();
    assert_eq!(shown.device, "phone-1");
    assert_eq!(shown.service, "127.0.0.1");
    let r = subscribe(&relay, &s.access, "laptop", &laptop, &["done"]).await;
    assert_eq!(r.status(), StatusCode::OK);

    let sealed =
        json!({"v": 1, "g": 1, "sender": "w", "n": 3, "nonce": "bm9uY2U", "ct": "Y2lwaGVy"});
    let r = notify(
        &relay,
        &s,
        json!({"kind": "permission", "tag": "req-1", "sealed": sealed}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.json::<Notified>().await.unwrap().devices, 1);
    let got = service.wait(&phone.path, 1, WAIT).await;
    assert_eq!(got.len(), 1, "one push to the phone");
    let push = &got[0];
    assert_eq!(push.headers["content-encoding"], "aes128gcm");
    assert_eq!(push.headers["urgency"], "high");
    assert!(push.headers["ttl"].parse::<u64>().unwrap() > 0);
    let (claims, k, message) = verify(&python, &phone, push, service.origin());
    assert_eq!(
        k, key.public_key,
        "signed with the key browsers subscribe with"
    );
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
    assert_eq!(
        message,
        json!({"v": 1, "session": s.session, "title": "test", "kind": "permission", "tag": "req-1", "sealed": sealed}),
    );
    assert!(
        service.wait(&laptop.path, 1, QUIET).await.is_empty(),
        "the laptop wants only `done`"
    );

    // Answered somewhere: the call is withdrawn on the devices that could show it.
    let r = notify(
        &relay,
        &s,
        json!({"kind": "permission", "tag": "req-1", "close": true}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let got = service.wait(&phone.path, 2, WAIT).await;
    let (_, _, message) = verify(&python, &phone, &got[1], service.origin());
    assert_eq!(message["close"], true);
    assert_eq!(message["tag"], "req-1");
    assert!(message.get("sealed").is_none());

    // Both devices want `done`.
    notify(
        &relay,
        &s,
        json!({"kind": "done", "tag": "turn-1", "sealed": sealed}),
    )
    .await;
    assert_eq!(service.wait(&laptop.path, 1, WAIT).await.len(), 1);
    assert_eq!(service.wait(&phone.path, 3, WAIT).await.len(), 3);
    assert_eq!(pushes(&relay, "delivered").await, 4);
}

#[tokio::test]
async fn a_busy_service_is_retried_as_it_asks_and_a_gone_subscription_is_forgotten() {
    let service = PushService::get();
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let busy = service.subscribe();
    let gone = service.subscribe();
    service.answer(&busy.path, &[(429, Some("1")), (503, None)]);
    service.answer(&gone.path, &[(410, None)]);
    for (device, sub) in [("busy", &busy), ("gone", &gone)] {
        let r = subscribe(&relay, &s.access, device, sub, &["question"]).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = notify(&relay, &s, json!({"kind": "question", "tag": "q"})).await;
    assert_eq!(r.json::<Notified>().await.unwrap().devices, 2);

    let got = service.wait(&busy.path, 3, WAIT).await;
    assert_eq!(got.len(), 3, "429, then 503, then delivered");
    let waited = |i: usize| got[i + 1].at.duration_since(got[i].at);
    assert!(
        waited(0) >= Duration::from_millis(900),
        "Retry-After: 1 obeyed: {:?}",
        waited(0)
    );
    assert!(
        waited(1) >= Duration::from_millis(900),
        "then the backoff: {:?}",
        waited(1)
    );
    assert_eq!(service.wait(&gone.path, 1, WAIT).await.len(), 1);
    let mut left = Vec::new();
    for _ in 0..50 {
        left = devices(&relay, &s.access).await;
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        left.iter().map(|d| d.device.as_str()).collect::<Vec<_>>(),
        ["busy"],
        "a subscription its service calls gone is forgotten"
    );
    assert_eq!(pushes(&relay, "retried").await, 2);
    assert_eq!(pushes(&relay, "gone").await, 1);
}

#[tokio::test]
async fn hostile_subscriptions_are_refused_and_nothing_is_stored() {
    let service = PushService::get();
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let sub = service.subscribe();
    let put = |device: &str, body: Value| {
        relay
            .http
            .put(relay.at(&format!("/v1/push/subscriptions/{device}")))
            .bearer_auth(&s.access)
            .json(&body)
            .send()
    };
    let keys = json!({"p256dh": sub.p256dh, "auth": sub.auth});
    let cases = [
        (
            "ok-device",
            json!({"endpoint": "http://127.0.0.1:1/push/x", "keys": keys}),
            "HTTPS",
        ),
        (
            "ok-device",
            json!({"endpoint": "https://169.254.169.254/latest", "keys": keys}),
            "does not push",
        ),
        (
            "ok-device",
            json!({"endpoint": "file:///etc/passwd", "keys": keys}),
            "not a URL",
        ),
        (
            "ok-device",
            json!({"endpoint": sub.endpoint, "keys": {"p256dh": "AAAA", "auth": sub.auth}}),
            "p256dh",
        ),
        (
            "ok-device",
            json!({"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": "AAAA"}}),
            "auth",
        ),
        (
            "ok-device",
            json!({"endpoint": sub.endpoint, "keys": keys, "kinds": []}),
            "at least one",
        ),
        (
            "ok-device",
            json!({"endpoint": sub.endpoint, "keys": keys, "kinds": ["bogus"]}),
            "unknown variant `bogus`",
        ),
        (
            "ok-device",
            json!({"endpoint": sub.endpoint, "keys": keys, "extra": 1}),
            "extra",
        ),
        (
            "bad device",
            json!({"endpoint": sub.endpoint, "keys": keys}),
            "device id",
        ),
    ];
    for (device, body, why) in cases {
        let r = put(device, body.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(why), "{body}: {text}");
    }
    assert!(devices(&relay, &s.access).await.is_empty());

    // The cap on devices, and removal.
    for i in 0..20 {
        let r = subscribe(
            &relay,
            &s.access,
            &format!("d{i}"),
            &service.subscribe(),
            &["done"],
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = subscribe(&relay, &s.access, "one-more", &sub, &["done"]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let again = subscribe(&relay, &s.access, "d3", &sub, &["question"]).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a device already there may change"
    );
    let remove = |device: &str, access: &str| {
        relay
            .http
            .delete(relay.at(&format!("/v1/push/subscriptions/{device}")))
            .bearer_auth(access)
            .send()
    };
    let bob = relay.setup("bob").await;
    assert_eq!(
        remove("d3", &bob.access).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        remove("d3", &s.access).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        remove("d3", &s.access).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(devices(&relay, &s.access).await.len(), 19);
    assert!(devices(&relay, &bob.access).await.is_empty());
}

#[tokio::test]
async fn notify_without_a_worker_token_or_with_a_bad_body_is_refused() {
    let service = PushService::get();
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let sub = service.subscribe();
    subscribe(&relay, &s.access, "phone", &sub, &["permission"]).await;
    let path = format!("/v1/code/sessions/{}/worker/notify", s.session);
    let call = json!({"kind": "permission", "tag": "t"});
    let as_client = relay
        .post(&path)
        .bearer_auth(&s.access)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(as_client.status(), StatusCode::UNAUTHORIZED);
    let other = relay.create_session(&s.access).await;
    let elsewhere = relay
        .post(&format!("/v1/code/sessions/{}/worker/notify", other.id))
        .bearer_auth(&s.grant.worker_jwt)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    let big = json!({"kind": "permission", "tag": "t", "sealed": {"ct": "x".repeat(4000)}});
    assert_eq!(
        notify(&relay, &s, big).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for bad in [
        json!({"kind": "permission", "tag": ""}),
        json!({"kind": "permission", "tag": "a\u{1b}[2J"}),
        json!({"kind": "permission", "tag": "x".repeat(200)}),
        json!({"kind": "shout", "tag": "t"}),
        json!({"kind": "permission"}),
    ] {
        assert_eq!(
            notify(&relay, &s, bad.clone()).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert!(
        service.wait(&sub.path, 1, QUIET).await.is_empty(),
        "nothing refused was pushed"
    );
}

async fn look(relay: &TestRelay, access: &str, session: &str, body: Value) -> reqwest::Response {
    let path = format!("/v1/push/looking/{session}");
    send(relay, reqwest::Method::PUT, &path, access, body).await
}

#[tokio::test]
async fn no_call_is_pushed_while_a_page_looks_at_the_session_and_one_is_after_it_looks_away() {
    let service = PushService::get();
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let sub = service.subscribe();
    subscribe(&relay, &s.access, "phone", &sub, &["permission"]).await;
    let session = s.session.to_string();
    let visible = json!({"device": "laptop", "visible": true});
    assert_eq!(
        look(&relay, &s.access, &session, visible).await.status(),
        StatusCode::NO_CONTENT
    );
    let call = json!({"kind": "permission", "tag": "r1"});
    let answer = notify(&relay, &s, call.clone()).await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let answer: Notified = answer.json().await.unwrap();
    assert_eq!(
        answer,
        Notified {
            devices: 0,
            looking: true
        }
    );
    // A withdrawal is never held: a call pushed before must go, whoever looks.
    let close = json!({"kind": "permission", "tag": "r0", "close": true});
    let answer: Notified = notify(&relay, &s, close).await.json().await.unwrap();
    assert!(!answer.looking);
    assert_eq!(service.wait(&sub.path, 1, WAIT).await.len(), 1);
    assert_eq!(pushes(&relay, "looking").await, 1);

    let hidden = json!({"device": "laptop", "visible": false});
    assert_eq!(
        look(&relay, &s.access, &session, hidden).await.status(),
        StatusCode::NO_CONTENT
    );
    let answer: Notified = notify(&relay, &s, call.clone()).await.json().await.unwrap();
    assert_eq!(
        answer,
        Notified {
            devices: 1,
            looking: false
        }
    );
    assert_eq!(service.wait(&sub.path, 2, WAIT).await.len(), 2);

    // A page that said "visible" and then went silent counts as gone once its time passed.
    let stale = session.clone();
    relay.sql(move |c| {
        let past = (tether_relay::store::now_ms() - 1) as i64;
        c.execute(
            "INSERT INTO push_looking (session_id, device, until_ms) VALUES (?1, 'closed-tab', ?2)",
            &[Param::Text(&stale), Param::Int(past)],
        )
    });
    let answer: Notified = notify(&relay, &s, call).await.json().await.unwrap();
    assert!(!answer.looking, "a stale page mutes nothing");
}

#[tokio::test]
async fn looking_at_a_session_of_another_account_or_with_a_bad_body_is_refused() {
    let relay = start_relay!();
    let alice = relay.setup("alice").await;
    let bob = relay.setup("bob").await;
    let visible = json!({"device": "laptop", "visible": true});
    let theirs = look(
        &relay,
        &bob.access,
        &alice.session.to_string(),
        visible.clone(),
    )
    .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let unknown = look(
        &relay,
        &alice.access,
        "session_00000000-0000-4000-8000-000000000000",
        visible.clone(),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let anonymous = relay
        .http
        .put(relay.at(&format!("/v1/push/looking/{}", alice.session)))
        .json(&visible)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    for bad in [
        json!({"device": "", "visible": true}),
        json!({"device": "x".repeat(65), "visible": true}),
        json!({"device": "a\u{1b}b", "visible": true}),
        json!({"device": "laptop"}),
        json!({"device": "laptop", "visible": true, "extra": 1}),
    ] {
        let status = look(
            &relay,
            &alice.access,
            &alice.session.to_string(),
            bad.clone(),
        )
        .await
        .status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status}"
        );
    }
    // Bob's own looking mutes nothing of Alice's; nothing was stored by the refusals.
    let session = alice.session.to_string();
    let rows = relay.sql(move |c| {
        c.query_one(
            "SELECT COUNT(*) FROM push_looking WHERE session_id = ?1",
            &[Param::Text(&session)],
        )?
        .u64(0)
    });
    assert_eq!(rows, 0);
}

async fn heartbeat(relay: &TestRelay, s: &Setup, leaving: bool) {
    let path = format!("/v1/code/sessions/{}/worker/heartbeat", s.session);
    let body = json!({"worker_epoch": s.grant.worker_epoch, "leaving": leaving});
    let hb = send(
        relay,
        reqwest::Method::POST,
        &path,
        &s.grant.worker_jwt,
        body,
    )
    .await;
    assert_eq!(hb.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_terminal_gone_silent_calls_its_person_once_and_one_that_said_goodbye_calls_nobody() {
    let service = PushService::get();
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let sub = service.subscribe();
    subscribe(&relay, &s.access, "phone", &sub, &["offline"]).await;
    // Silent past the timeout (1 s here): one call, from the relay, with no text.
    heartbeat(&relay, &s, false).await;
    let got = service.wait(&sub.path, 1, WAIT).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        service
            .wait(&sub.path, 2, Duration::from_millis(1500))
            .await
            .len()
            == 1,
        "called once"
    );
    assert_eq!(pushes(&relay, "delivered").await, 1);
    if let Some(python) = python() {
        let (_, _, message) = verify(&python, &sub, &got[0], service.origin());
        assert_eq!(message["kind"], "offline", "{message}");
        assert_eq!(message["tag"], "offline", "{message}");
        assert_eq!(message["session"], s.session.as_str(), "{message}");
        assert!(message.get("sealed").is_none(), "{message}");
    }

    // Back, then gone with a goodbye: nobody is called, though it still goes offline.
    heartbeat(&relay, &s, false).await;
    heartbeat(&relay, &s, true).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let session: tether_protocol::api::SessionSummary = relay
        .get_json(&format!("/v1/code/sessions/{}", s.session), &s.access)
        .await;
    assert!(!session.worker_online, "offline all the same");
    assert_eq!(
        service.received(&sub.path).len(),
        1,
        "no call after a goodbye"
    );

    // A new worker (a new epoch) that goes silent is called again: a goodbye is its worker's.
    let grant = relay.bridge(&s.access, &s.device, &s.session).await;
    let path = format!("/v1/code/sessions/{}/worker/heartbeat", s.session);
    let body = json!({"worker_epoch": grant.worker_epoch});
    let hb = send(
        &relay,
        reqwest::Method::POST,
        &path,
        &grant.worker_jwt,
        body,
    )
    .await;
    assert_eq!(hb.status(), StatusCode::NO_CONTENT);
    assert_eq!(service.wait(&sub.path, 2, WAIT).await.len(), 2);
}

async fn set_kinds(
    relay: &TestRelay,
    access: &str,
    device: &str,
    body: Value,
) -> reqwest::Response {
    let path = format!("/v1/push/subscriptions/{device}");
    send(relay, reqwest::Method::PATCH, &path, access, body).await
}

#[tokio::test]
async fn what_a_device_is_told_changes_without_its_keys_and_only_for_its_owner() {
    let service = PushService::get();
    let relay = start_relay!();
    let alice = relay.setup("alice").await;
    let bob = relay.setup("bob").await;
    let sub = service.subscribe();
    subscribe(
        &relay,
        &alice.access,
        "phone",
        &sub,
        &["permission", "done"],
    )
    .await;
    let changed = set_kinds(&relay, &alice.access, "phone", json!({"kinds": ["done"]})).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: PushDevice = changed.json().await.unwrap();
    assert_eq!(changed.kinds, vec![tether_protocol::push::PushKind::Done]);
    assert_eq!(changed.service, "127.0.0.1");
    assert_eq!(devices(&relay, &alice.access).await[0].kinds, changed.kinds);
    // A permission call no longer goes to it; a done call does.
    let answer: Notified = notify(&relay, &alice, json!({"kind": "permission", "tag": "r"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer.devices, 0);
    let answer: Notified = notify(&relay, &alice, json!({"kind": "done", "tag": "done"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer.devices, 1);
    assert_eq!(service.wait(&sub.path, 1, WAIT).await.len(), 1);

    let theirs = set_kinds(
        &relay,
        &bob.access,
        "phone",
        json!({"kinds": ["permission"]}),
    )
    .await;
    assert_eq!(
        theirs.status(),
        StatusCode::NOT_FOUND,
        "bob has no such device"
    );
    for bad in [
        json!({"kinds": []}),
        json!({"kinds": ["done", "done"]}),
        json!({"kinds": ["shout"]}),
        json!({"kinds": ["done"], "endpoint": "https://evil.example/"}),
        json!({}),
    ] {
        let status = set_kinds(&relay, &alice.access, "phone", bad.clone())
            .await
            .status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status}"
        );
    }
    let bad_device = set_kinds(&relay, &alice.access, "a%1Bb", json!({"kinds": ["done"]})).await;
    assert_eq!(bad_device.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        devices(&relay, &alice.access).await[0].kinds,
        vec![tether_protocol::push::PushKind::Done],
        "nothing refused was stored"
    );
}

#[tokio::test]
async fn a_goodbye_of_the_wrong_shape_or_from_another_sessions_worker_is_refused() {
    let service = PushService::get();
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let other = relay.setup("bob").await;
    let sub = service.subscribe();
    subscribe(&relay, &s.access, "phone", &sub, &["offline"]).await;
    let path = format!("/v1/code/sessions/{}/worker/heartbeat", s.session);
    for bad in [
        json!({"worker_epoch": s.grant.worker_epoch, "leaving": "yes"}),
        json!({"worker_epoch": s.grant.worker_epoch, "leaving": 1}),
    ] {
        let status = send(
            &relay,
            reqwest::Method::POST,
            &path,
            &s.grant.worker_jwt,
            bad.clone(),
        )
        .await
        .status();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status}"
        );
    }
    let body = json!({"worker_epoch": other.grant.worker_epoch, "leaving": true});
    let elsewhere = send(
        &relay,
        reqwest::Method::POST,
        &path,
        &other.grant.worker_jwt,
        body,
    )
    .await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    // Nobody said goodbye for alice's worker: its silence still calls.
    heartbeat(&relay, &s, false).await;
    assert_eq!(service.wait(&sub.path, 1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_withdrawal_never_overtakes_its_call_even_while_the_call_waits_out_a_retry() {
    let service = PushService::get();
    let Some(python) = python() else {
        return;
    };
    let relay = start_relay!();
    let s = relay.setup("alice").await;
    let sub = service.subscribe();
    subscribe(&relay, &s.access, "phone", &sub, &["permission"]).await;
    // The call's first attempt is told to come back in a second; the withdrawal is asked for
    // at once, and must wait for it.
    service.answer(&sub.path, &[(503, Some("1"))]);
    let call = notify(&relay, &s, json!({"kind": "permission", "tag": "r1"})).await;
    assert_eq!(call.status(), StatusCode::ACCEPTED);
    let close = json!({"kind": "permission", "tag": "r1", "close": true});
    assert_eq!(
        notify(&relay, &s, close).await.status(),
        StatusCode::ACCEPTED
    );
    let got = service.wait(&sub.path, 3, WAIT).await;
    assert_eq!(got.len(), 3, "the call, its retry, and the withdrawal");
    let closes: Vec<bool> = got
        .iter()
        .map(|push| verify(&python, &sub, push, service.origin()).2["close"] == true)
        .collect();
    assert_eq!(closes, vec![false, false, true]);
}
