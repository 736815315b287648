//! The interactive session: a line editor (history, emacs or vi keys, slash-command completion, a
//! status line) in front of a [`Session`].

use std::borrow::Cow;
use std::process::ExitCode;

use anyhow::Result;
use reedline::{
    ColumnarMenu, Completer, EditCommand, Emacs, FileBackedHistory, KeyCode, KeyModifiers,
    Keybindings, MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch, PromptViMode, Reedline,
    ReedlineEvent, ReedlineMenu, Signal, Span, Suggestion, Vi, default_emacs_keybindings,
    default_vi_insert_keybindings, default_vi_normal_keybindings,
};
use tether_protocol::untrusted::neutralise_line;
use tether_protocol::{Origin, gate::Context};
use tether_session::{Dirs, Flow, Output, Preferences, Session, Sink};

use crate::approve::Answerer;
use crate::args::Args;
use crate::render::{Mode, TerminalSink};
use crate::startup;

pub fn run(args: &Args) -> Result<ExitCode> {
    let mut loaded = startup::load()?;
    let prefs = startup::preferences(&loaded.dirs, &mut loaded.warnings);
    let chosen = startup::engine(args, &loaded.dirs)?;
    let engine = chosen.engine;
    let mut sink = TerminalSink::new(Mode::Interactive, &prefs);
    let p = sink.palette.clone();
    let hint = chosen.hint.map(|h| format!(" ({h})")).unwrap_or_default();
    let model = engine.model();
    let model = if model == engine.name() {
        String::new()
    } else {
        format!(" · model {model}")
    };
    println!(
        "{} {} · engine {}{model}{hint}\n{}",
        p.paint(p.heading, "tether"),
        env!("CARGO_PKG_VERSION"),
        engine.name(),
        p.paint(
            p.dim,
            "/help lists commands · Alt+Enter for a new line · Ctrl-C stops a reply · Ctrl-D exits"
        ),
    );
    for w in &loaded.warnings {
        sink.error(&format!("warning: {w}"));
    }
    let dirs = loaded.dirs.clone();
    let mut session = startup::session(loaded, engine, prefs.clone())?;
    let mut editor = editor(&dirs, &prefs, &session, &mut sink);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    loop {
        let prompt = StatusPrompt::new(&session);
        let line = match editor.read_line(&prompt) {
            Ok(Signal::Success(line)) => line,
            // Ctrl-C at the prompt abandons the line, as in a shell.
            Ok(Signal::CtrlC) => continue,
            Ok(Signal::CtrlD) => break,
            Ok(_) => continue,
            Err(e) => return Err(anyhow::anyhow!("the terminal failed: {e}")),
        };
        let mut turn = Unsent::new(&mut sink);
        let (flow, _) = rt.block_on(startup::submit_interruptible(
            &mut session,
            &line,
            &mut turn,
            Answerer::Keys,
        ));
        // A message the engine failed on is not in the conversation: it goes back on the
        // prompt, to send again (Enter) or change first.
        if let Some(text) = turn.unsent {
            sink.info("Your message is back at the prompt: Enter sends it again.");
            editor.run_edit_commands(&[EditCommand::InsertString(text)]);
        }
        if let Some(prefs) = sink.prefs_changed.take() {
            editor = editor
                .with_edit_mode(edit_mode(prefs.vim))
                .with_ansi_colors(prefs.theme != "mono");
        }
        if std::mem::take(&mut sink.commands_changed) {
            editor = editor.with_completer(Box::new(SlashCompleter::new(&session)));
        }
        if flow == Flow::Exit {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Draws on the terminal and keeps the message of a turn that failed before any reply.
struct Unsent<'a> {
    sink: &'a mut TerminalSink,
    unsent: Option<String>,
}

impl<'a> Unsent<'a> {
    fn new(sink: &'a mut TerminalSink) -> Unsent<'a> {
        Unsent { sink, unsent: None }
    }
}

impl Sink for Unsent<'_> {
    fn emit(&mut self, output: Output) {
        if let Output::TurnFailed {
            text,
            origin: Origin::Terminal,
            ..
        } = &output
        {
            self.unsent = Some(text.clone());
        }
        self.sink.emit(output);
    }
}

fn editor(
    dirs: &Dirs,
    prefs: &Preferences,
    session: &Session,
    sink: &mut TerminalSink,
) -> Reedline {
    let (editor, warning) = build_editor(dirs, prefs, SlashCompleter::new(session));
    if let Some(w) = warning {
        sink.error(&w);
    }
    editor
}

/// The line editor, with a warning when history cannot be kept this time.
pub(crate) fn build_editor(
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

pub(crate) fn edit_mode(vim: bool) -> Box<dyn reedline::EditMode> {
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

/// The prompt, with the status line (engine, tokens, cost) on the right when it is on.
#[derive(Debug, Clone)]
pub(crate) struct StatusPrompt {
    status: String,
    plan: bool,
    /// A question asked at the prompt instead of the usual marker (a permission request).
    question: Option<String>,
}

impl StatusPrompt {
    pub(crate) fn new(session: &Session) -> StatusPrompt {
        let prefs = session.preferences();
        let status = if prefs.statusline {
            let u = session.usage();
            // An agent names its own model: shown, never obeyed.
            let status = format!(
                "{}/{} · {} tokens · ${:.4}{}",
                session.engine().name(),
                session.engine().model(),
                u.total_tokens(),
                u.cost_micros as f64 / 1e6,
                if prefs.plan_mode { " · plan" } else { "" }
            );
            neutralise_line(&status).into_owned()
        } else {
            String::new()
        };
        StatusPrompt {
            status,
            plan: prefs.plan_mode,
            question: None,
        }
    }

    /// A prompt that asks `question` (the answer is the typed line).
    pub(crate) fn question(question: String) -> StatusPrompt {
        StatusPrompt {
            status: String::new(),
            plan: false,
            question: Some(question),
        }
    }
}

impl Prompt for StatusPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        match &self.question {
            Some(q) => Cow::Borrowed(q),
            None => Cow::Borrowed(if self.plan { "plan " } else { "" }),
        }
    }
    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.status)
    }
    fn render_prompt_indicator(&self, mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed(match mode {
            PromptEditMode::Vi(PromptViMode::Normal) => "[N] › ",
            PromptEditMode::Vi(_) => "[I] › ",
            _ => "› ",
        })
    }
    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("  ")
    }
    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        Cow::Owned(format!("(search: {}) › ", search.term))
    }
}

