use crate::{Editable, Effect};

/// Short constructors, so that a command reads as what it does.
impl Effect {
    pub fn print(text: impl Into<String>) -> Effect {
        Effect::Print(text.into())
    }
    pub fn markdown(text: impl Into<String>) -> Effect {
        Effect::Markdown(text.into())
    }
    /// Text sent to the model as a user turn.
    pub fn prompt(text: impl Into<String>) -> Effect {
        Effect::Prompt(text.into())
    }
    pub fn set_theme(name: impl Into<String>) -> Effect {
        Effect::SetTheme(name.into())
    }
    pub fn set_color(name: impl Into<String>) -> Effect {
        Effect::SetColor(name.into())
    }
    pub fn copy_to_clipboard(text: impl Into<String>) -> Effect {
        Effect::CopyToClipboard(text.into())
    }
    pub fn add_note(text: impl Into<String>) -> Effect {
        Effect::AddNote(text.into())
    }
    pub fn open_url(url: impl Into<String>) -> Effect {
        Effect::OpenUrl(url.into())
    }
    pub fn open_editor(file: Editable) -> Effect {
        Effect::OpenEditor(file)
    }
}
