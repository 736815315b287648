//! Failure counting for login throttling: a sliding window per key. Pure (time is passed in), so
//! the rule is tested without sleeping.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// At most `limit` hits per key within a sliding `period`.
#[derive(Debug)]
pub struct Window {
    limit: u32,
    period: Duration,
    hits: HashMap<String, VecDeque<Instant>>,
}

impl Window {
    /// An empty window.
    pub fn new(limit: u32, period: Duration) -> Self {
        Window {
            limit,
            period,
            hits: HashMap::new(),
        }
    }

    /// `Err(seconds to wait)` when `key` has used up its allowance.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), u64> {
        let Some(hits) = self.hits.get_mut(key) else {
            return Ok(());
        };
        while hits
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.period)
        {
            hits.pop_front();
        }
        if hits.len() < self.limit as usize {
            return Ok(());
        }
        let oldest = *hits.front().expect("limit is at least one");
        let wait = self.period.saturating_sub(now.duration_since(oldest));
        Err(wait.as_secs().max(1))
    }

    /// Check and record in one step: the attempt takes its place in the window before the
    /// work it stands for is done, so concurrent attempts are counted exactly as a sequence
    /// would be. Give the place back with [`Window::release`] if the attempt did not count
    /// (it succeeded, or was never made).
    pub fn reserve(&mut self, key: &str, now: Instant) -> Result<(), u64> {
        self.check(key, now)?;
        self.record(key, now);
        Ok(())
    }

    /// Undo one [`Window::reserve`] made at `at`.
    pub fn release(&mut self, key: &str, at: Instant) {
        let Some(hits) = self.hits.get_mut(key) else {
            return;
        };
        if let Some(i) = hits.iter().rposition(|&t| t == at) {
            hits.remove(i);
        }
        if hits.is_empty() {
            self.hits.remove(key);
        }
    }

    /// Count a hit for `key`.
    pub fn record(&mut self, key: &str, now: Instant) {
        let hits = self.hits.entry(key.to_owned()).or_default();
        hits.push_back(now);
        // Never hold more than the limit: older hits cannot change the answer.
        while hits.len() > self.limit as usize {
            hits.pop_front();
        }
    }

    /// Forget `key`'s hits (a successful login).
    pub fn clear(&mut self, key: &str) {
        self.hits.remove(key);
    }

    /// Forget keys with nothing inside the window, so memory stays bounded under a spray of
    /// made-up user names.
    pub fn prune(&mut self, now: Instant) {
        let period = self.period;
        self.hits
            .retain(|_, hits| hits.back().is_some_and(|&t| now.duration_since(t) < period));
    }

    /// Keys with hits held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// Whether no key has hits held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// Reserve one attempt under every `(window, key)` or under none: refused by any, the places
/// already taken are given back and the answer is that window's wait.
pub fn reserve_all(windows: &mut [(&mut Window, &str)], now: Instant) -> Result<(), u64> {
    for i in 0..windows.len() {
        let (window, key) = &mut windows[i];
        if let Err(wait) = window.reserve(key, now) {
            for (window, key) in &mut windows[..i] {
                window.release(key, now);
            }
            return Err(wait);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_slides() {
        let t0 = Instant::now();
        let mut w = Window::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert_eq!(w.check("alice", t0), Ok(()), "attempt {i}");
            w.record("alice", t0 + Duration::from_secs(i));
        }
        assert_eq!(w.check("alice", t0 + Duration::from_secs(10)), Err(50));
        assert_eq!(w.check("bob", t0), Ok(()), "keys are independent");
        assert_eq!(w.check("alice", t0 + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn reservations_count_before_the_work_and_can_be_given_back() {
        let t0 = Instant::now();
        let mut w = Window::new(3, Duration::from_secs(60));
        // A burst: every attempt reserves at the same instant, before any is decided.
        let outcomes: Vec<_> = (0..10).map(|_| w.reserve("alice", t0)).collect();
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 3);
        assert!(outcomes[3..].iter().all(|o| *o == Err(60)));
        // One of them succeeded: its place is free again, and only one.
        w.release("alice", t0);
        assert_eq!(w.reserve("alice", t0), Ok(()));
        assert!(w.reserve("alice", t0).is_err());
        // Releasing what was never reserved changes nothing.
        w.release("bob", t0);
        w.release("alice", t0 + Duration::from_secs(1));
        assert!(w.check("alice", t0).is_err());
        for _ in 0..3 {
            w.release("alice", t0);
        }
        assert!(w.is_empty(), "an empty key is forgotten");
    }

    #[test]
    fn reserving_under_several_windows_is_all_or_nothing() {
        let t0 = Instant::now();
        let mut account = Window::new(5, Duration::from_secs(60));
        let mut address = Window::new(2, Duration::from_secs(60));
        let mut attempt =
            |name: &str| reserve_all(&mut [(&mut account, name), (&mut address, "10.0.0.1")], t0);
        assert_eq!(attempt("alice"), Ok(()));
        assert_eq!(attempt("bob"), Ok(()));
        // The address is used up: carol's attempt takes no place under her name either.
        assert_eq!(attempt("carol"), Err(60));
        assert_eq!(account.len(), 2, "alice and bob only");
        assert!(account.check("carol", t0).is_ok());
    }

    #[test]
    fn clear_and_prune() {
        let t0 = Instant::now();
        let mut w = Window::new(1, Duration::from_secs(10));
        w.record("a", t0);
        w.record("b", t0 + Duration::from_secs(8));
        assert!(w.check("a", t0).is_err());
        w.clear("a");
        assert!(w.check("a", t0).is_ok());
        w.prune(t0 + Duration::from_secs(12));
        assert_eq!(w.len(), 1);
        w.prune(t0 + Duration::from_secs(20));
        assert!(w.is_empty());
    }

    #[test]
    fn memory_per_key_is_bounded() {
        let t0 = Instant::now();
        let mut w = Window::new(5, Duration::from_secs(60));
        for _ in 0..10_000 {
            w.record("x", t0);
        }
        assert_eq!(w.hits["x"].len(), 5);
    }
}
