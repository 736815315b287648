//! `/keybindings`: the line editor's keys, for the editing mode in use (emacs or vi).

use tether_sdk::prelude::*;

struct Keybindings;

const SHARED: &[(&str, &str)] = &[
    ("Enter", "Send the message"),
    ("Alt+Enter", "New line"),
    ("Up / Down", "Previous / next message in history"),
    ("Ctrl+R", "Search history"),
    ("Tab", "Complete slash commands"),
    ("Ctrl+C", "Cancel the running reply, or clear the line"),
    ("Ctrl+D", "Exit (on an empty line)"),
    ("Ctrl+L", "Clear the screen"),
];

const EMACS: &[(&str, &str)] = &[
    ("Ctrl+A / Ctrl+E", "Start / end of line"),
    ("Alt+B / Alt+F", "Word back / forward"),
    ("Ctrl+W", "Delete the word before the cursor"),
    ("Ctrl+K", "Delete to the end of the line"),
    ("Ctrl+U", "Delete to the start of the line"),
];

const VI: &[(&str, &str)] = &[
    ("Esc", "Normal mode"),
    (
        "i / a / I / A",
        "Insert before / after the cursor, at line start / end",
    ),
    ("h j k l", "Move left, down, up, right"),
    ("w b e", "Next word, previous word, end of word"),
    ("0 / $", "Start / end of line"),
    ("x", "Delete the character under the cursor"),
    ("dd", "Delete the line"),
    ("dw", "Delete the word"),
    ("u", "Undo"),
    ("p", "Paste"),
];

impl Command for Keybindings {
    fn manifest() -> Manifest {
        Manifest::local("keybindings", "Show the terminal's key bindings")
            .remote_safe()
            .capability(Capability::Settings)
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let (mode, extra) = if host::settings()?.vim {
            ("vi", VI)
        } else {
            ("emacs", EMACS)
        };
        let rows: Vec<[String; 2]> = SHARED
            .iter()
            .chain(extra)
            .map(|(keys, action)| [keys.to_string(), action.to_string()])
            .collect();
        Ok(vec![Effect::markdown(format!(
            "Key bindings in the terminal ({mode} mode):\n\n{}\nToggle vi keys with /vim.",
            markdown::table(&["Keys", "Action"], &rows)
        ))])
    }
}

tether_sdk::export!(Keybindings);
