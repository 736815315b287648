//! A worker calling its person (docs/protocol.md 5.10): the call goes through a real relay to
//! the person's subscribed device as Web Push, its text sealed under the session key so that
//! only a device holding the key reads it, and a withdrawal follows it.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::{Value, json};
use tether_bridge::{Status, Transport, spawn};
use tether_protocol::push::PushKind;
use tether_protocol::{Event, Source};

const WAIT: Duration = Duration::from_secs(10);

/// What the browser of `sub` reads from `push`: the relay's message.
fn decrypted(sub: &TestSubscription, push: &tether_relay::test_support::Received) -> Value {
    let secret =
        p256::SecretKey::from_slice(&URL_SAFE_NO_PAD.decode(&sub.private_key).unwrap()).unwrap();
    let auth = web_push_native::Auth::clone_from_slice(&URL_SAFE_NO_PAD.decode(&sub.auth).unwrap());
    let plain = web_push_native::decrypt(push.body.clone(), &secret, &auth).unwrap();
    serde_json::from_slice(&plain).unwrap()
}

#[tokio::test]
async fn a_call_reaches_the_persons_device_sealed_and_its_withdrawal_follows() {
    let service = PushService::get();
    let relay = TestRelay::start().await;
    let (credentials, _cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let sub = service.subscribe();
    push_subscribe(&relay, &credentials, &sub, &[]).await;
    for transport in [Transport::Sse, Transport::Ws] {
        let (worker, _inbound) = spawn(relay.worker(&credentials, &session, transport));
        wait_status(&worker, WAIT, |s| *s == Status::Online).await;
        let before = service.received(&sub.path).len();
        let tag = format!("req-{transport:?}");
        worker.call(PushKind::Permission, &tag, "Allow Bash?", "ls -la");
        worker.withdraw(PushKind::Permission, &tag);
        let got = service.wait(&sub.path, before + 2, WAIT).await;
        assert_eq!(
            got.len(),
            before + 2,
            "{transport:?}: the call and its withdrawal"
        );
        let call = decrypted(&sub, &got[before]);
        assert_eq!(call["kind"], "permission");
        assert_eq!(call["tag"], tag.as_str());
        assert_eq!(call["title"], "bridge test");
        assert!(call.get("close").is_none());
        // The relay saw only an envelope; the session key opens it as the worker's.
        let text = serde_json::to_string(&call).unwrap();
        assert!(!text.contains("ls -la"), "{text}");
        let sealed = Event {
            seq: 0,
            id: tag.clone(),
            kind: "notification".into(),
            source: Source::Worker,
            created_at: String::new(),
            payload: call["sealed"].clone(),
        };
        let keys = tether_seal::Keys::derive(&key());
        let opened = tether_seal::open(&keys, &session.to_string(), &sealed).unwrap();
        assert_eq!(
            opened.payload,
            json!({"title": "Allow Bash?", "body": "ls -la"})
        );
        let withdrawal = decrypted(&sub, &got[before + 1]);
        assert_eq!(withdrawal["close"], true);
        assert_eq!(withdrawal["tag"], tag.as_str());
        assert!(withdrawal.get("sealed").is_none());
        worker.shutdown().await;
    }
}

#[tokio::test]
async fn a_worker_that_shuts_down_says_goodbye_and_nobody_is_called_about_it() {
    let service = PushService::get();
    let relay = TestRelay::start().await;
    let (credentials, _cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let sub = service.subscribe();
    push_subscribe(&relay, &credentials, &sub, &["offline"]).await;
    for transport in [Transport::Sse, Transport::Ws] {
        let (worker, _inbound) = spawn(relay.worker(&credentials, &session, transport));
        wait_status(&worker, WAIT, |s| *s == Status::Online).await;
        worker.shutdown().await;
    }
    // A call and its withdrawal asked for just before shutting down both go, in order.
    let sub_all = service.subscribe();
    push_subscribe_as(&relay, &credentials, &sub_all, "laptop", &["permission"]).await;
    let (worker, _inbound) = spawn(relay.worker(&credentials, &session, Transport::Sse));
    wait_status(&worker, WAIT, |s| *s == Status::Online).await;
    worker.call(PushKind::Permission, "last", "Allow Bash?", "ls");
    worker.withdraw(PushKind::Permission, "last");
    worker.shutdown().await;
    let got = service.wait(&sub_all.path, 2, WAIT).await;
    assert_eq!(got.len(), 2, "the call and its withdrawal");
    assert_eq!(decrypted(&sub_all, &got[0]).get("close"), None);
    assert_eq!(decrypted(&sub_all, &got[1])["close"], true);
    // Past the relay's timeout (1 s in tests) and its sweep: offline, and nobody called.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(service.received(&sub.path).len(), 0);
}
