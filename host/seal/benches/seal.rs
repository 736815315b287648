//! What sealing costs per event: µs to seal and to open, and bytes added, for a streamed delta
//! (300 bytes of text) and a long message (64 KiB), against serialising the same payload as
//! JSON (what every event already costs) measured in the same run. BENCHMARKS.md ("End-to-end
//! encryption") records the figures.
//!
//! Run: `cargo bench -p tether-seal --bench seal`

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_protocol::{Event, Source};
use tether_seal::{Direction, Keys, Sealer, SessionKey, open, sender_id};

const SESSION: &str = "session_3d1c6b9e-9a4f-4c1e-8f3a-2b7d5e6f7a8b";
const ID: &str = "4a6f0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";

fn per_op(runs: u32, mut f: impl FnMut()) -> Duration {
    // The best of five batches: the machine's noise only ever adds.
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..runs {
                f();
            }
            start.elapsed() / runs
        })
        .min()
        .unwrap()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("seal bench skipped (run it with `cargo bench -p tether-seal --bench seal`)");
        return;
    }
    let key = SessionKey::generate(0).unwrap();
    let keys = Keys::derive(&key);
    let cases: [(&str, &str, Value, u32); 2] = [
        (
            "`assistant_delta`, 300 bytes of text",
            "assistant_delta",
            json!({"message_id": ID, "text": "x".repeat(300)}),
            20_000,
        ),
        (
            "`assistant_message`, 64 KiB of text",
            "assistant_message",
            json!({"message_id": ID, "text": "x".repeat(64 * 1024), "usage": {"input_tokens": 1, "output_tokens": 2}, "interrupted": false}),
            500,
        ),
    ];
    println!("## sealing one event (best of 5 batches)\n");
    println!(
        "| event | serialise µs (baseline) | seal µs | open µs | (seal + open) ÷ serialise | plaintext bytes | sealed bytes | added |\n|---|---|---|---|---|---|---|---|"
    );
    for (name, kind, payload, runs) in cases {
        let mut sealer = Sealer::new(&key, SESSION, Direction::Worker, sender_id("w_"));
        let serialise = per_op(runs, || {
            black_box(serde_json::to_vec(black_box(&payload)).unwrap());
        });
        let seal = per_op(runs, || {
            black_box(sealer.seal(ID, kind, black_box(&payload)).unwrap());
        });
        let envelope = sealer.seal(ID, kind, &payload).unwrap();
        let event = Event {
            seq: 1,
            id: ID.into(),
            kind: kind.into(),
            source: Source::Worker,
            created_at: "2026-12-02T00:00:00Z".into(),
            payload: envelope.clone(),
        };
        let open = per_op(runs, || {
            black_box(open(&keys, SESSION, black_box(&event)).unwrap());
        });
        let plain = serde_json::to_vec(&payload).unwrap().len();
        let sealed = serde_json::to_vec(&envelope).unwrap().len();
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.1} | {plain} | {sealed} | {} ({:.0} %) |",
            us(serialise),
            us(seal),
            us(open),
            (seal + open).as_secs_f64() / serialise.as_secs_f64(),
            sealed - plain,
            (sealed - plain) as f64 * 100.0 / plain as f64
        );
    }
}
