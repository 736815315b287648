//! How many connections the relay may hold at once: fewer than the descriptor limit allows, so
//! that a flood of connections can never make `accept`, or SQLite opening its files, fail with
//! `EMFILE` and leave the relay unable to answer anyone.

/// Descriptors kept for everything that is not a client connection: standard streams, the
/// listener, the runtime's epoll and wake-up descriptors, SQLite's database, WAL and
/// shared-memory files for each of its connections plus its temporary files, the connection
/// accepted while the loop waits for a slot, and, in embedded mode, the terminal's own
/// connections to its relay and the files a session opens.
pub const HEADROOM: u64 = 64;

/// Fewer slots than this and a browser (which opens several connections) cannot be served.
pub const MIN_CONNECTIONS: usize = 8;

/// Used when the descriptor limit is unlimited and nothing was configured.
pub const UNLIMITED_DEFAULT: usize = 65_536;

/// Why the relay cannot serve with the descriptors it has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    /// Too few descriptors for the relay's own and the fewest connections it serves with.
    #[error(
        "RLIMIT_NOFILE is {limit}, too low to serve: the relay keeps {HEADROOM} descriptors for \
         itself and needs room for at least {MIN_CONNECTIONS} connections (raise it with \
         `ulimit -n` or systemd's LimitNOFILE=)"
    )]
    DescriptorLimit {
        /// The soft `RLIMIT_NOFILE`.
        limit: u64,
    },
    /// `--max-connections` under the fewest the relay serves with.
    #[error("--max-connections must be at least {MIN_CONNECTIONS}, not {0}")]
    TooFew(usize),
}

/// The connection cap: what was configured, never more than the soft descriptor limit (`None`:
/// unlimited) less [`HEADROOM`].
pub fn connection_cap(
    configured: Option<usize>,
    nofile: Option<u64>,
) -> Result<usize, CapacityError> {
    if let Some(n) = configured.filter(|n| *n < MIN_CONNECTIONS) {
        return Err(CapacityError::TooFew(n));
    }
    let allowed = match nofile {
        None => usize::MAX,
        Some(limit) => {
            let room = limit.saturating_sub(HEADROOM);
            if room < MIN_CONNECTIONS as u64 {
                return Err(CapacityError::DescriptorLimit { limit });
            }
            usize::try_from(room).unwrap_or(usize::MAX)
        }
    };
    let wanted = match (configured, nofile) {
        (Some(n), _) => n,
        (None, Some(_)) => allowed,
        (None, None) => UNLIMITED_DEFAULT,
    };
    Ok(wanted.min(allowed))
}

/// This process's soft `RLIMIT_NOFILE`; `None` when unlimited or unknown.
pub fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        assert_eq!(connection_cap(None, Some(1024)), Ok(960));
        assert_eq!(connection_cap(None, Some(256)), Ok(192));
        assert_eq!(connection_cap(Some(100), Some(1024)), Ok(100));
        assert_eq!(
            connection_cap(Some(5000), Some(1024)),
            Ok(960),
            "the descriptor limit wins over a configured cap"
        );
        assert_eq!(
            connection_cap(None, Some(HEADROOM + MIN_CONNECTIONS as u64)),
            Ok(MIN_CONNECTIONS)
        );
    }

    #[test]
    fn unlimited_descriptors_take_the_configured_cap_or_a_default() {
        assert_eq!(connection_cap(None, None), Ok(UNLIMITED_DEFAULT));
        assert_eq!(connection_cap(Some(9), None), Ok(9));
        assert_eq!(connection_cap(None, Some(u64::MAX)), Ok(usize::MAX - 64));
    }

    #[test]
    fn too_few_descriptors_or_slots_are_refused_with_the_fix() {
        let err = connection_cap(None, Some(70)).unwrap_err();
        assert_eq!(err, CapacityError::DescriptorLimit { limit: 70 });
        assert!(err.to_string().contains("ulimit -n"), "{err}");
        assert_eq!(
            connection_cap(None, Some(0)),
            Err(CapacityError::DescriptorLimit { limit: 0 })
        );
        assert_eq!(
            connection_cap(Some(3), Some(1024)),
            Err(CapacityError::TooFew(3))
        );
    }
}
