//! The host's view of what a command asks for, independent of the WIT version it came from.

use tether_protocol::EffectKind;

/// A file the host may open in the user's editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editable {
    /// The memory file loaded into every conversation.
    Memory,
}

/// A change a command asks the host to make. The session checks each one (where it may apply,
/// what it may carry) before applying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Plain text shown to every surface.
    Print(String),
    /// Markdown shown to every surface.
    Markdown(String),
    /// Text sent to the model as a user turn.
    Prompt(String),
    /// Switch the terminal colour theme.
    SetTheme(String),
    /// Switch the colour of the model's replies.
    SetColor(String),
    /// vi key bindings on, or emacs ones.
    SetVim(bool),
    /// Plan mode on or off.
    SetPlanMode(bool),
    /// The status line on or off.
    SetStatusline(bool),
    /// Forget the conversation.
    Clear,
    /// End the session.
    Exit,
    /// Put text on the user's clipboard.
    CopyToClipboard(String),
    /// Add a note to the transcript without a model turn.
    AddNote(String),
    /// Replace the older transcript with a summary; the text is optional focus instructions.
    Compact(String),
    /// Ask the model for a summary of the conversation and show it.
    Summarize(String),
    /// Open a URL in the terminal machine's browser.
    OpenUrl(String),
    /// Open a file in the user's editor.
    OpenEditor(Editable),
    /// Install a plugin from a `.wasm` file path.
    InstallPlugin(String),
    /// Remove a user-installed plugin by name.
    RemovePlugin(String),
    /// Continue the session in the desktop browser.
    HandOff,
    /// Replace the session key (`/session revoke`).
    NewSessionKey,
}

impl Effect {
    /// The effect without its payload, as the rules about where effects apply name it.
    pub fn kind(&self) -> EffectKind {
        match self {
            Effect::Print(_) => EffectKind::Print,
            Effect::Markdown(_) => EffectKind::Markdown,
            Effect::Prompt(_) => EffectKind::Prompt,
            Effect::SetTheme(_) => EffectKind::SetTheme,
            Effect::SetColor(_) => EffectKind::SetColor,
            Effect::SetVim(_) => EffectKind::SetVim,
            Effect::SetPlanMode(_) => EffectKind::SetPlanMode,
            Effect::SetStatusline(_) => EffectKind::SetStatusline,
            Effect::Clear => EffectKind::Clear,
            Effect::Exit => EffectKind::Exit,
            Effect::CopyToClipboard(_) => EffectKind::CopyToClipboard,
            Effect::AddNote(_) => EffectKind::AddNote,
            Effect::Compact(_) => EffectKind::Compact,
            Effect::Summarize(_) => EffectKind::Summarize,
            Effect::OpenUrl(_) => EffectKind::OpenUrl,
            Effect::OpenEditor(_) => EffectKind::OpenEditor,
            Effect::InstallPlugin(_) => EffectKind::InstallPlugin,
            Effect::RemovePlugin(_) => EffectKind::RemovePlugin,
            Effect::HandOff => EffectKind::HandOff,
            Effect::NewSessionKey => EffectKind::NewSessionKey,
        }
    }

    /// The bytes of text the effect carries, counted against the output limit.
    pub fn text_len(&self) -> usize {
        match self {
            Effect::Print(s)
            | Effect::Markdown(s)
            | Effect::Prompt(s)
            | Effect::SetTheme(s)
            | Effect::SetColor(s)
            | Effect::CopyToClipboard(s)
            | Effect::AddNote(s)
            | Effect::Compact(s)
            | Effect::Summarize(s)
            | Effect::OpenUrl(s)
            | Effect::InstallPlugin(s)
            | Effect::RemovePlugin(s) => s.len(),
            Effect::SetVim(_)
            | Effect::SetPlanMode(_)
            | Effect::SetStatusline(_)
            | Effect::Clear
            | Effect::Exit
            | Effect::OpenEditor(_)
            | Effect::HandOff
            | Effect::NewSessionKey => 0,
        }
    }
}
