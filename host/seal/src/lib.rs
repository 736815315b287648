//! End-to-end encryption of a session (docs/protocol.md §4.7).
//!
//! The relay carries sessions it can neither read nor forge: the terminal makes a session key,
//! which reaches a browser only in a URL fragment, and every event that carries the conversation
//! travels as an envelope only key holders can open. This crate is the Rust side of that
//! contract (the page's side is `host/relay/web/seal.js`); both check the same known-answer
//! vector, so a third-party client can implement it from the document alone.
//!
//! It is split by job, each a small pure piece with no I/O beyond the random numbers:
//! - [`SessionKey`] (`key.rs`): the 32 random bytes and their generation, and the fragment
//!   that carries them;
//! - [`Keys`] (`keys.rs`): the two AES-256-GCM keys derived from it, one per direction;
//! - `aad.rs`: the associated data that binds a ciphertext to its session, event, type,
//!   direction and generation;
//! - [`Envelope`] (`envelope.rs`): the sealed payload on the wire;
//! - [`Sealer`] (`seal.rs`): a publisher, numbering its events inside the ciphertext;
//! - [`open`] (`open.rs`): one event, opened or [`Unverified`];
//! - [`Ledger`] (`ledger.rs`): the counters a receiver has seen, which turn a relay's replay,
//!   drop or reordering into a repeat, a gap or a late event;
//! - [`Reader`] (`reader.rs`): the two together, as a receiver uses them on a stream.
//!
//! The primitives (AES-256-GCM, HKDF-SHA256, the random numbers) come from `ring`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aad;
mod envelope;
mod key;
mod keys;
mod ledger;
mod open;
mod reader;
mod seal;
#[cfg(test)]
mod vector;

pub use aad::associated_data;
pub use envelope::Envelope;
pub use key::{KeyError, SessionKey};
pub use keys::{Direction, Keys};
pub use ledger::{Ledger, Order};
pub use open::{Opened, Unverified, open};
pub use reader::{Reader, Received};
pub use seal::{SealError, Sealer, sender_id};

/// Whether events of `kind` travel sealed: every type but the three the relay itself writes or
/// reads (`session_state`, `worker_status`, `catch_up_truncated`). Types added later are sealed
/// without a change here.
pub fn is_sealed(kind: &str) -> bool {
    !matches!(
        kind,
        "session_state" | "worker_status" | "catch_up_truncated"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_relays_own_types_are_plaintext() {
        for kind in [
            "system_init",
            "user_message",
            "assistant_delta",
            "assistant_message",
            "command_output",
            "conversation_cleared",
            "control_request",
            "control_response",
            "control_cancel",
            "tool_activity_from_a_later_issue",
        ] {
            assert!(is_sealed(kind), "{kind}");
        }
        for kind in ["session_state", "worker_status", "catch_up_truncated"] {
            assert!(!is_sealed(kind), "{kind}");
        }
    }
}
