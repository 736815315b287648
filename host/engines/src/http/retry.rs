//! When to try a request again: exponential back-off with jitter, or what the server asked for.

use std::time::{Duration, SystemTime};

/// How often and how patiently a turn is retried when the provider is rate limiting, overloaded
/// or failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means never retry).
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles for each one after.
    pub base: Duration,
    /// No wait is longer, not even one the server asks for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt `failed` (1 for the first) failed. `retry_after` is what the server
    /// asked for, if anything: it is honoured as is, up to `max_delay`. Otherwise the wait is
    /// `base · 2^(failed-1)`, scaled by a factor between 0.75 and 1.25 from `jitter` (in [0, 1])
    /// so that many clients do not retry in step, and capped at `max_delay`.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_delay);
        }
        let exponent = failed.saturating_sub(1).min(31);
        let backoff = self
            .base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let jitter = if jitter.is_nan() {
            0.5
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let factor = 0.75 + 0.5 * jitter;
        backoff.mul_f64(factor).min(self.max_delay)
    }
}

/// A `retry-after` header: whole (or fractional) seconds, or an HTTP date, which is read
/// relative to `now` (a date in the past means now). `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// OpenAI's `retry-after-ms`: milliseconds, possibly fractional.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    let ms = value.trim().parse::<f64>().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms.min(1e12) / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_default_is_five_attempts_from_one_second_to_a_minute() {
        let p = RetryPolicy::default();
        assert_eq!((p.max_attempts, p.base, p.max_delay), (5, S(1), S(60)));
    }

    #[test]
    fn exponential_with_jitter_and_a_cap() {
        let p = RetryPolicy::default();
        // Jitter in the middle: exactly base · 2^(n-1).
        assert_eq!(p.delay(1, None, 0.5), S(1));
        assert_eq!(p.delay(2, None, 0.5), S(2));
        assert_eq!(p.delay(3, None, 0.5), S(4));
        assert_eq!(p.delay(4, None, 0.5), S(8));
        // Jitter spreads ±25%.
        assert_eq!(p.delay(3, None, 0.0), S(3));
        assert_eq!(p.delay(3, None, 1.0), S(5));
        // Out-of-range jitter is clamped.
        assert_eq!(p.delay(3, None, 7.0), S(5));
        assert_eq!(p.delay(3, None, -1.0), S(3));
        assert_eq!(p.delay(3, None, f64::NAN), S(4));
        // The cap holds, even with jitter and absurd attempt numbers.
        assert_eq!(p.delay(7, None, 1.0), S(60));
        assert_eq!(p.delay(1000, None, 0.5), S(60));
        assert_eq!(p.delay(u32::MAX, None, 1.0), S(60));
        // Attempt 0 behaves like attempt 1.
        assert_eq!(p.delay(0, None, 0.5), S(1));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some(S(7)), 0.9), S(7));
        assert_eq!(p.delay(4, Some(MS(100)), 0.9), MS(100));
        assert_eq!(p.delay(1, Some(S(3600)), 0.0), S(60));
        assert_eq!(p.delay(1, Some(Duration::ZERO), 0.5), Duration::ZERO);
        let small = RetryPolicy {
            max_attempts: 3,
            base: MS(10),
            max_delay: MS(500),
        };
        assert_eq!(small.delay(2, None, 0.5), MS(20));
        assert_eq!(small.delay(1, Some(S(2)), 0.5), MS(500));
    }

    #[test]
    fn retry_after_header_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("1", now), Some(S(1)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(S(120)));
        assert_eq!(parse_retry_after("0.5", now), Some(MS(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(S(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("inf", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after_ms("1500"), Some(MS(1500)));
        assert_eq!(
            parse_retry_after_ms("20.5"),
            Some(Duration::from_micros(20_500))
        );
        assert_eq!(parse_retry_after_ms("x"), None);
    }
}
