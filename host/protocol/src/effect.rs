//! Which effects a command may have, depending on where it was invoked.
//!
//! The gate decides whether a command runs; this rule decides what its results may do. A command
//! that is allowed over the bridge must still not reach the terminal machine's browser, editor,
//! clipboard or plugin directory on behalf of a remote client: those belong to whoever sits at the
//! terminal.

use crate::gate::Context;

/// An effect's kind, without its payload. Mirrors `effect` in the WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EffectKind {
    /// Plain text shown to every surface.
    Print,
    /// Markdown shown to every surface.
    Markdown,
    /// Text sent to the model as a user turn.
    Prompt,
    /// Switch the terminal colour theme.
    SetTheme,
    /// Switch the colour of the agent's replies.
    SetColor,
    /// Vi or emacs key bindings.
    SetVim,
    /// Plan mode on or off.
    SetPlanMode,
    /// The status line on or off.
    SetStatusline,
    /// Forget the conversation.
    Clear,
    /// End the session.
    Exit,
    /// Put text on the terminal user's clipboard (OSC 52).
    CopyToClipboard,
    /// Add a note to the transcript without a model turn.
    AddNote,
    /// Replace the older transcript with a summary.
    Compact,
    /// Ask the engine for a summary of the conversation and show it.
    Summarize,
    /// Open a URL in the terminal machine's browser.
    OpenUrl,
    /// Open a file in the terminal user's editor.
    OpenEditor,
    /// Install a plugin from a `.wasm` file path.
    InstallPlugin,
    /// Remove a user-installed plugin by name.
    RemovePlugin,
    /// Continue the session in the desktop browser.
    HandOff,
    /// `new-session-key`.
    NewSessionKey,
}

impl EffectKind {
    /// Every kind, for exhaustive tests of [`effect_allowed`].
    pub const ALL: [EffectKind; 20] = [
        EffectKind::Print,
        EffectKind::Markdown,
        EffectKind::Prompt,
        EffectKind::SetTheme,
        EffectKind::SetColor,
        EffectKind::SetVim,
        EffectKind::SetPlanMode,
        EffectKind::SetStatusline,
        EffectKind::Clear,
        EffectKind::Exit,
        EffectKind::CopyToClipboard,
        EffectKind::AddNote,
        EffectKind::Compact,
        EffectKind::Summarize,
        EffectKind::OpenUrl,
        EffectKind::OpenEditor,
        EffectKind::InstallPlugin,
        EffectKind::RemovePlugin,
        EffectKind::HandOff,
        EffectKind::NewSessionKey,
    ];

    /// The WIT name, used in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EffectKind::Print => "print",
            EffectKind::Markdown => "markdown",
            EffectKind::Prompt => "prompt",
            EffectKind::SetTheme => "set-theme",
            EffectKind::SetColor => "set-color",
            EffectKind::SetVim => "set-vim",
            EffectKind::SetPlanMode => "set-plan-mode",
            EffectKind::SetStatusline => "set-statusline",
            EffectKind::Clear => "clear",
            EffectKind::Exit => "exit",
            EffectKind::CopyToClipboard => "copy-to-clipboard",
            EffectKind::AddNote => "add-note",
            EffectKind::Compact => "compact",
            EffectKind::Summarize => "summarize",
            EffectKind::OpenUrl => "open-url",
            EffectKind::OpenEditor => "open-editor",
            EffectKind::InstallPlugin => "install-plugin",
            EffectKind::RemovePlugin => "remove-plugin",
            EffectKind::HandOff => "hand-off",
            EffectKind::NewSessionKey => "new-session-key",
        }
    }
}

/// May an effect be applied for a command invoked in `context`?
///
/// - Changing the installed plugins is for a local session only: in remote mode the set of loaded
///   plugins is what the administrator reviewed.
/// - The browser, editor and clipboard of the terminal machine are the terminal user's: a remote
///   client cannot drive them. Nor can it replace the session key: the new key reaches devices
///   only through the terminal's screen.
/// - Everything else changes only the conversation or its presentation, which every surface of the
///   session may do.
pub fn effect_allowed(effect: EffectKind, context: Context) -> bool {
    match effect {
        EffectKind::InstallPlugin | EffectKind::RemovePlugin => context == Context::Local,
        EffectKind::OpenUrl
        | EffectKind::OpenEditor
        | EffectKind::CopyToClipboard
        | EffectKind::HandOff
        | EffectKind::NewSessionKey => context != Context::Bridge,
        EffectKind::Print
        | EffectKind::Markdown
        | EffectKind::Prompt
        | EffectKind::SetTheme
        | EffectKind::SetColor
        | EffectKind::SetVim
        | EffectKind::SetPlanMode
        | EffectKind::SetStatusline
        | EffectKind::Clear
        | EffectKind::Exit
        | EffectKind::AddNote
        | EffectKind::Compact
        | EffectKind::Summarize => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustive() {
        for effect in EffectKind::ALL {
            for context in Context::ALL {
                let expected = match effect {
                    EffectKind::InstallPlugin | EffectKind::RemovePlugin => {
                        context == Context::Local
                    }
                    EffectKind::OpenUrl
                    | EffectKind::OpenEditor
                    | EffectKind::CopyToClipboard
                    | EffectKind::HandOff
                    | EffectKind::NewSessionKey => context.origin() == crate::Origin::Terminal,
                    _ => true,
                };
                assert_eq!(
                    effect_allowed(effect, context),
                    expected,
                    "{effect:?} {context:?}"
                );
            }
        }
    }

    #[test]
    fn local_session_allows_everything() {
        assert!(
            EffectKind::ALL
                .iter()
                .all(|e| effect_allowed(*e, Context::Local))
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = EffectKind::ALL.iter().map(|e| e.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EffectKind::ALL.len());
    }
}
