//! What each provider's stream format implements: the attempts loop feeds it events and it says when
//! the reply is complete.

use super::failure::Failure;
use crate::usage::TurnUsage;

/// An event of a provider's stream, framed by `tether-sse`.
pub use tether_sse::Event as SseEvent;

/// What a decoder makes of one event.
pub(crate) enum Step {
    /// More to come.
    Continue,
    /// The reply is complete.
    Done(TurnUsage),
}

/// One provider's stream format. A fresh decoder reads each attempt.
pub(crate) trait Decoder: Send {
    /// One event. Text for the user goes into `text`.
    fn event(&mut self, event: SseEvent, text: &mut Vec<String>) -> Result<Step, Failure>;
    /// The body ended: the usage if the reply may end here, `None` if it was cut off.
    fn end(&mut self) -> Option<TurnUsage>;
}
