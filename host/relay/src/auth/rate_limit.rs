//! The throttles' rule: at most `limit` hits per key within a sliding `period`. Pure (the hits
//! and the time are passed in), so it is tested without sleeping or a database. The hits live
//! in the database (`store/throttles.rs`), so that every node counts the same attempts.

/// At most `limit` hits within `period_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Hits allowed in the window (at least one).
    pub limit: u32,
    /// The window's length, in milliseconds.
    pub period_ms: u64,
}

impl Rule {
    /// `limit` hits per `period`. A limit of zero would refuse everyone forever: it is one.
    pub fn new(limit: u32, period: std::time::Duration) -> Rule {
        Rule {
            limit: limit.max(1),
            period_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// One key's hits (Unix ms), oldest first, never more than the rule's limit: older hits
/// cannot change the answer, so memory per key is bounded however hard it is hammered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits(Vec<u64>);

impl Hits {
    /// Read back what [`Hits::encode`] wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Hits> {
        if text.is_empty() {
            return Some(Hits::default());
        }
        let hits = text
            .split(',')
            .map(|t| t.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        hits.is_sorted().then_some(Hits(hits))
    }

    /// Comma-separated decimal milliseconds.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(self.0.len() * 14);
        for (i, hit) in self.0.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&hit.to_string());
        }
        text
    }

    /// Whether no hit is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// When the newest hit leaves the window: after that the key can be forgotten.
    pub fn expires_at(&self, rule: Rule) -> u64 {
        self.0
            .last()
            .map_or(0, |newest| newest.saturating_add(rule.period_ms))
    }

    /// `Err(seconds to wait)` when the key has used up its allowance at `now`. Hits that left
    /// the window are forgotten. A hit "from the future" (another node's clock a little ahead)
    /// counts as just made.
    pub fn check(&mut self, rule: Rule, now: u64) -> Result<(), u64> {
        self.0
            .retain(|&hit| now.saturating_sub(hit) < rule.period_ms);
        if self.0.len() < rule.limit as usize {
            return Ok(());
        }
        // The hit whose leaving brings the count under the limit.
        let leaving = self.0[self.0.len() - rule.limit as usize];
        let wait_ms = rule.period_ms - now.saturating_sub(leaving);
        Err(wait_ms.div_ceil(1000).max(1))
    }

    /// Count a hit at `now` (after a [`Hits::check`] that allowed it).
    pub fn take(&mut self, rule: Rule, now: u64) {
        let at = self.0.partition_point(|&hit| hit <= now);
        self.0.insert(at, now);
        let excess = self.0.len().saturating_sub(rule.limit as usize);
        self.0.drain(..excess);
    }

    /// Give back one hit taken at `at`, if it is still held.
    pub fn give_back(&mut self, at: u64) {
        if let Some(i) = self.0.iter().rposition(|&hit| hit == at) {
            self.0.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MINUTE: Rule = Rule {
        limit: 3,
        period_ms: 60_000,
    };

    fn reserve(hits: &mut Hits, rule: Rule, now: u64) -> Result<(), u64> {
        hits.check(rule, now)?;
        hits.take(rule, now);
        Ok(())
    }

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_slides() {
        let t0 = 1_000_000;
        let mut hits = Hits::default();
        for i in 0..3 {
            assert_eq!(
                reserve(&mut hits, MINUTE, t0 + i * 1000),
                Ok(()),
                "attempt {i}"
            );
        }
        assert_eq!(hits.check(MINUTE, t0 + 10_000), Err(50));
        assert_eq!(hits.check(MINUTE, t0 + 59_999), Err(1), "never zero");
        assert_eq!(hits.check(MINUTE, t0 + 60_000), Ok(()), "the first left");
        assert_eq!(hits.check(MINUTE, t0 + 60_500), Ok(()));
        assert_eq!(hits.0, [t0 + 1000, t0 + 2000], "what left is forgotten");
    }

    #[test]
    fn the_wait_is_for_the_hit_whose_leaving_frees_a_place() {
        let t0 = 1_000_000;
        let mut hits = Hits(vec![t0, t0 + 20_000, t0 + 40_000]);
        // Three held, limit two: the second must leave, at t0 + 80 s.
        let two = Rule { limit: 2, ..MINUTE };
        assert_eq!(hits.check(two, t0 + 41_000), Err(39));
    }

    #[test]
    fn a_burst_at_one_instant_takes_exactly_the_limit() {
        let t0 = 5_000;
        let mut hits = Hits::default();
        let outcomes: Vec<_> = (0..10).map(|_| reserve(&mut hits, MINUTE, t0)).collect();
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 3);
        assert!(outcomes[3..].iter().all(|o| *o == Err(60)));
        // One of them succeeded: its place is free again, and only one.
        hits.give_back(t0);
        assert_eq!(reserve(&mut hits, MINUTE, t0), Ok(()));
        assert!(reserve(&mut hits, MINUTE, t0).is_err());
        // Giving back what was never taken changes nothing.
        hits.give_back(t0 + 1);
        assert!(hits.check(MINUTE, t0).is_err());
        for _ in 0..3 {
            hits.give_back(t0);
        }
        assert!(hits.is_empty());
    }

    #[test]
    fn a_hit_from_a_clock_ahead_counts_as_just_made() {
        let mut hits = Hits::default();
        let one = Rule { limit: 1, ..MINUTE };
        reserve(&mut hits, one, 10_000).unwrap();
        assert_eq!(hits.check(one, 9_000), Err(60), "kept, and the full wait");
        assert_eq!(hits.check(one, 70_000), Ok(()));
    }

    #[test]
    fn memory_per_key_is_bounded_and_kept_in_order() {
        let mut hits = Hits::default();
        for i in 0..10_000 {
            hits.take(MINUTE, 50_000 - i);
        }
        assert_eq!(hits.0.len(), 3);
        assert!(hits.0.is_sorted());
        assert_eq!(hits.expires_at(MINUTE), 50_000 + 60_000);
        assert_eq!(Hits::default().expires_at(MINUTE), 0);
    }

    #[test]
    fn encoding_round_trips_and_anything_else_is_refused() {
        for hits in [vec![], vec![1], vec![1, 2, 1_764_000_000_000]] {
            let hits = Hits(hits);
            assert_eq!(Hits::decode(&hits.encode()), Some(hits));
        }
        for bad in [
            ",",
            "1,",
            "a",
            "-1",
            "2,1",
            "1;2",
            "99999999999999999999999",
        ] {
            assert_eq!(Hits::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_zero_limit_is_one() {
        assert_eq!(Rule::new(0, Duration::from_secs(1)).limit, 1);
        assert_eq!(Rule::new(4, Duration::from_secs(2)).period_ms, 2000);
    }
}
