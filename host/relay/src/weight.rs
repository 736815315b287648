//! How much memory events hold, and how many of them fit a byte budget: the rule that bounds
//! what a stream keeps for a reader that does not read, and what a session keeps in memory.
//!
//! The weight is estimated from the parsed JSON (string bytes plus a fixed cost per node)
//! rather than by serialising it, which would cost as much as sending the event again. It
//! counts what the relay holds, so a string full of characters that JSON escapes weighs its
//! unescaped bytes.

use serde_json::Value;
use tether_protocol::Event;

/// What one JSON node costs besides its text: the `Value` itself.
const NODE: usize = std::mem::size_of::<Value>();

/// The bytes `event` holds, estimated.
pub fn event_weight(event: &Event) -> usize {
    std::mem::size_of::<Event>()
        + event.id.len()
        + event.kind.len()
        + event.created_at.len()
        + value_weight(&event.payload)
}

fn value_weight(value: &Value) -> usize {
    NODE + match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(value_weight).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + value_weight(v)).sum(),
    }
}

/// How many of the leading `weights` fit in `budget` bytes. Always at least one if there is
/// one, so that an event larger than the budget is still delivered, alone.
pub fn fitting(weights: impl IntoIterator<Item = usize>, budget: usize) -> usize {
    let mut total = 0usize;
    let mut n = 0;
    for w in weights {
        if n > 0 && total.saturating_add(w) > budget {
            break;
        }
        total = total.saturating_add(w);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tether_protocol::Source;

    fn event(payload: Value) -> Event {
        Event {
            seq: 1,
            id: uuid::Uuid::nil().to_string(),
            kind: "assistant_delta".into(),
            source: Source::Worker,
            created_at: "2026-11-24T10:00:00Z".into(),
            payload,
        }
    }

    #[test]
    fn fitting_takes_whole_events_up_to_the_budget_and_never_none() {
        assert_eq!(fitting([], 10), 0);
        assert_eq!(fitting([3, 3, 3], 10), 3);
        assert_eq!(fitting([3, 3, 3, 3], 10), 3);
        assert_eq!(fitting([10, 1], 10), 1, "exactly the budget");
        assert_eq!(
            fitting([11, 1], 10),
            1,
            "one event over the budget goes alone"
        );
        assert_eq!(fitting([1, 11], 10), 1, "and waits for the next page");
        assert_eq!(fitting([0, 0, 0], 0), 3);
        assert_eq!(fitting([usize::MAX, 1], usize::MAX - 1), 1, "no overflow");
        // Exhaustively for small cases: the taken prefix fits (or is a single event), and one
        // more would not.
        for budget in 0..12 {
            for a in 0..6 {
                for b in 0..6 {
                    for c in 0..6 {
                        let ws = [a, b, c];
                        let n = fitting(ws, budget);
                        let sum: usize = ws[..n].iter().sum();
                        assert!(n >= 1);
                        assert!(n == 1 || sum <= budget, "{ws:?} {budget}");
                        assert!(n == 3 || sum + ws[n] > budget, "{ws:?} {budget}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_weight_follows_the_text_an_event_carries() {
        let small = event_weight(&event(json!({"text": "hi"})));
        let big = event_weight(&event(json!({"text": "x".repeat(256 * 1024)})));
        assert!(small < 512, "{small}");
        assert!((256 * 1024..256 * 1024 + 512).contains(&big), "{big}");
        // Many small nodes cost more than their text.
        let numbers = event_weight(&event(json!({"n": vec![1; 1000]})));
        assert!(numbers >= 1000 * NODE, "{numbers}");
        // Within a small factor of the JSON for ordinary text.
        let e = event(json!({"message_id": "m1", "text": "a reply of some length ".repeat(50)}));
        let json = serde_json::to_vec(&e).unwrap().len();
        let w = event_weight(&e);
        assert!(w >= json / 2 && w <= json * 2, "{w} vs {json}");
    }
}
