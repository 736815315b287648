//! Server-Sent Events, read by the WHATWG HTML "event stream interpretation" rules.
//!
//! tether reads event streams in several places: the relay's session streams (the bridge's worker,
//! the relay's tests and benches, the end-to-end tests) and model providers' streaming replies
//! (the engines). Each used to carry its own parser, and each got a different corner of the format
//! wrong. This crate is the one parser they all share, so the rules live and are tested in one
//! place.
//!
//! It is pure: the caller reads bytes however it likes (async, blocking, in a bench) and feeds
//! them to [`Parser::push`] split anywhere — inside a line, inside a `\r\n`, inside a UTF-8
//! character — and gets back the [`Item`]s they complete. Memory is bounded by a limit the caller
//! chooses: a line or an event larger than it is an [`Error`], not an ever-growing buffer.
//!
//! Text that is not valid UTF-8 is decoded lossily (each bad sequence becomes U+FFFD), as the
//! WHATWG rules decode the stream; it is never an error.
//!
//! ```
//! use tether_sse::{Event, Item, Parser};
//!
//! let mut parser = Parser::new(1 << 20);
//! let mut items = parser.push(b": keepalive\nid: 7\ndata: hel").unwrap();
//! items.extend(parser.push(b"lo\r\n\r\n").unwrap());
//! assert_eq!(
//!     items,
//!     [
//!         Item::Comment(" keepalive".into()),
//!         Item::Event(Event { id: "7".into(), event: "message".into(), data: "hello".into() }),
//!     ]
//! );
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod block;
mod error;
mod item;
mod lines;
mod parser;

pub use error::Error;
pub use item::{Event, Item};
pub use parser::Parser;
