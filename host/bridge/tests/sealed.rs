//! The worker's end-to-end encryption against a real relay (docs/protocol.md §4.7): what it
//! publishes is sealed, what clients send must open, and what a tampering relay or a keyless
//! client sends never reaches the terminal as an event.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tether_bridge::{Inbound, Status, Transport, spawn};
use tether_protocol::payload::UserMessage;
use tether_protocol::{NewEvent, Payload};
use tether_seal::{Direction, Order, Reader, Received, Sealer, SessionKey, Unverified, sender_id};

const WAIT: Duration = Duration::from_secs(10);

fn online(s: &Status) -> bool {
    *s == Status::Online
}

fn phone(key: &SessionKey, session: &tether_protocol::SessionId) -> Sealer {
    Sealer::new(
        key,
        &session.to_string(),
        Direction::Client,
        sender_id("d_"),
    )
}

fn sealed(phone: &mut Sealer, event: NewEvent) -> NewEvent {
    NewEvent {
        payload: phone.seal(&event.id, &event.kind, &event.payload).unwrap(),
        ..event
    }
}

fn said(items: &[Inbound]) -> Vec<String> {
    texts(items)
}

#[tokio::test]
async fn what_the_worker_publishes_is_sealed_and_the_relay_never_sees_it() {
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, _inbound) = spawn(relay.worker(&credentials, &session, Transport::Sse));
    wait_status(&worker, WAIT, online).await;
    let marker = "marker-5be1c0d2";
    let id = worker.publish(&Payload::UserMessage(UserMessage {
        text: format!("typed {marker}"),
        origin: Some(tether_protocol::Origin::Terminal.into()),
    }));
    assert!(worker.flush(WAIT).await);
    let raw = relay.client_log_raw(&cookie, &session).await;
    let stored = raw.iter().find(|e| e.id == id).unwrap();
    assert_eq!(stored.kind, "user_message", "the type stays visible");
    assert_eq!(stored.payload["v"], 1);
    assert!(!serde_json::to_string(&raw).unwrap().contains(marker));
    let opened = relay.client_log(&cookie, &session).await;
    let e = opened.iter().find(|e| e.id == id).unwrap();
    assert_eq!(e.payload["text"], format!("typed {marker}"));
    worker.shutdown().await;
}

