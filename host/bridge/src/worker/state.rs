//! The worker state (`PUT …/worker`): only the latest matters, so a new state replaces one not
//! yet sent, and a failed one is sent again unless a newer one came meanwhile. Each state waits
//! until the events published before it are acknowledged, so clients see `idle` after the
//! answer it follows, not before.

use serde_json::Value;
use tether_protocol::api::WorkerState;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wanted {
    pub state: WorkerState,
    pub details: Option<Value>,
    /// Send once this many events are settled (those published before it).
    pub after: u64,
}

#[derive(Default)]
pub(crate) struct StateSlot {
    wanted: Option<Wanted>,
    in_flight: Option<Wanted>,
}

impl StateSlot {
    pub(crate) fn set(&mut self, wanted: Wanted) {
        self.wanted = Some(wanted);
    }

    /// The state to send now, if any: one at a time, after the events it follows.
    pub(crate) fn next(&mut self, settled: u64) -> Option<Wanted> {
        if self.in_flight.is_some() || self.wanted.as_ref()?.after > settled {
            return None;
        }
        self.in_flight = self.wanted.take();
        self.in_flight.clone()
    }

    /// Whether events published after the state in flight must wait until it is stored. An
    /// `idle` (or `requires_action`) that reached the relay after the next turn's first events
    /// would tell clients that nothing streams while a reply does; a late `running` only shows a
    /// moment late, so the first words of a reply never wait for it.
    pub(crate) fn holds_events(&self) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|w| w.state != WorkerState::Running)
    }

    /// Where events must stop until the state waiting to be sent is stored: the count of
    /// events it follows, when it holds events (not `running`).
    pub(crate) fn boundary(&self) -> Option<u64> {
        self.wanted
            .as_ref()
            .filter(|w| w.state != WorkerState::Running)
            .map(|w| w.after)
    }

    /// The state in flight was stored, or refused for good: either way it is done.
    pub(crate) fn done(&mut self) {
        self.in_flight = None;
    }

    /// The state in flight got no answer: send it again, unless a newer one is waiting.
    pub(crate) fn failed(&mut self) {
        if let Some(lost) = self.in_flight.take()
            && self.wanted.is_none()
        {
            self.wanted = Some(lost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(state: WorkerState, after: u64) -> Wanted {
        Wanted {
            state,
            details: None,
            after,
        }
    }

    #[test]
    fn only_the_latest_state_is_sent() {
        let mut s = StateSlot::default();
        assert_eq!(s.next(0), None);
        s.set(wanted(WorkerState::Running, 0));
        s.set(wanted(WorkerState::Idle, 0));
        assert_eq!(s.next(0), Some(wanted(WorkerState::Idle, 0)));
        assert_eq!(s.next(0), None, "one at a time");
        s.done();
        assert_eq!(s.next(0), None);
    }

    #[test]
    fn a_state_waits_for_the_events_before_it() {
        let mut s = StateSlot::default();
        s.set(wanted(WorkerState::Idle, 3));
        assert_eq!(s.next(2), None);
        assert_eq!(s.next(3), Some(wanted(WorkerState::Idle, 3)));
    }

    #[test]
    fn a_lost_state_is_resent_unless_superseded() {
        let mut s = StateSlot::default();
        s.set(wanted(WorkerState::Running, 0));
        assert!(s.next(0).is_some());
        s.failed();
        assert_eq!(s.next(0), Some(wanted(WorkerState::Running, 0)));
        s.set(wanted(WorkerState::RequiresAction, 0));
        s.failed();
        assert_eq!(s.next(0), Some(wanted(WorkerState::RequiresAction, 0)));
    }

    #[test]
    fn only_an_idle_or_waiting_state_in_flight_holds_later_events() {
        let mut slot = StateSlot::default();
        assert!(!slot.holds_events());
        slot.set(wanted(WorkerState::Running, 0));
        slot.next(0).unwrap();
        assert!(
            !slot.holds_events(),
            "the first words never wait for `running`"
        );
        slot.done();
        for state in [WorkerState::Idle, WorkerState::RequiresAction] {
            slot.set(wanted(state, 0));
            slot.next(0).unwrap();
            assert!(slot.holds_events(), "{state:?}");
            slot.done();
            assert!(!slot.holds_events());
        }
        slot.set(wanted(WorkerState::Idle, 0));
        slot.next(0).unwrap();
        slot.failed();
        assert!(!slot.holds_events(), "not in flight once it failed");
        assert_eq!(
            slot.boundary(),
            Some(0),
            "waiting again, it still bounds the events"
        );
        slot.set(wanted(WorkerState::Running, 4));
        assert_eq!(slot.boundary(), None, "a waiting `running` bounds nothing");
    }
}
