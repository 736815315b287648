//! The line editor on a thread of its own. In remote mode the conversation must keep running
//! while the user sits at the prompt (a phone may speak at any moment), and reedline blocks while
//! it reads; so it reads here and hands lines over, and the conversation tells it when to show
//! the prompt again.

use std::io::BufRead;
use std::sync::mpsc;

use reedline::{EditCommand, ExternalPrinter, Signal};
use tether_session::{Dirs, Preferences};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::prompt::PromptPrinter;
use crate::repl::{SlashCompleter, StatusPrompt, build_editor, edit_mode};

/// From the conversation to the editor: show the prompt (with whatever changed).
pub struct Prompt {
    /// Text to put back in the line before it is read (a message whose turn failed).
    pub refill: Option<String>,
    pub prompt: StatusPrompt,
    pub completer: Option<SlashCompleter>,
    pub vim: Option<bool>,
    pub colors: Option<bool>,
}

/// From the editor (or stdin) to the conversation.
#[derive(Debug)]
pub enum Typed {
    Line(String),
    /// Ctrl-C at the prompt: stop whatever reply is running.
    Interrupt,
    /// Ctrl-D: leave.
    Eof,
    /// Standard input (not a terminal) ended: keep serving remote clients.
    InputClosed,
    Failed(String),
}

pub struct Editor {
    pub prompts: mpsc::Sender<Prompt>,
    pub typed: UnboundedReceiver<Typed>,
}

/// The interactive editor; the first prompt is shown when the conversation sends one.
pub fn spawn(
    dirs: Dirs,
    prefs: Preferences,
    completer: SlashCompleter,
    printer: PromptPrinter,
    external: ExternalPrinter<String>,
) -> (Editor, Option<String>) {
    let (prompt_tx, prompt_rx) = mpsc::channel::<Prompt>();
    let (typed_tx, typed_rx) = unbounded_channel();
    let (warn_tx, warn_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("tether-editor".into())
        .spawn(move || {
            let (editor, warning) = build_editor(&dirs, &prefs, completer);
            let _ = warn_tx.send(warning);
            run(
                editor.with_external_printer(external),
                prompt_rx,
                typed_tx,
                printer,
            )
        })
        .expect("spawning the editor thread");
    let warning = warn_rx.recv().ok().flatten();
    (
        Editor {
            prompts: prompt_tx,
            typed: typed_rx,
        },
        warning,
    )
}

fn run(
    mut editor: reedline::Reedline,
    prompts: mpsc::Receiver<Prompt>,
    typed: UnboundedSender<Typed>,
    printer: PromptPrinter,
) {
    while let Ok(request) = prompts.recv() {
        if let Some(completer) = request.completer {
            editor = editor.with_completer(Box::new(completer));
        }
        if let Some(vim) = request.vim {
            editor = editor.with_edit_mode(edit_mode(vim));
        }
        if let Some(colors) = request.colors {
            editor = editor.with_ansi_colors(colors);
        }
        if let Some(text) = request.refill {
            editor.run_edit_commands(&[EditCommand::InsertString(text)]);
        }
        loop {
            printer.set_active(true);
            let signal = editor.read_line(&request.prompt);
            printer.set_active(false);
            let event = match signal {
                Ok(Signal::Success(line)) => Typed::Line(line),
                Ok(Signal::CtrlC) => {
                    let _ = typed.send(Typed::Interrupt);
                    continue;
                }
                Ok(Signal::CtrlD) => Typed::Eof,
                Ok(_) => continue,
                Err(e) => Typed::Failed(format!("the terminal failed: {e}")),
            };
            let done = !matches!(event, Typed::Line(_));
            if typed.send(event).is_err() || done {
                return;
            }
            break;
        }
    }
}

/// Without a terminal: each line of standard input is typed input, as in `tether < file`.
pub fn spawn_stdin() -> Editor {
    let (prompt_tx, prompt_rx) = mpsc::channel::<Prompt>();
    let (typed_tx, typed_rx) = unbounded_channel();
    std::thread::Builder::new()
        .name("tether-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            // One line at a time, like the editor: the next is read once the last was handled.
            while prompt_rx.recv().is_ok() {
                let event = match lines.next() {
                    Some(Ok(line)) => Typed::Line(line),
                    _ => Typed::InputClosed,
                };
                let closed = matches!(event, Typed::InputClosed);
                if typed_tx.send(event).is_err() || closed {
                    return;
                }
            }
        })
        .expect("spawning the stdin thread");
    Editor {
        prompts: prompt_tx,
        typed: typed_rx,
    }
}
