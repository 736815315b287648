//! The bridge worker against a real relay: both transports, a relay restart on the same port,
//! short-lived worker and access tokens, a second terminal taking over, a deleted session.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tether_bridge::worker::{SESSION_GONE, TAKEN_OVER};
use tether_bridge::{Inbound, Status, TokenSource, Transport, spawn};
use tether_protocol::Payload;
use tether_protocol::api::WorkerState;
use tether_protocol::payload::{ControlRequest, ControlResponse, Verdict};

const WAIT: Duration = Duration::from_secs(10);

fn online(s: &Status) -> bool {
    *s == Status::Online
}

/// Publish and receive in both directions, report state, shut down cleanly.
async fn conversation(transport: Transport) {
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, transport));
    wait_status(&worker, WAIT, online).await;

    worker.set_state(WorkerState::Running, None);
    let ids: Vec<String> = (0..20)
        .map(|n| {
            worker.publish(&raw(
                "assistant_delta",
                json!({"message_id": "m1", "text": "x", "n": n}),
            ))
        })
        .collect();
    worker.set_state(WorkerState::Idle, Some(json!({"why": "done"})));
    assert!(worker.flush(WAIT).await, "everything acknowledged");

    let interrupt = event(
        "control_request",
        json!({"request_id": "r1", "subtype": "interrupt"}),
    );
    let answer = event(
        "control_response",
        json!({"request_id": "r2", "response": {"behavior": "allow"}}),
    );
    let hello = user_message("hello");
    relay
        .client_publish(
            &cookie,
            &session,
            &[hello.clone(), interrupt.clone(), answer.clone()],
        )
        .await;
    let items = receive(&mut inbound, 3, WAIT).await;
    let items: Vec<(String, Payload)> = items
        .into_iter()
        .map(|i| match i {
            Inbound::Event { id, payload, .. } => (id, payload),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        items,
        [
            (hello.id, Payload::parse("user_message", &hello.payload)),
            (
                interrupt.id,
                Payload::ControlRequest(ControlRequest::Interrupt {
                    request_id: "r1".into()
                })
            ),
            (
                answer.id,
                Payload::ControlResponse(ControlResponse {
                    request_id: "r2".into(),
                    response: Verdict::Allow
                })
            ),
        ]
    );

    let log = relay.client_log(&cookie, &session).await;
    assert_eq!(
        worker_numbers(&log, "assistant_delta"),
        (0..20).collect::<Vec<_>>()
    );
    let logged_ids: Vec<&str> = log
        .iter()
        .filter(|e| e.kind == "assistant_delta")
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        logged_ids, ids,
        "published under the ids publish() returned"
    );
    let last_delta = log.iter().rfind(|e| e.kind == "assistant_delta").unwrap();
    let last_state = log.iter().rfind(|e| e.kind == "session_state").unwrap();
    assert_eq!(
        last_state.payload,
        json!({"state": "idle", "details": {"why": "done"}})
    );
    assert!(
        last_state.seq > last_delta.seq,
        "the state follows the events before it"
    );

    let mut status = worker.status();
    worker.shutdown().await;
    assert!(matches!(
        &*status.borrow_and_update(),
        Status::Stopped { .. }
    ));
    assert!(matches!(
        inbound.recv().await,
        Some(Inbound::Stopped { .. })
    ));
    assert!(inbound.recv().await.is_none(), "nothing after Stopped");
}

#[tokio::test]
async fn sse_conversation() {
    conversation(Transport::Sse).await;
}

#[tokio::test]
async fn websocket_conversation() {
    conversation(Transport::Ws).await;
}

/// The relay stops, both sides keep talking, and it comes back on the same port: afterwards
/// every event has arrived exactly once on each side, in order.
async fn relay_restart(transport: Transport) {
    let mut relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, transport));
    wait_status(&worker, WAIT, online).await;
    let say = |from: u64, to: u64| {
        for n in from..to {
            worker.publish(&raw("assistant_delta", json!({ "n": n })));
        }
    };
    let phone = |from: usize, to: usize| -> Vec<_> {
        (from..to).map(|n| user_message(&format!("c{n}"))).collect()
    };

    say(0, 5);
    relay.client_publish(&cookie, &session, &phone(0, 5)).await;
    assert!(worker.flush(WAIT).await);
    let mut items = receive(&mut inbound, 5, WAIT).await;

    relay.stop().await;
    wait_status(&worker, WAIT, |s| matches!(s, Status::Reconnecting { .. })).await;
    say(5, 10);
    assert!(
        !worker.flush(Duration::from_millis(300)).await,
        "nowhere to deliver"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    relay.start_again().await;
    // The phone speaks as soon as the relay is back, most likely before the worker is.
    relay.client_publish(&cookie, &session, &phone(5, 10)).await;
    say(10, 15);
    assert!(
        worker.flush(WAIT).await,
        "the queue drains after the restart"
    );
    items.extend(receive(&mut inbound, 5, WAIT).await);

    let expected: Vec<String> = (0..10).map(|n| format!("c{n}")).collect();
    assert_eq!(texts(&items), expected);
    assert_eq!(items.len(), 10, "{items:?}");
    let log = relay.client_log(&cookie, &session).await;
    assert_eq!(
        worker_numbers(&log, "assistant_delta"),
        (0..15).collect::<Vec<_>>()
    );
    assert_eq!(*worker.status().borrow(), Status::Online);
    worker.shutdown().await;
}