/// Completes `/na` to the commands available here, with their descriptions.
#[derive(Debug, Clone)]
pub(crate) struct SlashCompleter {
    commands: Vec<(String, String)>,
}

impl SlashCompleter {
    pub(crate) fn new(session: &Session) -> SlashCompleter {
        let context = Context::new(Origin::Terminal, session.remote().is_some());
        let mut commands = Vec::new();
        for c in session.registry().available(context) {
            for name in std::iter::once(&c.name).chain(&c.aliases) {
                let hint = c
                    .argument_hint
                    .as_deref()
                    .map(|h| format!(" {h}"))
                    .unwrap_or_default();
                // A user plugin's words, drawn by the completion menu.
                let description = format!("{}{hint}", c.description);
                commands.push((name.clone(), neutralise_line(&description).into_owned()));
            }
        }
        commands.sort();
        SlashCompleter { commands }
    }
}

impl Completer for SlashCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> reedline::CompletionResult {
        let typed = &line[..pos.min(line.len())];
        let suggestions: Vec<Suggestion> = match typed.strip_prefix('/') {
            Some(prefix) if !prefix.contains(char::is_whitespace) => self
                .commands
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(name, description)| Suggestion {
                    value: format!("/{name}"),
                    description: Some(description.clone()),
                    span: Span::new(0, pos),
                    append_whitespace: true,
                    ..Default::default()
                })
                .collect(),
            _ => Vec::new(),
        };
        reedline::CompletionResult::fresh(suggestions)
    }
}
