//! How long a terminal is cut off when the relay node it is on goes away, over both
//! transports: killed (as by SIGKILL: no goodbye), and stopped (SIGTERM: the node asks its
//! streams to move). Two nodes on one PostgreSQL database behind a TCP load balancer, a third
//! node for the phone; the worker has the production backoff (500 ms doubling, jittered).
//!
//! Per departure, two figures: until the worker is online again (a worker that moved at once
//! never shows offline), and until a phone message sent at the moment of departure has
//! reached the terminal. The drained rows are the kill
//! rows' baseline (same run, same machine).
//!
//! `cargo bench -p tether-bridge --bench failover` (20 departures of each kind per transport);
//! `-- --quick` for 5. Needs PostgreSQL (Debian's `postgresql`); without it, says so and stops.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use tether_bridge::{Inbound, Transport};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Departure {
    Killed,
    Drained,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 20 };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        if postgres::blocking(postgres::PgServer::get).is_none() {
            eprintln!("failover: PostgreSQL is not installed; nothing measured");
            return;
        }
        println!("{rounds} departures of each kind per transport; ms, p50 / p99 (max)");
        println!();
        println!("| transport | node | back online | phone message delivered |");
        println!("|---|---|---|---|");
        for transport in [Transport::Sse, Transport::Ws] {
            let mut rows = Vec::new();
            for departure in [Departure::Drained, Departure::Killed] {
                let (online, delivered) = measure(transport, departure, rounds).await;
                println!(
                    "| {transport:?} | {} | {} | {} |",
                    match departure {
                        Departure::Killed => "killed",
                        Departure::Drained => "stopped (drained)",
                    },
                    match online.len() {
                        n if n == rounds || n == 0 => summary(&online),
                        n => format!("{} ({n} of {rounds} went offline)", summary(&online)),
                    },
                    summary(&delivered)
                );
                rows.push(percentile(&delivered, 50));
            }
            println!(
                "| {transport:?} | killed ÷ stopped, delivery p50 | {:.1}× | |",
                rows[1].as_secs_f64() / rows[0].as_secs_f64()
            );
        }
    });
}

async fn measure(
    transport: Transport,
    departure: Departure,
    rounds: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let Some(mut c) = cluster(transport, |config| {
        config.backoff_initial = Duration::from_millis(500);
        config.backoff_max = Duration::from_secs(30);
    })
    .await
    else {
        unreachable!("PostgreSQL was found above")
    };
    let mut online = Vec::new();
    let mut delivered = Vec::new();
    for round in 0..rounds {
        let victim = round % 2;
        let back = back_online(&c.worker);
        let gone = Instant::now();
        match departure {
            Departure::Killed => c.pair[victim].kill(),
            Departure::Drained => c.pair[victim].stop(),
        }
        let text = format!("r{round}");
        c.phone
            .client_publish(&c.cookie, &c.session, &[user_message(&text)])
            .await;
        arrives(&mut c.inbound, &text).await;
        delivered.push(gone.elapsed());
        // A worker that moved at once never showed anything but Online: no figure.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if back.is_finished() {
            online.push(back.await.expect("the watcher"));
        } else {
            back.abort();
        }
        c.pair[victim].start_again().await;
        // Settle: the next departure starts from a quiet worker whose connection has lasted
        // past the quick-move bound (a rolling restart moves one node every few seconds at
        // the very fastest; a quicker succession is backed off on purpose).
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    c.worker.shutdown().await;
    (online, delivered)
}

async fn arrives(inbound: &mut UnboundedReceiver<Inbound>, text: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let item = tokio::time::timeout_at(deadline, inbound.recv())
            .await
            .expect("the phone's message arrives")
            .expect("the worker runs");
        if texts(std::slice::from_ref(&item)) == [text] {
            return;
        }
    }
}

fn summary(samples: &[Duration]) -> String {
    if samples.is_empty() {
        return "never offline".into();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.0} / {:.0} ({:.0})",
        ms(percentile(samples, 50)),
        ms(percentile(samples, 99)),
        ms(*samples.iter().max().expect("samples"))
    )
}
