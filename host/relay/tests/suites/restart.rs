//! A relay stopped and started again on the same database: the log, the seq numbering, dedup,
//! every credential and the worker's presence survive.

use std::time::Duration;

use crate::common::*;
use crate::start_relay;
use reqwest::StatusCode;
use serde_json::json;
use tether_protocol::Event;
use tether_protocol::api::{Published, SessionSummary, TokenResponse};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn client_sse(relay: &TestRelay, s: &Setup, from: u64) -> Sse {
    let sse = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/events/stream?from_seq={from}",
            s.session
        )),
        &[("authorization", &bearer(&s.access))],
    )
    .await;
    assert_eq!(sse.status, StatusCode::OK);
    sse
}

async fn worker_sse(relay: &TestRelay, s: &Setup, jwt: &str) -> Sse {
    let sse = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/worker/events/stream",
            s.session
        )),
        &[("authorization", &bearer(jwt))],
    )
    .await;
    assert_eq!(sse.status, StatusCode::OK);
    sse
}

async fn published(r: reqwest::Response) -> Published {
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn get_session(relay: &TestRelay, s: &Setup) -> SessionSummary {
    let r = relay
        .get(&format!("/v1/code/sessions/{}", s.session))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the access token works");
    r.json().await.unwrap()
}

async fn put_state(relay: &TestRelay, s: &Setup, state: &str) -> StatusCode {
    relay
        .http
        .put(relay.at(&format!("/v1/code/sessions/{}/worker", s.session)))
        .bearer_auth(&s.grant.worker_jwt)
        .json(&json!({"worker_epoch": s.grant.worker_epoch, "state": state}))
        .send()
        .await
        .unwrap()
        .status()
}

/// The next `worker_status` notice's `online`, with everything read on the way.
async fn next_status(sse: &mut Sse, wait: Duration, seen: &mut Vec<Event>) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = sse.next_event(left).await?;
        seen.push(e.clone());
        if e.kind == "worker_status" {
            return Some(e.payload["online"].as_bool().unwrap());
        }
    }
}

