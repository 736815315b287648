//! Constructors for [`Effect`]s.

use crate::{Editable, Effect};

/// Short constructors, so that a command reads as what it does.
impl Effect {
    /// Plain text shown to every surface.
    pub fn print(text: impl Into<String>) -> Effect {
        Effect::Print(text.into())
    }
    /// Markdown shown to every surface.
    pub fn markdown(text: impl Into<String>) -> Effect {
        Effect::Markdown(text.into())
    }
    /// Text sent to the model as a user turn.
    pub fn prompt(text: impl Into<String>) -> Effect {
        Effect::Prompt(text.into())
    }
    /// Switch the terminal colour theme (one of the host's `settings().themes`).
    pub fn set_theme(name: impl Into<String>) -> Effect {
        Effect::SetTheme(name.into())
    }
    /// Switch the colour of the replies (one of the host's `settings().colors`).
    pub fn set_color(name: impl Into<String>) -> Effect {
        Effect::SetColor(name.into())
    }
    /// Put text on the user's clipboard.
    pub fn copy_to_clipboard(text: impl Into<String>) -> Effect {
        Effect::CopyToClipboard(text.into())
    }
    /// Add a note to the transcript without asking the model.
    pub fn add_note(text: impl Into<String>) -> Effect {
        Effect::AddNote(text.into())
    }
    /// Open a URL in the browser of the machine running tether.
    pub fn open_url(url: impl Into<String>) -> Effect {
        Effect::OpenUrl(url.into())
    }
    /// Open a file in the user's editor.
    pub fn open_editor(file: Editable) -> Effect {
        Effect::OpenEditor(file)
    }
}
