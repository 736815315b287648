//! Failure counting for login throttling: a sliding window per key. Pure (time is passed in), so
//! the rule is tested without sleeping.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Window {
    limit: u32,
    period: Duration,
    hits: HashMap<String, VecDeque<Instant>>,
}

impl Window {
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

    pub fn record(&mut self, key: &str, now: Instant) {
        let hits = self.hits.entry(key.to_owned()).or_default();
        hits.push_back(now);
        // Never hold more than the limit: older hits cannot change the answer.
        while hits.len() > self.limit as usize {
            hits.pop_front();
        }
    }

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

    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
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