#[tokio::test]
async fn sse_survives_a_relay_restart() {
    relay_restart(Transport::Sse).await;
}

#[tokio::test]
async fn websocket_survives_a_relay_restart() {
    relay_restart(Transport::Ws).await;
}

/// Worker tokens of 2 s, renewed 1 s before expiry: six seconds of conversation go through
/// several registrations (each one a new epoch that ends the old stream) without a loss or a
/// double on either side.
async fn short_worker_tokens(transport: Transport) {
    let relay = TestRelay::start_with(|c| c.lifetimes.worker_jwt = Duration::from_secs(2)).await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let mut config = relay.worker(&credentials, &session, transport);
    config.refresh_margin = Duration::from_secs(1);
    let (worker, mut inbound) = spawn(config);
    wait_status(&worker, WAIT, online).await;
    let registered = relay.metric("tether_relay_bridges_issued_total").await;

    for n in 0..60u64 {
        worker.publish(&raw("assistant_delta", json!({ "n": n })));
        if n % 2 == 0 {
            let text = format!("c{}", n / 2);
            relay
                .client_publish(&cookie, &session, &[user_message(&text)])
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(worker.flush(WAIT).await);
    let items = receive(&mut inbound, 30, WAIT).await;
    let expected: Vec<String> = (0..30).map(|n| format!("c{n}")).collect();
    assert_eq!(texts(&items), expected);
    assert_eq!(items.len(), 30, "{items:?}");
    let log = relay.client_log(&cookie, &session).await;
    assert_eq!(
        worker_numbers(&log, "assistant_delta"),
        (0..60).collect::<Vec<_>>()
    );
    let renewals = relay.metric("tether_relay_bridges_issued_total").await - registered;
    assert!(renewals >= 4, "only {renewals} registrations in 6 s");
    assert_eq!(*worker.status().borrow(), Status::Online);
    worker.shutdown().await;
}

#[tokio::test]
async fn sse_renews_short_worker_tokens_seamlessly() {
    short_worker_tokens(Transport::Sse).await;
}

#[tokio::test]
async fn websocket_renews_short_worker_tokens_seamlessly() {
    short_worker_tokens(Transport::Ws).await;
}

/// Another terminal registers for the session: this one stops, says why, and never registers
/// again (which would steal the session back).
async fn taken_over(transport: Transport) {
    let relay = TestRelay::start().await;
    let (credentials, _) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, transport));
    wait_status(&worker, WAIT, online).await;
    worker.publish(&raw("assistant_delta", json!({ "n": 0 })));
    assert!(worker.flush(WAIT).await);

    let api = relay.api();
    let other = api
        .bridge(
            &credentials.access_token,
            credentials.device_token.as_deref(),
            &session,
        )
        .await
        .unwrap();
    let items = receive(&mut inbound, 1, WAIT).await;
    assert_eq!(
        items,
        [Inbound::Stopped {
            reason: TAKEN_OVER.into()
        }]
    );
    assert_eq!(
        *worker.status().borrow(),
        Status::Stopped {
            reason: TAKEN_OVER.into()
        }
    );

    // Well past every backoff: still exactly two registrations, and the other terminal's token
    // is still the current one.
    worker.publish(&raw("assistant_delta", json!({ "n": 1 })));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(relay.metric("tether_relay_bridges_issued_total").await, 2);
    api.heartbeat(&other.worker_jwt, &session, other.worker_epoch, false)
        .await
        .expect("the other terminal is still the worker");
    assert!(
        !worker.flush(Duration::from_millis(100)).await,
        "a stopped worker delivers nothing"
    );
}

#[tokio::test]
async fn sse_stops_for_good_when_another_terminal_takes_over() {
    taken_over(Transport::Sse).await;
}

#[tokio::test]
async fn websocket_stops_for_good_when_another_terminal_takes_over() {
    taken_over(Transport::Ws).await;
}

