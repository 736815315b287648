//! Why a stream cannot be read on.

use std::fmt;

/// The stream broke the caller's size limit. The parser refuses to buffer more, so the stream
/// cannot be read further: every later [`Parser::push`](crate::Parser::push) returns the same
/// error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A line (without its line ending) grew past the limit.
    LineTooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// An event's data (its `data` fields joined by `\n`) grew past the limit.
    EventTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LineTooLong { max } => {
                write!(f, "an event-stream line is longer than {max} bytes")
            }
            Error::EventTooLarge { max } => write!(f, "an event's data is larger than {max} bytes"),
        }
    }
}

impl std::error::Error for Error {}
