//! The line editor's construction: key bindings (emacs or vi, Tab completes, Alt+Enter adds a
//! line), the completion menu and the history file.

use reedline::{
    ColumnarMenu, EditCommand, Emacs, FileBackedHistory, KeyCode, KeyModifiers, Keybindings,
    MenuBuilder, Reedline, ReedlineEvent, ReedlineMenu, Vi, default_emacs_keybindings,
    default_vi_insert_keybindings, default_vi_normal_keybindings,
};
use tether_session::{Dirs, Preferences};

use super::complete::SlashCompleter;

/// The line editor, with a warning when history cannot be kept this time.
pub fn build_editor(
    dirs: &Dirs,
    prefs: &Preferences,
    completer: SlashCompleter,
) -> (Reedline, Option<String>) {
    let editor = Reedline::create()
        .with_edit_mode(edit_mode(prefs.vim))
        .with_completer(Box::new(completer))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(
            ColumnarMenu::default()
                .with_name("completion_menu")
                .with_columns(1),
        )))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_ansi_colors(prefs.theme != "mono");
    let _ = std::fs::create_dir_all(&dirs.data);
    match FileBackedHistory::with_file(1000, dirs.history()) {
        Ok(history) => (editor.with_history(Box::new(history)), None),
        Err(e) => (
            editor,
            Some(format!("warning: history is not saved this time ({e})")),
        ),
    }
}

/// Bindings shared by both modes: Tab opens completion, Alt+Enter inserts a new line.
fn add_shared(keys: &mut Keybindings) {
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".into()),
            ReedlineEvent::MenuNext,
        ]),
    );
    keys.add_binding(
        KeyModifiers::ALT,
        KeyCode::Enter,
        ReedlineEvent::Edit(vec![EditCommand::InsertNewline]),
    );
}

pub fn edit_mode(vim: bool) -> Box<dyn reedline::EditMode> {
    if vim {
        let mut insert = default_vi_insert_keybindings();
        add_shared(&mut insert);
        let normal = default_vi_normal_keybindings();
        Box::new(Vi::new(
            insert,
            normal.clone(),
            reedline::default_vi_visual_keybindings(),
        ))
    } else {
        let mut keys = default_emacs_keybindings();
        add_shared(&mut keys);
        Box::new(Emacs::new(keys))
    }
}