#[tokio::test]
async fn a_client_event_that_does_not_open_reaches_the_terminal_only_as_unverified() {
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, Transport::Sse));
    wait_status(&worker, WAIT, online).await;

    let mut device = phone(&key(), &session);
    let plaintext = user_message("run /cost");
    let original = sealed(&mut device, user_message("moved"));
    // The same ciphertext under another event id, and a sealed answer retyped as a message.
    let moved = NewEvent {
        id: uuid_v4(),
        ..original.clone()
    };
    let answer = sealed(
        &mut device,
        event(
            "control_response",
            json!({"request_id": "r1", "response": {"behavior": "allow"}}),
        ),
    );
    let retyped = NewEvent {
        kind: "user_message".into(),
        ..answer.clone()
    };
    let mut flipped = sealed(&mut device, user_message("flipped"));
    let ct = flipped.payload["ct"].as_str().unwrap().to_owned();
    let first = if ct.starts_with('A') { 'B' } else { 'A' };
    flipped.payload["ct"] = json!(format!("{first}{}", &ct[1..]));
    let other_key = sealed(
        &mut phone(&SessionKey::generate(0).unwrap(), &session),
        user_message("another session's key"),
    );
    relay
        .client_publish_raw(
            &cookie,
            &session,
            &[plaintext, moved, retyped, flipped, other_key],
        )
        .await;
    let items = receive(&mut inbound, 5, WAIT).await;
    assert_eq!(items.len(), 5, "{items:?}");
    let whys: Vec<Unverified> = items
        .iter()
        .map(|i| match i {
            Inbound::Unverified { why, .. } => *why,
            other => panic!("reached the terminal: {other:?}"),
        })
        .collect();
    assert_eq!(
        whys,
        [
            Unverified::Unsealed,
            Unverified::Forged,
            Unverified::Forged,
            Unverified::Forged,
            Unverified::Forged
        ]
    );
    // A good one still gets through afterwards.
    relay
        .client_publish(&cookie, &session, &[user_message("fine")])
        .await;
    let items = receive(&mut inbound, 1, WAIT).await;
    assert_eq!(said(&items), ["fine"]);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_dropped_or_held_back_client_event_is_said_before_the_next() {
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, Transport::Ws));
    wait_status(&worker, WAIT, online).await;
    let mut device = phone(&key(), &session);
    let [one, two, three] = ["one", "two", "three"].map(|t| sealed(&mut device, user_message(t)));
    relay
        .client_publish_raw(
            &cookie,
            &session,
            &[one.clone(), three.clone(), two.clone()],
        )
        .await;
    let items = receive(&mut inbound, 5, WAIT).await;
    let shape: Vec<String> = items
        .iter()
        .map(|i| match i {
            Inbound::Event {
                payload: Payload::UserMessage(m),
                ..
            } => m.text.clone(),
            Inbound::OutOfOrder { order, .. } => format!("{order:?}"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shape,
        ["one", "Gap { missing: 1 }", "three", "Late", "two"],
        "authentic, so used, but never silently"
    );
    // A replay of a ciphertext under its own id is the relay's dedup's; under a new seq it
    // would still be a repeat of its sender's counter and is dropped.
    relay.client_publish_raw(&cookie, &session, &[one]).await;
    assert!(
        receive(&mut inbound, 1, Duration::from_millis(500))
            .await
            .is_empty()
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn an_event_too_large_once_sealed_becomes_a_notice_and_spends_no_number() {
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, _inbound) = spawn(relay.worker(&credentials, &session, Transport::Sse));
    wait_status(&worker, WAIT, online).await;
    // 200 KiB of text is under the relay's 256 KiB in plaintext, over it once base64'd.
    let big = worker.publish(&raw(
        "assistant_message",
        json!({"text": "x".repeat(200 * 1024)}),
    ));
    let after = worker.publish(&raw("assistant_delta", json!({"n": 1})));
    assert!(worker.flush(WAIT).await, "nothing refused");
    // `client_log` requires every sealed event to open, in order: no gap was left.
    let log = relay.client_log(&cookie, &session).await;
    let notice = log.iter().find(|e| e.id == big).unwrap();
    assert_eq!(notice.kind, "command_output");
    assert_eq!(notice.payload["error"], true);
    assert!(
        notice.payload["text"]
            .as_str()
            .unwrap()
            .contains("too large to send to remote devices"),
        "{}",
        notice.payload
    );
    assert!(log.iter().any(|e| e.id == after));
    worker.shutdown().await;
}

#[tokio::test]
async fn after_rekey_devices_with_the_old_key_can_neither_read_nor_send() {
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, Transport::Sse));
    wait_status(&worker, WAIT, online).await;
    let before = worker.publish(&raw("assistant_delta", json!({"n": 1})));
    let new = key().next().unwrap();
    worker.rekey(&new);
    let after = worker.publish(&raw("assistant_delta", json!({"n": 2})));
    assert!(worker.flush(WAIT).await);

    let raw_log = relay.client_log_raw(&cookie, &session).await;
    let find = |id: &str| raw_log.iter().find(|e| e.id == id).unwrap().clone();
    assert_eq!(find(&after).payload["g"], 1, "the generation is visible");
    let mut old_reader = Reader::new(&key(), &session.to_string());
    assert!(matches!(
        old_reader.receive(&find(&before)),
        Received::Verified { .. }
    ));
    assert_eq!(
        old_reader.receive(&find(&after)),
        Received::Unverified(Unverified::NewerKey(1))
    );
    let mut new_reader = Reader::new(&new, &session.to_string());
    assert!(
        matches!(
            new_reader.receive(&find(&after)),
            Received::Verified {
                order: Order::InOrder,
                ..
            }
        ),
        "a new sender for the new key, counting from 1"
    );

    let stale = sealed(&mut phone(&key(), &session), user_message("old phone"));
    let fresh = sealed(&mut phone(&new, &session), user_message("new phone"));
    relay
        .client_publish_raw(&cookie, &session, &[stale, fresh])
        .await;
    let items = receive(&mut inbound, 2, WAIT).await;
    assert!(
        matches!(
            &items[..],
            [
                Inbound::Unverified {
                    why: Unverified::OlderKey(0),
                    ..
                },
                Inbound::Event { .. }
            ]
        ),
        "{items:?}"
    );
    assert_eq!(said(&items), ["new phone"]);
    worker.shutdown().await;
}

fn uuid_v4() -> String {
    NewEvent::new("x", json!({})).id
}
