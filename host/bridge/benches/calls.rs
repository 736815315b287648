//! How fast a call reaches the person's push service: from the worker's `call` (what the
//! terminal does the moment a permission request has waited its `wait_seconds`) to the Web
//! Push request arriving at the push service on loopback, after the relay has encrypted it
//! (RFC 8291) and signed its VAPID token. The baseline, measured in the same run on the same
//! relay, is the relay's own round trip: a phone's message published to the relay until it
//! reaches the worker.
//!
//! `cargo bench -p tether-bridge --bench calls` (200 of each per transport); `-- --quick` for 30.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tether_bridge::{Status, Transport, spawn};
use tether_protocol::NewEvent;
use tether_protocol::push::PushKind;
use tether_seal::{Direction, Sealer, sender_id};

const WAIT: Duration = Duration::from_secs(10);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 30 } else { 200 };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        println!("{rounds} rounds per transport; ms, p50 / p99");
        println!();
        println!("| transport | phone → worker (baseline) | call → push service | ratio p50 | ratio p99 |");
        println!("|---|---|---|---|---|");
        for transport in [Transport::Sse, Transport::Ws] {
            let (baseline, calls) = measure(transport, rounds).await;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let (b50, b99) = (percentile(&baseline, 50), percentile(&baseline, 99));
            let (c50, c99) = (percentile(&calls, 50), percentile(&calls, 99));
            println!(
                "| {transport:?} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2}× | {:.2}× |",
                ms(b50),
                ms(b99),
                ms(c50),
                ms(c99),
                c50.as_secs_f64() / b50.as_secs_f64(),
                c99.as_secs_f64() / b99.as_secs_f64(),
            );
        }
    });
}

async fn measure(transport: Transport, rounds: usize) -> (Vec<Duration>, Vec<Duration>) {
    let service = PushService::get();
    let relay = TestRelay::start().await;
    let (credentials, cookie) = relay.credentials("ada").await;
    let session = relay.session(&credentials).await;
    let sub = service.subscribe();
    push_subscribe(&relay, &credentials, &sub, &[]).await;
    let (worker, mut inbound) = spawn(relay.worker(&credentials, &session, transport));
    wait_status(&worker, WAIT, |s| *s == Status::Online).await;
    let mut phone = Sealer::new(
        &key(),
        &session.to_string(),
        Direction::Client,
        sender_id("d_"),
    );
    let mut baseline = Vec::with_capacity(rounds);
    let mut calls = Vec::with_capacity(rounds);
    // A few of each first, so that connections and the VAPID key are warm.
    for round in 0..rounds + 5 {
        let event = NewEvent::new("user_message", json!({"text": format!("m{round}")}));
        let event = NewEvent {
            payload: phone
                .seal(&event.id, &event.kind, &event.payload)
                .expect("sealed"),
            ..event
        };
        let started = Instant::now();
        relay.client_publish(&cookie, &session, &[event]).await;
        tokio::time::timeout(WAIT, inbound.recv())
            .await
            .expect("the message reaches the worker")
            .expect("the worker runs");
        let phone_to_worker = started.elapsed();

        let before = service.received(&sub.path).len();
        let started = Instant::now();
        worker.call(
            PushKind::Permission,
            &format!("r{round}"),
            "Allow Bash?",
            "ls",
        );
        let got = service.wait(&sub.path, before + 1, WAIT).await;
        let arrived = got.get(before).expect("the push arrives").at;
        if round >= 5 {
            baseline.push(phone_to_worker);
            calls.push(arrived.duration_since(started));
        }
    }
    worker.shutdown().await;
    (baseline, calls)
}
