//! Messages are built around what a provider or an agent said, and that text may or may not
//! end a sentence already: appending a full stop blindly gives "…was provided.." and
//! "…attempted.. Gave up after 5 attempts.".

/// `text` ended as a sentence, once: trailing white space is dropped and a full stop is added
/// unless the text already ends with `.`, `!`, `?` or `…`, also when a closing quote follows
/// that mark. A closing bracket does not end a sentence: `(400: It was filtered.)` gets one.
pub fn end_sentence(text: &str) -> String {
    let text = text.trim_end();
    let last_mark = text
        .trim_end_matches(['"', '\'', '”', '’'])
        .chars()
        .next_back();
    match last_mark {
        Some('.' | '!' | '?' | '…') => text.to_string(),
        // Nothing but quotes and brackets (or nothing at all): there is no sentence to end.
        None if text.is_empty() => String::new(),
        _ => format!("{text}."),
    }
}

#[cfg(test)]
mod tests {
    use super::end_sentence;

    #[test]
    fn a_full_stop_is_added_once() {
        let cases = [
            ("Overloaded", "Overloaded."),
            ("Overloaded.", "Overloaded."),
            ("No API key provided.", "No API key provided."),
            ("Retry attempted.  \n", "Retry attempted."),
            ("Are you sure?", "Are you sure?"),
            ("Stop!", "Stop!"),
            ("cut off…", "cut off…"),
            ("401 (invalid x-api-key)", "401 (invalid x-api-key)."),
            ("it said \"no.\"", "it said \"no.\""),
            (
                "refused (400: It was filtered.)",
                "refused (400: It was filtered.).",
            ),
            ("model `x`", "model `x`."),
            ("version 1.2", "version 1.2."),
            ("", ""),
            ("   ", ""),
        ];
        for (text, want) in cases {
            assert_eq!(end_sentence(text), want, "{text:?}");
        }
    }
}
