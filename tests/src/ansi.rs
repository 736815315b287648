//! Terminal output as plain text: escape sequences and control characters removed, one byte at
//! a time, so that a stream can be stripped as it comes.

/// Removes escape sequences (CSI, OSC, DCS and two-byte escapes) and control characters other
/// than newline and tab from a byte stream, one byte at a time.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stripper {
    #[default]
    Ground,
    Escape,
    Intermediate,
    Csi,
    /// OSC, DCS and the other string sequences, until BEL or ST.
    String,
    StringEscape,
}

impl Stripper {
    pub(crate) fn feed(&mut self, b: u8, out: &mut Vec<u8>) {
        *self = match (*self, b) {
            (Stripper::Ground, 0x1b) => Stripper::Escape,
            (Stripper::Ground, b'\n' | b'\t') => {
                out.push(b);
                Stripper::Ground
            }
            (Stripper::Ground, b) if b < 0x20 || b == 0x7f => Stripper::Ground,
            (Stripper::Ground, b) => {
                out.push(b);
                Stripper::Ground
            }
            (Stripper::Escape, b'[') => Stripper::Csi,
            (Stripper::Escape, b']' | b'P' | b'X' | b'^' | b'_') => Stripper::String,
            (Stripper::Escape | Stripper::Intermediate, 0x20..=0x2f) => Stripper::Intermediate,
            (Stripper::Escape | Stripper::Intermediate, _) => Stripper::Ground,
            (Stripper::Csi, 0x40..=0x7e) => Stripper::Ground,
            (Stripper::Csi, _) => Stripper::Csi,
            (Stripper::String, 0x07) => Stripper::Ground,
            (Stripper::String, 0x1b) => Stripper::StringEscape,
            (Stripper::String, _) => Stripper::String,
            (Stripper::StringEscape, b'\\') => Stripper::Ground,
            (Stripper::StringEscape, _) => Stripper::String,
        };
    }
}

/// `text` with escape sequences and control characters (but newlines) removed.
pub fn strip_ansi(text: &str) -> String {
    let mut s = Stripper::default();
    let mut out = Vec::new();
    for &b in text.as_bytes() {
        s.feed(b, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escapes() {
        assert_eq!(
            strip_ansi("\x1b[1;36mtether\x1b[0m 0.1\r\n\x1b]52;c;aGk=\x07x\x1b(By\x1b]0;t\x1b\\z"),
            "tether 0.1\nxyz"
        );
    }
}
