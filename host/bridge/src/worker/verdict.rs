//! What a failed worker call means, as pure rules: whose `409` it was, when to refresh the
//! worker token, and whether to retry, register again, or stop for good.

use std::time::Duration;

use crate::api::ApiError;

/// Why a worker stops when another terminal registered for its session.
pub const TAKEN_OVER: &str =
    "Another terminal took over this session; this one stopped publishing.";
/// Why a worker stops when its session is gone.
pub const SESSION_GONE: &str =
    "The session no longer exists on the relay (it was deleted); this terminal stopped publishing.";

/// Whose registration made a request's epoch stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The request carried an epoch older than our newest: our own re-registration superseded
    /// it. Carry on with the new token.
    OwnRefresh,
    /// The request carried our newest epoch, so someone else registered after us: another
    /// terminal took the session. Registering again would steal it back, so we stop.
    TakenOver,
}

pub(crate) fn conflict(used_epoch: u64, newest_epoch: u64) -> Conflict {
    if used_epoch < newest_epoch {
        Conflict::OwnRefresh
    } else {
        Conflict::TakenOver
    }
}

/// When to register again for a worker token valid for `expires_in`: `margin` before it
/// expires, but never sooner than halfway, nor than a second (a margin longer than the lifetime,
/// or a relay handing out instant-expiry tokens, must not turn into registering in a tight loop).
pub(crate) fn refresh_after(expires_in: Duration, margin: Duration) -> Duration {
    expires_in
        .saturating_sub(margin)
        .max(expires_in / 2)
        .max(Duration::from_secs(1))
}

/// A connection shorter than this that the relay ends with "reconnect" (its node is
/// stopping) is a quick move: one is obeyed at once (a node may stop just after we arrived),
/// but a second in a row is backed off like a failure, so that no relay (nor a proxy sending
/// everyone to a node that is stopping) can make the worker spin.
pub(crate) const QUICK_MOVE: Duration = Duration::from_secs(1);

/// Whether to reconnect at once when the relay asks us to move off a connection that `lasted`,
/// after `quick_moves` quick moves in a row.
pub(crate) fn move_at_once(lasted: Duration, quick_moves: u32) -> bool {
    lasted >= QUICK_MOVE || quick_moves == 0
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Transient (network, 5xx, 429): reconnect after a backoff, keeping the worker token.
    Retry(String),
    /// The worker token was refused (401, typically expired): register again.
    Reregister(String),
    /// A stale epoch of our own (see [`Conflict::OwnRefresh`]): reconnect with the current token.
    Reconnect,
    /// Never going to work again (taken over, session deleted).
    Stop(String),
    /// The request itself was refused (400, 403, 413): sending it again would fail again.
    Refused(String),
}

/// Judge a failed worker call that carried `used_epoch`, when our newest epoch is `newest_epoch`.
pub(crate) fn judge(err: &ApiError, used_epoch: u64, newest_epoch: u64) -> Verdict {
    match err {
        ApiError::Network(m) | ApiError::Decode(m) => Verdict::Retry(m.clone()),
        ApiError::Status {
            status, message, ..
        } => match status {
            401 => Verdict::Reregister(message.clone()),
            409 => match conflict(used_epoch, newest_epoch) {
                Conflict::OwnRefresh => Verdict::Reconnect,
                Conflict::TakenOver => Verdict::Stop(TAKEN_OVER.to_owned()),
            },
            404 => Verdict::Stop(SESSION_GONE.to_owned()),
            400 | 403 | 413 => Verdict::Refused(message.clone()),
            _ => Verdict::Retry(err.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ApiError {
        ApiError::Status {
            status,
            kind: "k".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn a_stale_epoch_is_ours_only_when_we_registered_since() {
        assert_eq!(conflict(3, 4), Conflict::OwnRefresh);
        assert_eq!(conflict(4, 4), Conflict::TakenOver);
        // A request newer than anything we know cannot be ours either.
        assert_eq!(conflict(5, 4), Conflict::TakenOver);
        assert_eq!(judge(&status(409), 3, 4), Verdict::Reconnect);
        assert_eq!(judge(&status(409), 4, 4), Verdict::Stop(TAKEN_OVER.into()));
    }

    #[test]
    fn each_failure_has_one_course_of_action() {
        assert_eq!(
            judge(&ApiError::Network("refused".into()), 1, 1),
            Verdict::Retry("refused".into())
        );
        assert_eq!(judge(&status(401), 1, 1), Verdict::Reregister("m".into()));
        assert_eq!(
            judge(&status(404), 1, 1),
            Verdict::Stop(SESSION_GONE.into())
        );
        for s in [400, 403, 413] {
            assert_eq!(judge(&status(s), 1, 1), Verdict::Refused("m".into()));
        }
        for s in [429, 500, 502, 503] {
            assert!(matches!(judge(&status(s), 1, 1), Verdict::Retry(_)));
        }
    }

    #[test]
    fn a_move_is_at_once_unless_quick_moves_repeat() {
        let hour = Duration::from_secs(3600);
        let quick = QUICK_MOVE - Duration::from_millis(1);
        assert!(move_at_once(hour, 0));
        assert!(move_at_once(hour, 7), "a connection that lasted forgives");
        assert!(move_at_once(QUICK_MOVE, 3));
        assert!(move_at_once(quick, 0), "the first quick move is obeyed");
        assert!(move_at_once(Duration::ZERO, 0));
        assert!(!move_at_once(quick, 1), "the second in a row waits");
        assert!(!move_at_once(Duration::ZERO, 5));
    }

    #[test]
    fn refresh_margin_before_expiry_but_not_before_halfway() {
        let s = Duration::from_secs;
        assert_eq!(refresh_after(s(900), s(60)), s(840));
        assert_eq!(refresh_after(s(2), s(1)), s(1));
        assert_eq!(refresh_after(s(2), s(5)), s(1));
        assert_eq!(refresh_after(s(0), s(5)), s(1));
        assert_eq!(refresh_after(s(1), s(0)), s(1));
    }
}
