//! What a stream yields.

/// One thing a stream said, in the order it said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A dispatched event (a block of lines with at least one `data` field, ended by a blank
    /// line).
    Event(Event),
    /// A comment line: the text after the `:`, exactly (a leading space is kept). Browsers
    /// ignore these; tether's callers use them as keepalives.
    Comment(String),
    /// A `retry` field whose value is ASCII digits only (and at least one): the reconnection time the server asks
    /// for, in milliseconds (saturating at `u64::MAX`). It applies at once, event or not.
    Retry(u64),
}

/// An event as the WHATWG rules dispatch it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The last event ID in force when the event was dispatched: set by an `id` field and kept
    /// for later events until another `id` replaces it (empty if none ever came, or an empty
    /// `id` reset it). A resuming client sends it back as `Last-Event-ID`.
    pub id: String,
    /// The event type: the last `event` field of the block, or `message` if it had none.
    pub event: String,
    /// The block's `data` fields, joined by `\n`.
    pub data: String,
}
