//! How a whole reply text is cut into the deltas a model would stream.

/// `text` in `pieces` parts of about the same number of words, spaces kept (none for an empty
/// text).
pub(crate) fn split(text: &str, pieces: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let per = words.len().div_ceil(pieces.max(1)).max(1);
    words.chunks(per).map(|c| c.concat()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_byte_in_about_even_parts() {
        assert_eq!(
            split("one two three four five", 2),
            ["one two three ", "four five"]
        );
        assert_eq!(split("solo", 4), ["solo"]);
        assert!(split("", 3).is_empty());
    }
}
