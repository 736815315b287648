//! The associated data: what a ciphertext is bound to. Each field is one line; none can contain
//! a newline (session ids, UUIDs and types are validated, `source` and the generation are ours).

use crate::keys::{Direction, LABEL};

/// `tether-e2e-v1\n<session>\n<event id>\n<type>\n<source>\n<generation>`.
pub fn associated_data(
    session: &str,
    event_id: &str,
    kind: &str,
    direction: Direction,
    generation: u32,
) -> String {
    format!(
        "{LABEL}\n{session}\n{event_id}\n{kind}\n{}\n{generation}",
        direction.as_str()
    )
}
