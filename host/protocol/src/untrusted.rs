//! Text that did not come from the local user, made safe to print on a terminal.
//!
//! A terminal obeys the control characters in what it prints: `ESC ] 52 ;` writes the user's
//! clipboard, `ESC ] 0 ;` the window title, `ESC [ 2 J` clears the screen (to draw a fake
//! prompt), `\r` and backspace overwrite what is already on the line, and the C1 controls
//! (U+0080–U+009F, such as U+009B, a one-character CSI) do the same in terminals that honour
//! them. Bidirectional overrides reorder what follows them in terminals that implement bidi, so
//! that the text shown is not the text sent. A phone's message, a model's reply, a plugin's
//! output, an agent's tool names and inputs: none of it may do any of that.
//!
//! [`neutralise`] makes every such character visible instead, in caret notation (`^[` for ESC,
//! `^M` for a lone carriage return, `^?` for DEL) or as `<U+XXXX>` (C1 controls and bidi
//! controls), and keeps what text needs: new lines and tabs. Everything else, every script and
//! emoji, passes unchanged. Each character is mapped on its own (but for `\r\n`), so text that
//! arrives in pieces (a streamed reply) comes out as if it had arrived whole: a sequence split
//! across two pieces cannot reassemble, because its ESC is already gone. (A `\r\n` split
//! between two pieces shows as `^M` and a new line: visible, and harmless.) The output never contains a
//! control character, so neutralising twice changes nothing, and styling that tether adds
//! afterwards still works.

use std::borrow::Cow;

/// `text` with control characters made visible, keeping new lines and tabs. A `\r` just before
/// a `\n` (a Windows line ending) is dropped; any other `\r` is shown as `^M`.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    convert(text, Keep::Lines)
}

/// [`neutralise`], for text that must stay on one line (a tool's name, a prompt, a status line):
/// new lines and tabs are shown too (`^J`, `^I`).
pub fn neutralise_line(text: &str) -> Cow<'_, str> {
    convert(text, Keep::Nothing)
}

/// Whether `c` would be changed by [`neutralise_line`]: a C0 or C1 control, DEL, or a
/// bidirectional embedding, override or isolate.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Lines,
    Nothing,
}

fn convert(text: &str, keep: Keep) -> Cow<'_, str> {
    let kept = |c: char| keep == Keep::Lines && matches!(c, '\n' | '\t');
    let Some(first) = text.find(|c: char| is_unsafe(c) && !kept(c)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    let mut chars = text[first..].chars().peekable();
    while let Some(c) = chars.next() {
        if !is_unsafe(c) || kept(c) {
            out.push(c);
        } else if c == '\r' && keep == Keep::Lines && chars.peek() == Some(&'\n') {
            // A Windows line ending: the `\n` that follows ends the line.
        } else {
            visible(c, &mut out);
        }
    }
    Cow::Owned(out)
}

/// Appends the visible form of the unsafe character `c`.
fn visible(c: char, out: &mut String) {
    match u32::from(c) {
        // Caret notation, as `cat -v` and most terminals' own echo show them.
        code @ 0..=0x1f => {
            out.push('^');
            out.push(char::from(b'@' + code as u8));
        }
        0x7f => out.push_str("^?"),
        code => out.push_str(&format!("<U+{code:04X}>")),
    }
}

