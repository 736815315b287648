//! The host's view of what a command asks for, independent of the WIT version it came from.

use tether_protocol::EffectKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editable {
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Print(String),
    Markdown(String),
    Prompt(String),
    SetTheme(String),
    SetColor(String),
    SetVim(bool),
    SetPlanMode(bool),
    SetStatusline(bool),
    Clear,
    Exit,
    CopyToClipboard(String),
    AddNote(String),
    Compact(String),
    Summarize(String),
    OpenUrl(String),
    OpenEditor(Editable),
    InstallPlugin(String),
    RemovePlugin(String),
    HandOff,
}

impl Effect {
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
            | Effect::HandOff => 0,
        }
    }
}
