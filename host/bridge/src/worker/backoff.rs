//! How long to wait before reconnecting: exponential, capped, with jitter so that many
//! terminals cut off by one relay restart do not all come back in the same instant.

use std::time::Duration;

/// The wait before attempt `attempt` (1 for the first retry): `initial · 2^(attempt-1)`, capped
/// at `max`, then scaled into `[½, 1]` of that by `jitter` (a number in `[0, 1)`). Keeping the
/// lower half means the wait still grows with every failure ("equal jitter").
pub(crate) fn delay(initial: Duration, max: Duration, attempt: u32, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << doublings).min(max);
    base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A random number in `[0, 1)`. The low 53 bits of a v4 UUID are random (its version and
/// variant bits are higher up), which saves a dependency on a random-number crate.
pub(crate) fn jitter() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() & ((1u128 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn doubles_from_initial_up_to_the_cap() {
        let at = |n| delay(MS(500), MS(30_000), n, 1.0);
        assert_eq!(at(1), MS(500));
        assert_eq!(at(2), MS(1000));
        assert_eq!(at(3), MS(2000));
        assert_eq!(at(7), MS(30_000));
        assert_eq!(at(1000), MS(30_000));
        assert_eq!(at(u32::MAX), MS(30_000));
        assert_eq!(delay(MS(500), MS(30_000), 0, 1.0), MS(500));
    }

    #[test]
    fn jitter_keeps_the_upper_half() {
        assert_eq!(delay(MS(1000), MS(8000), 1, 0.0), MS(500));
        assert_eq!(delay(MS(1000), MS(8000), 4, 0.0), MS(4000));
        assert_eq!(delay(MS(1000), MS(8000), 2, 0.5), MS(1500));
        assert_eq!(delay(MS(1000), MS(8000), 2, 7.0), MS(2000));
    }

    #[test]
    fn random_jitter_is_in_range_and_varies() {
        let draws: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(draws.iter().any(|j| *j != draws[0]));
    }
}
