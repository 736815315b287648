//! How many streams may be open at once, per session and per account. Each open stream costs a
//! connection and up to a stream buffer of memory (`weight.rs`), so without a cap one account
//! could open streams until the relay runs out of either. The counts are the database's
//! (`store/streams.rs`), so the caps hold across nodes.

use crate::config::Limits;

/// Why a stream may not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefusal {
    /// The session has the most streams allowed.
    #[error(
        "This session already has {0} open streams, the most allowed; close one (another tab or \
         device following it) and try again."
    )]
    Session(usize),
    /// The account has the most streams allowed.
    #[error(
        "This account already has {0} open streams, the most allowed; close some (tabs or \
         devices following its sessions) and try again."
    )]
    Account(usize),
}

/// Whether one more stream may open, given how many are open on its session and its account.
pub fn admit(on_session: usize, on_account: usize, limits: &Limits) -> Result<(), StreamRefusal> {
    if on_session >= limits.max_streams_per_session {
        return Err(StreamRefusal::Session(limits.max_streams_per_session));
    }
    if on_account >= limits.max_streams_per_account {
        return Err(StreamRefusal::Account(limits.max_streams_per_account));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_session: usize, per_account: usize) -> Limits {
        Limits {
            max_streams_per_session: per_session,
            max_streams_per_account: per_account,
            ..Limits::default()
        }
    }

    #[test]
    fn admit_refuses_at_either_limit() {
        let l = limits(2, 3);
        for s in 0..5 {
            for a in 0..5 {
                let expected = if s >= 2 {
                    Err(StreamRefusal::Session(2))
                } else if a >= 3 {
                    Err(StreamRefusal::Account(3))
                } else {
                    Ok(())
                };
                assert_eq!(admit(s, a, &l), expected, "{s} {a}");
            }
        }
        assert!(
            StreamRefusal::Session(32)
                .to_string()
                .contains("32 open streams")
        );
    }
}
