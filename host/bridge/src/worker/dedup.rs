//! The last few thousand event ids seen, to drop an event delivered twice (a relay that resends
//! across a reconnect) without remembering a long session's every id.

use std::collections::{HashSet, VecDeque};

pub(crate) struct DedupWindow {
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl DedupWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        DedupWindow {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Whether `id` is new; remembers it, forgetting the oldest id when full.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_dropped_and_memory_is_bounded() {
        let mut w = DedupWindow::new(3);
        assert!(w.insert("a"));
        assert!(!w.insert("a"));
        assert!(w.insert("b"));
        assert!(w.insert("c"));
        assert!(!w.insert("a"));
        assert!(w.insert("d"), "fills the window: `a` is forgotten");
        assert_eq!(w.order.len(), 3);
        assert_eq!(w.seen.len(), 3);
        assert!(w.insert("a"), "forgotten, so new again");
        assert!(!w.insert("d"));
    }
}
