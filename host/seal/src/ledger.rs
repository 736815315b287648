//! The counters a receiver has seen, per sender. Each publisher numbers its events inside the
//! ciphertext, so what the relay does to the order shows here: a replay is a repeat, a dropped
//! event a gap, a held-back one late. Pure and bounded.

use std::collections::{HashMap, VecDeque};

/// Senders remembered; past this the oldest is forgotten (its next event would read as a gap).
const MAX_SENDERS: usize = 4096;
/// Missing ranges remembered per sender; past this the oldest is forgotten (a late event in it
/// would read as a repeat and be dropped).
const MAX_MISSING: usize = 1024;

/// Where an event stands among its sender's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The next one expected (or the first after trimmed history).
    InOrder,
    /// Seen before: drop it.
    Repeat,
    /// `missing` events of this sender before it never arrived: warn, then use it.
    Gap {
        /// How many are missing.
        missing: u64,
    },
    /// Older than one already seen and not seen itself: it was held back. Warn, then use it.
    Late,
}

impl Order {
    /// Whether the receiver should say something is wrong.
    pub fn is_warning(self) -> bool {
        matches!(self, Order::Gap { .. } | Order::Late)
    }
}

#[derive(Default)]
struct Seen {
    highest: u64,
    /// Counters below `highest` not seen yet, as inclusive ranges in ascending order.
    missing: VecDeque<(u64, u64)>,
    /// History was trimmed since this sender's last event: its next may jump.
    trimmed: bool,
}

/// Every sender's counters on one stream.
#[derive(Default)]
pub struct Ledger {
    senders: HashMap<String, Seen>,
    order: VecDeque<String>,
    /// The stream said history was trimmed: a sender first seen from now on may start past 1.
    after_trim: bool,
}

impl Ledger {
    /// An empty ledger: every sender must start at 1.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// The stream announced trimmed history (`catch_up_truncated`): the next event of every
    /// sender may skip what was trimmed.
    pub fn truncated(&mut self) {
        self.after_trim = true;
        for seen in self.senders.values_mut() {
            seen.trimmed = true;
        }
    }

    /// Record event `counter` of `sender` and say where it stands.
    pub fn observe(&mut self, sender: &str, counter: u64) -> Order {
        if !self.senders.contains_key(sender) {
            if self.senders.len() >= MAX_SENDERS
                && let Some(oldest) = self.order.pop_front()
            {
                self.senders.remove(&oldest);
            }
            self.order.push_back(sender.to_owned());
            self.senders.insert(
                sender.to_owned(),
                Seen {
                    trimmed: self.after_trim,
                    ..Seen::default()
                },
            );
        }
        let seen = self.senders.get_mut(sender).expect("inserted above");
        if counter > seen.highest {
            let skipped = counter - seen.highest - 1;
            let order = if skipped == 0 || seen.trimmed {
                Order::InOrder
            } else {
                if seen.missing.len() >= MAX_MISSING {
                    seen.missing.pop_front();
                }
                seen.missing.push_back((seen.highest + 1, counter - 1));
                Order::Gap { missing: skipped }
            };
            seen.highest = counter;
            seen.trimmed = false;
            return order;
        }
        let Some(at) = seen
            .missing
            .iter()
            .position(|&(from, to)| from <= counter && counter <= to)
        else {
            return Order::Repeat;
        };
        let (from, to) = seen.missing[at];
        seen.missing.remove(at);
        // What is left of the range on either side stays missing, in order.
        if counter < to {
            seen.missing.insert(at, (counter + 1, to));
        }
        if from < counter {
            seen.missing.insert(at, (from, counter - 1));
        }
        Order::Late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_repeats_gaps_and_late_events() {
        let mut l = Ledger::new();
        assert_eq!(l.observe("a", 1), Order::InOrder);
        assert_eq!(l.observe("a", 2), Order::InOrder);
        assert_eq!(l.observe("a", 2), Order::Repeat);
        assert_eq!(l.observe("a", 1), Order::Repeat);
        assert_eq!(l.observe("a", 6), Order::Gap { missing: 3 });
        assert_eq!(l.observe("a", 4), Order::Late, "3..=5 were missing");
        assert_eq!(l.observe("a", 4), Order::Repeat, "once late, then a repeat");
        assert_eq!(l.observe("a", 3), Order::Late);
        assert_eq!(l.observe("a", 5), Order::Late);
        assert_eq!(l.observe("a", 5), Order::Repeat);
        assert_eq!(l.observe("a", 7), Order::InOrder);
        // Senders are independent.
        assert_eq!(l.observe("b", 1), Order::InOrder);
        assert_eq!(l.observe("b", 3), Order::Gap { missing: 1 });
        assert_eq!(l.observe("a", 8), Order::InOrder);
    }

    #[test]
    fn a_sender_must_start_at_one_unless_history_was_trimmed() {
        let mut l = Ledger::new();
        assert_eq!(l.observe("late-joiner", 4), Order::Gap { missing: 3 });
        assert_eq!(l.observe("late-joiner", 1), Order::Late);
        assert_eq!(l.observe("known", 1), Order::InOrder);
        l.truncated();
        assert_eq!(
            l.observe("known", 40),
            Order::InOrder,
            "trimmed, not dropped"
        );
        assert_eq!(
            l.observe("known", 42),
            Order::Gap { missing: 1 },
            "only once"
        );
        assert_eq!(l.observe("new", 9), Order::InOrder);
        assert_eq!(l.observe("new", 11), Order::Gap { missing: 1 });
    }

    #[test]
    fn two_swapped_events_read_as_a_gap_then_a_late_one() {
        let mut l = Ledger::new();
        assert_eq!(l.observe("w", 1), Order::InOrder);
        assert_eq!(l.observe("w", 3), Order::Gap { missing: 1 });
        assert_eq!(l.observe("w", 2), Order::Late);
        assert!(Order::Late.is_warning() && Order::Gap { missing: 1 }.is_warning());
        assert!(!Order::InOrder.is_warning() && !Order::Repeat.is_warning());
    }

    #[test]
    fn memory_is_bounded_by_senders_and_gaps() {
        let mut l = Ledger::new();
        for s in 0..MAX_SENDERS + 10 {
            l.observe(&format!("s{s}"), 1);
        }
        assert_eq!(l.senders.len(), MAX_SENDERS);
        assert!(!l.senders.contains_key("s0"), "the oldest is forgotten");
        let mut l = Ledger::new();
        for n in 0..(MAX_MISSING as u64 + 10) {
            l.observe("g", 2 * n + 1);
        }
        assert_eq!(l.senders["g"].missing.len(), MAX_MISSING);
        assert_eq!(l.observe("g", 2), Order::Repeat, "forgotten, so dropped");
        let last_missing = 2 * (MAX_MISSING as u64 + 9);
        assert_eq!(l.observe("g", last_missing), Order::Late);
    }
}
