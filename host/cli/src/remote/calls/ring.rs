//! `[notify] terminal`: a notification from the terminal itself, as an escape sequence the
//! terminal emulator turns into a desktop notification. The text comes from the agent and the
//! relay's devices, so it is made inert first: no control or bidi character (`untrusted::
//! is_unsafe`: an ESC or BEL inside would end the sequence early and let the rest act on the
//! terminal), and no `;` where OSC 777 separates its fields.

use std::io::{IsTerminal, Write};

use tether_protocol::untrusted::is_unsafe;

use crate::engines::config::TerminalNotify;

/// The sequence for `title` and `body` in `form`; `None` when off.
pub fn sequence(form: TerminalNotify, title: &str, body: &str) -> Option<String> {
    let inert = |text: &str, semicolons: bool| -> String {
        text.chars()
            .map(|c| match c {
                c if is_unsafe(c) => ' ',
                ';' if !semicolons => ',',
                c => c,
            })
            .take(200)
            .collect()
    };
    match form {
        TerminalNotify::Off => None,
        TerminalNotify::Osc9 => {
            let text = match body {
                "" => inert(title, true),
                body => format!("{}: {}", inert(title, true), inert(body, true)),
            };
            Some(format!("\x1b]9;{text}\x07"))
        }
        TerminalNotify::Osc777 => Some(format!(
            "\x1b]777;notify;{};{}\x07",
            inert(title, false),
            inert(body, true)
        )),
    }
}

/// Write it to the terminal, when standard output is one (never into a pipe or a log).
pub fn ring(form: TerminalNotify, title: &str, body: &str) {
    let Some(seq) = sequence(form, title, body) else {
        return;
    };
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = out.write_all(seq.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form() {
        assert_eq!(sequence(TerminalNotify::Off, "t", "b"), None);
        assert_eq!(
            sequence(TerminalNotify::Osc9, "Allow Bash?", "ls").unwrap(),
            "\x1b]9;Allow Bash?: ls\x07"
        );
        assert_eq!(
            sequence(TerminalNotify::Osc9, "Done", "").unwrap(),
            "\x1b]9;Done\x07"
        );
        assert_eq!(
            sequence(TerminalNotify::Osc777, "Allow Bash?", "ls; rm").unwrap(),
            "\x1b]777;notify;Allow Bash?;ls; rm\x07"
        );
    }

    #[test]
    fn hostile_text_cannot_end_the_sequence_or_add_a_field() {
        for form in [TerminalNotify::Osc9, TerminalNotify::Osc777] {
            let seq = sequence(
                form,
                "a;b\x07\x1b]0;pwned\x07",
                &format!("x\x1b[2J\u{9b}31m\r\n{}", "y".repeat(1000)),
            )
            .unwrap();
            let inner = &seq[2..seq.len() - 1];
            assert!(!inner.chars().any(char::is_control), "{seq:?}");
            assert!(seq.len() < 500, "bounded: {}", seq.len());
            if form == TerminalNotify::Osc777 {
                assert_eq!(inner.matches(';').count(), 3, "{seq:?}");
            }
        }
    }
}
