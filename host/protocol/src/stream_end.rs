//! How the relay ends a stream, in the words both ends read (docs/protocol.md 5.6): the
//! WebSocket close code of each cause, and the SSE event that asks a reader to move now.
//!
//! One list, because a code the relay sends and the bridge does not know is a reconnect loop
//! or a worker that gives up when it should have moved.

/// Why the relay ended a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The session was deleted. Reconnecting answers `404`.
    Gone,
    /// A newer worker registered (worker streams only). Reconnecting answers `409 stale_epoch`.
    StaleEpoch,
    /// The login that opened the stream was revoked. Reconnecting answers `401`.
    Revoked,
    /// A message over the size limit arrived (RFC 6455's "message too big").
    TooBig,
    /// This relay node is stopping: reconnect at once (a proxy sends the reconnect to a node
    /// that is up) and resume from the last `seq`. RFC 6455's "service restart".
    Moving,
}

impl StreamEnd {
    /// Every cause, for exhaustive tests.
    pub const ALL: [StreamEnd; 5] = [
        StreamEnd::Gone,
        StreamEnd::StaleEpoch,
        StreamEnd::Revoked,
        StreamEnd::TooBig,
        StreamEnd::Moving,
    ];

    /// The WebSocket close code (4000–4999 are for applications; the others are RFC 6455's).
    pub const fn close_code(self) -> u16 {
        match self {
            StreamEnd::Gone => 4410,
            StreamEnd::StaleEpoch => 4409,
            StreamEnd::Revoked => 4401,
            StreamEnd::TooBig => 1009,
            StreamEnd::Moving => 1012,
        }
    }

    /// The close frame's reason, for people.
    pub const fn reason(self) -> &'static str {
        match self {
            StreamEnd::Gone => "session closed",
            StreamEnd::StaleEpoch => "stale worker epoch",
            StreamEnd::Revoked => "credentials revoked",
            StreamEnd::TooBig => "message too big",
            StreamEnd::Moving => "relay restarting",
        }
    }

    /// The cause a close code stands for; `None` for codes the relay does not send (a peer's
    /// `1000`, a proxy's `1001`, an abnormal `1006`).
    pub fn from_close_code(code: u16) -> Option<StreamEnd> {
        StreamEnd::ALL.into_iter().find(|e| e.close_code() == code)
    }
}

/// The SSE event type (`event: reconnect`) the relay sends before ending a stream because the
/// node is stopping: the SSE form of [`StreamEnd::Moving`]. It carries no `id`, so the reader's
/// last event ID stays the last event's.
pub const RECONNECT_EVENT: &str = "reconnect";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_has_its_own_code_and_reads_back() {
        for end in StreamEnd::ALL {
            assert_eq!(StreamEnd::from_close_code(end.close_code()), Some(end));
        }
        let mut codes: Vec<u16> = StreamEnd::ALL.iter().map(|e| e.close_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), StreamEnd::ALL.len());
        for other in [1000, 1001, 1006, 1011, 4000, 0, u16::MAX] {
            assert_eq!(StreamEnd::from_close_code(other), None, "{other}");
        }
    }

    #[test]
    fn the_wire_values_are_the_documented_ones() {
        assert_eq!(StreamEnd::Gone.close_code(), 4410);
        assert_eq!(StreamEnd::StaleEpoch.close_code(), 4409);
        assert_eq!(StreamEnd::Revoked.close_code(), 4401);
        assert_eq!(StreamEnd::TooBig.close_code(), 1009);
        assert_eq!(StreamEnd::Moving.close_code(), 1012);
        assert_eq!(RECONNECT_EVENT, "reconnect");
    }
}
