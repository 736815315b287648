//! What a session title may contain. Titles are shown in lists next to other people's content
//! and in the terminal, so they must read as what they are: no control characters, and none of
//! the invisible characters that reorder or hide text (a right-to-left override makes
//! `session.txt` + U+202E + `gpj.exe` read as `session.txtexe.jpg`).

/// Why a title is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Over the limit, in characters.
    #[error("The title is longer than {0} characters.")]
    TooLong(usize),
    /// A control character (a newline, say).
    #[error("The title may not contain control characters.")]
    Control,
    /// A bidirectional or otherwise invisible formatting character.
    #[error(
        "The title may not contain U+{:04X}, an invisible character that changes how the text \
         around it is shown.",
        u32::from(*.0)
    )]
    Invisible(char),
}

/// Check a title (already trimmed) against the rules above and `max` characters.
pub fn check(title: &str, max: usize) -> Result<(), TitleError> {
    if title.chars().count() > max {
        return Err(TitleError::TooLong(max));
    }
    if title.chars().any(char::is_control) {
        return Err(TitleError::Control);
    }
    match title.chars().find(|c| is_invisible_format(*c)) {
        Some(c) => Err(TitleError::Invisible(c)),
        None => Ok(()),
    }
}

/// Invisible characters that change the order or the look of the text around them: the
/// bidirectional embeddings, overrides, isolates and marks; line and paragraph separators;
/// zero-width spaces, joiners of words and invisible operators; deprecated format controls;
/// interlinear annotations; soft hyphens; and the blank "filler" letters used to make names
/// that look empty. The zero-width joiner and non-joiner (emoji sequences, Persian and Indic
/// scripts), variation selectors and tag characters (flag emoji) are ordinary text and stay.
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{180e}'
            | '\u{200b}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{3164}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_invisible_characters_are_refused_by_code_point() {
        let refused = ('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
            .chain(['\u{200e}', '\u{200f}', '\u{061c}'])
            .chain([
                '\u{200b}', '\u{2060}', '\u{feff}', '\u{2028}', '\u{2029}', '\u{00ad}',
            ])
            .chain(['\u{3164}', '\u{115f}', '\u{fff9}']);
        for c in refused {
            let title = format!("invoice{c}gpj.exe");
            assert_eq!(
                check(&title, 200),
                Err(TitleError::Invisible(c)),
                "U+{:04X}",
                u32::from(c)
            );
            let message = TitleError::Invisible(c).to_string();
            assert!(
                message.contains(&format!("U+{:04X}", u32::from(c))),
                "{message}"
            );
        }
    }

    #[test]
    fn every_script_and_emoji_passes() {
        for title in [
            "Refactor the relay",
            "العربية مع English",
            "עברית",
            "فارسی\u{200c}ها",
            "हिन्दी",
            "日本語のセッション",
            "👨\u{200d}👩\u{200d}👧 family",
            "❤\u{fe0f}",
            "🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}",
            "tabs\u{00a0}and nbsp",
        ] {
            assert_eq!(check(title, 200), Ok(()), "{title}");
        }
    }

    #[test]
    fn length_counts_characters_and_controls_are_refused() {
        assert_eq!(check(&"é".repeat(200), 200), Ok(()));
        assert_eq!(check(&"é".repeat(201), 200), Err(TitleError::TooLong(200)));
        for c in ['\0', '\n', '\r', '\x1b', '\u{7f}', '\u{9b}'] {
            assert_eq!(
                check(&format!("a{c}b"), 200),
                Err(TitleError::Control),
                "{c:?}"
            );
        }
    }
}
