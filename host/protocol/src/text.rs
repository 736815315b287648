//! Cutting text down to size for display, one rule everywhere: what an engine says about a
//! provider's error, what the terminal shows of a tool's input or a queued line, what a plugin
//! may print. Cuts fall on character boundaries, so no cut leaves broken UTF-8.

/// At most `max` characters of `text`, with an ellipsis when something was cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `text` on one line: runs of whitespace become one space, other control characters go.
pub fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// At most `max` bytes of `text`, cut back to the last whole character.
pub fn truncate_bytes(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten("héllo wörld", 5), "héllo…");
        assert_eq!(shorten("héllo", 5), "héllo");
        assert_eq!(shorten("", 0), "");
        assert_eq!(shorten("ab", 0), "…");
    }

    #[test]
    fn one_line_flattens_whitespace_and_drops_controls() {
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        assert_eq!(one_line("x\u{7}y\u{1b}[2J"), "xy[2J");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_bytes("héllo".into(), 2), "h");
        assert_eq!(truncate_bytes("héllo".into(), 3), "hé");
        assert_eq!(truncate_bytes("abc".into(), 10), "abc");
        assert_eq!(truncate_bytes("𝄞𝄞".into(), 7), "𝄞");
    }
}
