//! The known-answer vector (`tests/vector.json`), which the web client's test checks too: the
//! derivation, the associated data, the plaintext and the envelope, byte for byte.
//! `TETHER_WRITE_VECTOR=1 cargo test -p tether-seal vector` writes it afresh; it never changes
//! unless the format does.

use serde_json::{Value, json};
use tether_protocol::{Event, Source};

use crate::aad::associated_data;
use crate::key::SessionKey;
use crate::keys::{Direction, Keys, raw};
use crate::open::open;
use crate::seal::{Sealer, plaintext};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vector.json");

fn vector() -> Value {
    let key = SessionKey::from_bytes(std::array::from_fn(|i| i as u8), 1);
    let session = "session_3d1c6b9e-9a4f-4c1e-8f3a-2b7d5e6f7a8b";
    let id = "4a6f0c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let payload = json!({"origin": "client", "text": "héllo, terminal"});
    let nonce: [u8; 12] = std::array::from_fn(|i| 0xA0 + i as u8);
    let sealer = Sealer::new(
        &key,
        session,
        Direction::Client,
        "d_0123456789abcdef".into(),
    );
    let envelope = sealer.seal_with(nonce, 7, id, "user_message", &payload);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    json!({
        "key_b64url": key.fragment().trim_start_matches("k=").split('&').next().unwrap(),
        "fragment": key.fragment(),
        "generation": key.generation(),
        "session_id": session,
        "event_id": id,
        "type": "user_message",
        "source": "client",
        "sender": "d_0123456789abcdef",
        "counter": 7,
        "payload": payload,
        "nonce_hex": hex(&nonce),
        "worker_key_hex": hex(&raw(&key, Direction::Worker)),
        "client_key_hex": hex(&raw(&key, Direction::Client)),
        "aad": associated_data(session, id, "user_message", Direction::Client, 1),
        "plaintext": String::from_utf8(plaintext("d_0123456789abcdef", 7, &payload)).unwrap(),
        "envelope": envelope.to_value(),
    })
}

#[test]
fn the_known_answer_vector_holds() {
    let computed = vector();
    if std::env::var_os("TETHER_WRITE_VECTOR").is_some() {
        let text = serde_json::to_string_pretty(&computed).unwrap() + "\n";
        std::fs::write(PATH, text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        stored, computed,
        "the envelope format changed: see docs/protocol.md §4.7"
    );

    // And it opens, as a receiver would, from the stored text alone.
    let key = SessionKey::from_fragment(stored["fragment"].as_str().unwrap()).unwrap();
    let event = Event {
        seq: 1,
        id: stored["event_id"].as_str().unwrap().into(),
        kind: "user_message".into(),
        source: Source::Client,
        created_at: "2026-12-02T00:00:00Z".into(),
        payload: stored["envelope"].clone(),
    };
    let opened = open(
        &Keys::derive(&key),
        stored["session_id"].as_str().unwrap(),
        &event,
    )
    .unwrap();
    assert_eq!(opened.payload, stored["payload"]);
    assert_eq!(
        (opened.sender.as_str(), opened.counter),
        ("d_0123456789abcdef", 7)
    );
}
