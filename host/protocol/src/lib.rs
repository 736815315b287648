//! Pure data and rules shared by every part of tether: the terminal, the relay, the bridge and the
//! tests. Nothing here performs I/O, so every rule can be tested exhaustively and reused as is on
//! both ends of a connection.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod command;
pub mod effect;
pub mod event;
pub mod gate;
pub mod payload;
pub mod push;
pub mod session_id;
pub mod stream_end;
pub mod text;
pub mod untrusted;

pub use command::{
    Capabilities, Capability, CommandInfo, CommandSource, Kind, Origin, Safety, validate_name,
};
pub use effect::{EffectKind, effect_allowed};
pub use event::{Event, EventRefusal, NewEvent, Source, check_publish};
pub use gate::{Context, Decision, Refusal, gate};
pub use payload::Payload;
pub use session_id::{BadSessionId, RelayKind, SessionId};
pub use stream_end::{RECONNECT_EVENT, StreamEnd};
