//! The parser callers hold: line splitting and field rules joined, with the stream's one failure.

use crate::block::Block;
use crate::lines::Lines;
use crate::{Error, Event, Item};

/// An incremental event-stream parser: one per stream, fed its bytes in order.
#[derive(Debug)]
pub struct Parser {
    lines: Lines,
    block: Block,
    /// Set once the stream broke the limit; the stream is unreadable from there on.
    failed: Option<Error>,
}

impl Parser {
    /// A parser for a stream whose lines and whose events' data may each be at most `max` bytes.
    /// Whatever the stream sends, the parser holds no more than a few times `max` (the pending
    /// line, the event's data, its type and the last event ID).
    pub fn new(max: usize) -> Parser {
        Parser {
            lines: Lines::new(max),
            block: Block::new(max),
            failed: None,
        }
    }

    /// Feeds the next bytes of the stream, split anywhere; returns the items they complete, in
    /// order. After an error, every call returns that error again.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Item>, Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let mut out = Vec::new();
        let block = &mut self.block;
        let pushed = self
            .lines
            .push(bytes, &mut |line| block.line(line, &mut out));
        match pushed {
            Ok(()) => Ok(out),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// The stream ended. The WHATWG rules drop an event whose closing blank line never came, and
    /// simply dropping the parser does that; `finish` instead delivers it, for servers that end
    /// their last event with the stream. A line cut off mid-way is discarded either way.
    pub fn finish(&mut self) -> Option<Event> {
        self.lines.discard();
        if self.failed.is_some() {
            return None;
        }
        self.block.dispatch()
    }
}
