//! Text that tries to steer the terminal it is printed on, for the tests that prove tether shows
//! it instead of obeying it (a phone's message, a model's reply, a plugin's output).

use crate::{Pty, escaped, find};

/// Writes the clipboard (OSC 52), sets the title (OSC 0, with spaces so that a reply streamed
/// word by word splits it; and OSC 2), clears the screen and homes the cursor (CSI 2J, H), and
/// the same in eight bits (U+009B, the C1 CSI).
pub const ESCAPES: &str =
    "<\x1b]52;c;cGhvbmU=\x07\x1b]0;you were pwned\x07\x1b]2;pwned\x1b\\\x1b[2J\x1b[H\u{9b}2J>";

/// How tether shows [`ESCAPES`]: every control visible.
pub const SHOWN: &str =
    "<^[]52;c;cGhvbmU=^G^[]0;you were pwned^G^[]2;pwned^[\\^[[2J^[[H<U+009B>2J>";

/// Nothing in `raw` (what tether wrote) steers the terminal, and the emulator was asked for no
/// title and no clipboard write.
#[track_caller]
pub fn assert_not_obeyed(pty: &Pty, raw: &[u8]) {
    for sequence in ["\x1b]52;", "\x1b]0;", "\x1b]2;", "\x1b[2J", "\u{9b}"] {
        assert!(
            find(raw, sequence.as_bytes()).is_none(),
            "{sequence:?} reached the terminal: {}",
            escaped(raw)
        );
    }
    let asked = pty.requests();
    assert!(
        asked.titles.is_empty() && asked.clipboard.is_empty(),
        "the terminal was asked for {asked:?}"
    );
}