/// Access tokens of 1 s: every registration needs a refreshed one. The first is refused by the
/// relay although the credentials claim it is valid (a clock off, a token revoked early), which
/// the worker handles by refreshing; the rotated credentials are published for saving, and the
/// last refresh token still works, so no refresh token was ever presented twice.
#[tokio::test]
async fn expired_access_tokens_are_refreshed() {
    let relay = TestRelay::start_with(|c| {
        c.lifetimes.access_token = Duration::from_secs(1);
        c.lifetimes.worker_jwt = Duration::from_secs(2);
    })
    .await;
    let (mut credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let api = relay.api();
    assert_eq!(
        api.get_session(&credentials.access_token, &session)
            .await
            .unwrap_err()
            .status(),
        Some(401),
        "the access token has expired"
    );
    credentials.access_expires_at = unix_now() + 3600;
    let tokens = TokenSource::with_margin(api.clone(), credentials.clone(), Duration::ZERO);
    let mut saved = tokens.subscribe();
    let mut config = relay.worker(&credentials, &session, Transport::Sse);
    config.tokens = tokens;
    config.refresh_margin = Duration::from_secs(1);
    let (worker, _inbound) = spawn(config);
    wait_status(&worker, WAIT, online).await;
    assert!(
        saved.has_changed().unwrap(),
        "refreshed credentials are published"
    );

    for n in 0..20u64 {
        worker.publish(&raw("assistant_delta", json!({ "n": n })));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(worker.flush(WAIT).await);
    let log = relay.client_log(&cookie, &session).await;
    assert_eq!(
        worker_numbers(&log, "assistant_delta"),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(*worker.status().borrow(), Status::Online);

    let latest = saved.borrow_and_update().clone();
    assert_ne!(latest.refresh_token, credentials.refresh_token);
    assert_eq!(latest.device_token, credentials.device_token);
    worker.shutdown().await;
    api.refresh(&latest.refresh_token)
        .await
        .expect("the login was never revoked for a reused refresh token");
}

/// A deleted session stops the worker (404 on reconnect).
#[tokio::test]
async fn a_deleted_session_stops_the_worker() {
    let relay = TestRelay::start().await;
    let (credentials, _) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, Transport::Ws));
    wait_status(&worker, WAIT, online).await;
    let deleted = relay
        .http
        .delete(relay.at(&format!("/v1/code/sessions/{session}")))
        .bearer_auth(&credentials.access_token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let items = receive(&mut inbound, 1, WAIT).await;
    assert_eq!(
        items,
        [Inbound::Stopped {
            reason: SESSION_GONE.into()
        }]
    );
}

/// A worker that starts behind the relay's retention is told (`catch_up_truncated`), gets what
/// is kept, and is not told again.
#[tokio::test]
async fn a_worker_behind_retention_is_told_once() {
    let relay = TestRelay::start_with(|c| c.limits.retain_events = 5).await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let said: Vec<_> = (0..10).map(|n| user_message(&format!("c{n}"))).collect();
    relay.client_publish(&cookie, &session, &said).await;

    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, Transport::Sse));
    let mut items = receive(&mut inbound, 1, WAIT).await;
    let Inbound::Event {
        payload: Payload::CatchUpTruncated(notice),
        ..
    } = items[0].clone()
    else {
        panic!("{items:?}")
    };
    let oldest = notice.oldest_seq;
    // Seq n + 1 was message `cn`.
    let kept: Vec<String> = (oldest - 1..10).map(|n| format!("c{n}")).collect();
    let missing = (1 + kept.len()).saturating_sub(items.len());
    items.extend(receive(&mut inbound, missing, WAIT).await);
    assert_eq!(texts(&items[1..]), kept);
    assert_eq!(items.len(), 1 + kept.len());

    relay
        .client_publish(&cookie, &session, &[user_message("later")])
        .await;
    let items = receive(&mut inbound, 1, WAIT).await;
    assert_eq!(texts(&items), ["later"]);
    assert_eq!(items.len(), 1, "{items:?}");
    worker.shutdown().await;
}

/// Dropping every handle stops the worker (no task is left running).
#[tokio::test]
async fn dropping_every_handle_stops_the_worker() {
    let relay = TestRelay::start().await;
    let (credentials, _) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, Transport::Ws));
    wait_status(&worker, WAIT, online).await;
    let mut status = worker.status();
    let copy = worker.clone();
    drop(worker);
    copy.publish(&raw("assistant_delta", json!({ "n": 0 })));
    assert!(copy.flush(WAIT).await, "a clone keeps it running");
    drop(copy);
    let items = receive(&mut inbound, 1, WAIT).await;
    assert!(matches!(items[..], [Inbound::Stopped { .. }]), "{items:?}");
    assert!(matches!(
        *status.borrow_and_update(),
        Status::Stopped { .. }
    ));
}