/// LRE, RLE, PDF, LRO, RLO (U+202A–U+202E) and LRI, RLI, FSI, PDI (U+2066–U+2069): the
/// characters that change the direction of what follows. The marks (LRM, RLM, ALM) only nudge
/// neutral characters and stay.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_c0_control_but_newline_and_tab_becomes_caret_notation() {
        for code in 0u8..0x20 {
            let c = char::from(code);
            let shown = neutralise(&format!("a{c}b")).into_owned();
            match c {
                '\n' | '\t' => assert_eq!(shown, format!("a{c}b")),
                _ => assert_eq!(
                    shown,
                    format!("a^{}b", char::from(b'@' + code)),
                    "U+{code:04X}"
                ),
            }
            assert!(!shown.contains(|c: char| c.is_control() && c != '\n' && c != '\t'));
        }
        assert_eq!(neutralise("\x1b"), "^[");
        assert_eq!(neutralise("\x07"), "^G");
        assert_eq!(neutralise("\0"), "^@");
        assert_eq!(neutralise("\x08"), "^H");
        assert_eq!(neutralise("\x7f"), "^?");
    }

    #[test]
    fn every_c1_control_is_shown_by_its_code() {
        for code in 0x80u32..=0x9f {
            let c = char::from_u32(code).unwrap();
            assert_eq!(
                neutralise(&format!("a{c}b")),
                format!("a<U+{code:04X}>b"),
                "U+{code:04X}"
            );
        }
        // The eight-bit CSI: `\u{9b}2J` would clear the screen where C1 is honoured.
        assert_eq!(neutralise("\u{9b}2J"), "<U+009B>2J");
    }

    #[test]
    fn escape_sequences_an_attacker_sends_are_shown_not_obeyed() {
        let cases = [
            // OSC 52: write the clipboard (BEL- and ST-terminated).
            ("\x1b]52;c;cm0gLXJmIH4=\x07", "^[]52;c;cm0gLXJmIH4=^G"),
            ("\x1b]52;c;eA==\x1b\\", "^[]52;c;eA==^[\\"),
            // OSC 0 and 2: the window title.
            ("\x1b]0;pwned\x07", "^[]0;pwned^G"),
            ("\x1b]2;pwned\x1b\\", "^[]2;pwned^[\\"),
            // Clear the screen and draw a fake prompt.
            ("\x1b[2J\x1b[H› ", "^[[2J^[[H› "),
            // Overwrite the line: what is shown differs from what is run.
            ("rm -rf ~\rls   ", "rm -rf ~^Mls   "),
            ("safe\x08\x08\x08\x08evil", "safe^H^H^H^Hevil"),
            // Hyperlinks, DCS, and the C1 forms of OSC and ST.
            ("\x1b]8;;http://x\x1b\\y", "^[]8;;http://x^[\\y"),
            ("\x1bP+q\x1b\\", "^[P+q^[\\"),
            ("\u{9d}0;t\u{9c}", "<U+009D>0;t<U+009C>"),
        ];
        for (hostile, shown) in cases {
            assert_eq!(neutralise(hostile), shown, "{hostile:?}");
        }
    }

    #[test]
    fn bidi_controls_are_shown_and_marks_stay() {
        for code in (0x202a..=0x202e).chain(0x2066..=0x2069) {
            let c = char::from_u32(code).unwrap();
            assert_eq!(neutralise(&format!("{c}x")), format!("<U+{code:04X}>x"));
        }
        assert_eq!(
            neutralise("access\u{202e}\u{2066}// admin"),
            "access<U+202E><U+2066>// admin"
        );
        for mark in ['\u{200e}', '\u{200f}', '\u{61c}'] {
            assert_eq!(neutralise(&mark.to_string()), mark.to_string());
        }
    }

    #[test]
    fn plain_text_and_unicode_pass_unchanged_without_copying() {
        for text in [
            "",
            "hello",
            "line one\nline two\n\tindented",
            "日本語のテキスト, العربية, עברית, émoji 🎉👩‍👩‍👧",
            "^[ typed by hand stays as it is",
            "zero\u{200b}width and \u{feff}BOM and \u{a0}nbsp",
            "\u{a0}\u{a1}\u{ff}\u{100}",
        ] {
            assert!(
                matches!(neutralise(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn windows_line_endings_become_new_lines() {
        assert_eq!(neutralise("a\r\nb\r\n"), "a\nb\n");
        assert_eq!(neutralise("a\r\r\nb"), "a^M\nb");
        assert_eq!(neutralise("a\r"), "a^M");
        assert_eq!(neutralise_line("a\r\nb"), "a^M^Jb");
    }

    #[test]
    fn one_line_text_shows_new_lines_and_tabs_too() {
        assert_eq!(neutralise_line("Bash\n\tx"), "Bash^J^Ix");
        assert_eq!(neutralise_line("\x1b]0;t\x07"), "^[]0;t^G");
        assert!(matches!(neutralise_line("Read"), Cow::Borrowed("Read")));
    }

    #[test]
    fn pieces_come_out_as_the_whole_would() {
        // A streamed reply: the sequence arrives split, even between the bytes of one escape.
        let whole = "say \x1b]52;c;aGk=\x07 then \u{9b}2J and é🎉\x1b[31mred";
        let at: Vec<usize> = (0..=whole.len())
            .filter(|i| whole.is_char_boundary(*i))
            .collect();
        for &i in &at {
            for &j in at.iter().filter(|j| **j >= i) {
                let pieces = [&whole[..i], &whole[i..j], &whole[j..]];
                let joined: String = pieces.iter().map(|p| neutralise(p)).collect();
                assert_eq!(joined, neutralise(whole), "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn the_output_is_always_safe_and_neutralising_twice_changes_nothing() {
        let every: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        for text in [every.as_str(), "\x1b\x1b\r\r\n\u{85}\u{2028}"] {
            let once = neutralise(text);
            assert!(
                !once.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t'),
                "{once:?}"
            );
            assert_eq!(neutralise(&once), once);
            let line = neutralise_line(text);
            assert!(!line.chars().any(is_unsafe), "{line:?}");
            assert_eq!(neutralise_line(&line), line);
        }
    }
}
