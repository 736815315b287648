use std::time::Duration;

/// What one plugin call may use. The administrator's policy can lower these, never raise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Wall-clock time per call, enforced by epoch interruption.
    pub call_timeout: Duration,
    /// Total text in the effects one call returns.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 32 * 1024 * 1024,
            call_timeout: Duration::from_secs(2),
            output_bytes: 256 * 1024,
        }
    }
}

impl Limits {
    /// The lower of each limit: how a policy applies its own.
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.min(other.memory_bytes),
            call_timeout: self.call_timeout.min(other.call_timeout),
            output_bytes: self.output_bytes.min(other.output_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_design() {
        let l = Limits::default();
        assert_eq!(l.memory_bytes, 32 << 20);
        assert_eq!(l.call_timeout, Duration::from_secs(2));
    }

    #[test]
    fn min_never_raises() {
        let low = Limits {
            memory_bytes: 1,
            call_timeout: Duration::from_millis(1),
            output_bytes: 1,
        };
        assert_eq!(Limits::default().min(low), low);
        assert_eq!(low.min(Limits::default()), low);
    }
}
