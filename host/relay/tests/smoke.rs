mod common;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn a_worker_and_a_client_talk_over_sse() {
    let relay = TestRelay::start().await;
    let s = relay.setup("alice").await;
    let mut worker = Sse::open(
        &relay.http,
        &relay.at(&format!(
            "/v1/code/sessions/{}/worker/events/stream",
            s.session
        )),
        &[("authorization", &format!("Bearer {}", s.grant.worker_jwt))],
    )
    .await;
    assert_eq!(worker.status, 200);
    let mut client = Sse::open(
        &relay.http,
        &relay.at(&format!("/v1/code/sessions/{}/events/stream", s.session)),
        &[("authorization", &format!("Bearer {}", s.access))],
    )
    .await;
    assert_eq!(client.status, 200);
    let r = relay
        .publish_client(&s.access, &s.session, &[user_message("hi")])
        .await;
    assert_eq!(r.status(), 200);
    let got = worker.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.kind, "user_message");
    let first = client.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.kind, "worker_status");
}