#[tokio::test]
async fn the_log_credentials_and_numbering_survive_a_restart() {
    let mut relay = start_relay!();
    let s = relay.setup("alice").await;

    // Before: a worker online with a stream, messages both ways, a state.
    let worker = worker_sse(&relay, &s, &s.grant.worker_jwt).await;
    let said = vec![user_message("before 1"), user_message("before 2")];
    published(relay.publish_client(&s.access, &s.session, &said).await).await;
    let answered = vec![
        event("assistant_delta", json!({"message_id": "m", "text": "an"})),
        event(
            "assistant_message",
            json!({"message_id": "m", "text": "answer", "usage": {"input_tokens": 1, "output_tokens": 2}}),
        ),
    ];
    let before_worker =
        published(relay.publish_worker(&s.grant, &s.session, &answered).await).await;
    assert_eq!(
        put_state(&relay, &s, "running").await,
        StatusCode::NO_CONTENT
    );
    let mut sse = client_sse(&relay, &s, 0).await;
    let before = sse.drain(QUIET).await;
    assert_eq!(before.len(), 6, "{before:?}"); // online, 2 said, 2 answered, session_state
    drop(sse);
    drop(worker);
    let before_said = published(relay.publish_client(&s.access, &s.session, &said).await).await;
    assert!(before_said.events.iter().all(|e| e.duplicate));

    relay.restart_with(|_| {}).await;

    // The same log, byte for byte, from the new process.
    let mut sse = client_sse(&relay, &s, 0).await;
    let after: Vec<Event> = sse.drain(QUIET).await;
    assert_eq!(after, before);
    let summary = get_session(&relay, &s).await;
    assert_eq!(summary.state.as_str(), "running");

    // Retries of events published before the restart are still recognised.
    let again = published(relay.publish_client(&s.access, &s.session, &said).await).await;
    assert_eq!(again, before_said);
    // The worker JWT from before (same epoch) still works, and dedups too.
    let again = published(relay.publish_worker(&s.grant, &s.session, &answered).await).await;
    assert!(again.events.iter().all(|e| e.duplicate));
    let seqs = |p: &Published| p.events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&again), seqs(&before_worker));
    let mut w = worker_sse(&relay, &s, &s.grant.worker_jwt).await;

    // New events continue the numbering.
    let new_said = user_message("after");
    let p = published(
        relay
            .publish_client(&s.access, &s.session, std::slice::from_ref(&new_said))
            .await,
    )
    .await;
    assert!(!p.events[0].duplicate);
    let new_answer = event(
        "assistant_delta",
        json!({"message_id": "n", "text": "after"}),
    );
    let q = published(
        relay
            .publish_worker(&s.grant, &s.session, std::slice::from_ref(&new_answer))
            .await,
    )
    .await;
    assert_eq!(q.events[0].seq, p.events[0].seq + 1);
    // The worker's stream (from 0) replays what clients said before the restart, then the new.
    let mut heard = Vec::new();
    for _ in 0..3 {
        let e = w
            .next_event(WAIT)
            .await
            .expect("the worker stream works after the restart");
        heard.push((e.id, e.seq));
    }
    assert_eq!(
        heard,
        [
            (said[0].id.clone(), before_said.events[0].seq),
            (said[1].id.clone(), before_said.events[1].seq),
            (new_said.id.clone(), p.events[0].seq)
        ]
    );
    // Wait for the last event itself (a loaded machine may take longer than QUIET to wake
    // the stream), then take whatever else is there.
    let mut rest = Vec::new();
    while rest.last().is_none_or(|e: &Event| e.id != new_answer.id) {
        rest.push(sse.next_event(WAIT).await.expect("the new answer arrives"));
    }
    rest.extend(sse.drain(QUIET).await);
    let all_seqs: Vec<u64> = after.iter().chain(&rest).map(|e| e.seq).collect();
    assert_eq!(
        all_seqs,
        (1..=all_seqs.len() as u64).collect::<Vec<_>>(),
        "no gap, no reuse"
    );
    assert_eq!(rest.last().unwrap().id, new_answer.id);
    assert!(rest.iter().any(|e| e.id == new_said.id));

    // The refresh token from before refreshes.
    let r = relay.refresh(&s.refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: TokenResponse = r.json().await.unwrap();
    let r = relay
        .get("/v1/code/sessions")
        .bearer_auth(&fresh.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // The trusted device token from before registers a new worker, one epoch up: the epoch
    // itself survived.
    let grant = relay.bridge(&s.access, &s.device, &s.session).await;
    assert_eq!(grant.worker_epoch, s.grant.worker_epoch + 1);
    let r = relay
        .publish_worker(&s.grant, &s.session, &[event("assistant_delta", json!({}))])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "the old worker is stale now"
    );
}

#[tokio::test]
async fn a_worker_online_before_a_restart_is_reported_offline_if_it_does_not_return() {
    let mut relay = start_relay!();
    let s = relay.setup("alice").await;
    let worker = worker_sse(&relay, &s, &s.grant.worker_jwt).await;
    assert!(get_session(&relay, &s).await.worker_online);
    drop(worker);
    relay.restart_with(|_| {}).await;

    // Given the usual grace to come back...
    assert!(get_session(&relay, &s).await.worker_online);
    let mut sse = client_sse(&relay, &s, 1).await; // after the first online notice
    let mut seen = Vec::new();
    assert_eq!(
        next_status(&mut sse, Duration::from_millis(500), &mut seen).await,
        None
    );
    // ...then reported offline, once.
    assert_eq!(
        next_status(&mut sse, Duration::from_secs(3), &mut seen).await,
        Some(false)
    );
    assert!(!get_session(&relay, &s).await.worker_online);
    assert_eq!(next_status(&mut sse, QUIET, &mut seen).await, None);
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["worker_status"]);
}

#[tokio::test]
async fn a_worker_that_comes_back_after_a_restart_stays_online() {
    let mut relay = start_relay!();
    let s = relay.setup("alice").await;
    let worker = worker_sse(&relay, &s, &s.grant.worker_jwt).await;
    drop(worker);
    relay.restart_with(|_| {}).await;
    let mut sse = client_sse(&relay, &s, 1).await;
    // The worker reconnects with its token from before.
    let _worker = worker_sse(&relay, &s, &s.grant.worker_jwt).await;
    let mut seen = Vec::new();
    assert_eq!(
        next_status(&mut sse, Duration::from_millis(1600), &mut seen).await,
        None,
        "no offline (nor a second online) notice: {seen:?}"
    );
    assert!(get_session(&relay, &s).await.worker_online);
}
