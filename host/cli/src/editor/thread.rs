//! The line editor on a thread of its own. The conversation must keep running while the user
//! sits at the prompt (a phone may speak at any moment), and reedline blocks while it reads; so
//! it reads here and hands each line to the driver as an [`Input`], and the driver tells it when
//! to show the prompt again.

use std::io::BufRead;
use std::sync::mpsc;

use reedline::{EditCommand, ExternalPrinter, Signal};
use tether_session::driver::Input;
use tether_session::{Dirs, Preferences};
use tokio::sync::mpsc::UnboundedSender;

use super::complete::SlashCompleter;
use super::keys::{build_editor, edit_mode};
use super::printer::PromptPrinter;
use super::prompt::StatusPrompt;

/// From the conversation to the editor: show the prompt (with whatever changed).
pub struct Prompt {
    /// Text to put back in the line before it is read (a message whose turn failed).
    pub refill: Option<String>,
    pub prompt: StatusPrompt,
    pub completer: Option<SlashCompleter>,
    pub vim: Option<bool>,
    pub colors: Option<bool>,
}

/// Where the driver sends prompts to show; what is typed arrives on its input channel.
pub struct Editor {
    pub prompts: mpsc::Sender<Prompt>,
    /// Told when the thread has finished (and the history file is written).
    finished: mpsc::Receiver<()>,
}

/// How long closing waits for the editor to write its history.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Editor {
    /// Stops the editor and waits (briefly) until it has finished: the history is written when
    /// reedline is dropped, and a process that exits first loses the last lines.
    pub fn close(self) {
        let Editor { prompts, finished } = self;
        drop(prompts);
        let _ = finished.recv_timeout(CLOSE_WAIT);
    }
}

/// The interactive editor; the first prompt is shown when the conversation sends one.
pub fn spawn(
    dirs: Dirs,
    prefs: Preferences,
    completer: SlashCompleter,
    printer: PromptPrinter,
    external: ExternalPrinter<String>,
    typed_tx: UnboundedSender<Input>,
) -> (Editor, Option<String>) {
    let (prompt_tx, prompt_rx) = mpsc::channel::<Prompt>();
    let (warn_tx, warn_rx) = mpsc::channel();
    let (finished_tx, finished) = mpsc::channel();
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
            );
            let _ = finished_tx.send(());
        })
        .expect("spawning the editor thread");
    let warning = warn_rx.recv().ok().flatten();
    (
        Editor {
            prompts: prompt_tx,
            finished,
        },
        warning,
    )
}

fn run(
    mut editor: reedline::Reedline,
    prompts: mpsc::Receiver<Prompt>,
    typed: UnboundedSender<Input>,
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
                Ok(Signal::Success(line)) => Input::Line(line),
                Ok(Signal::CtrlC) => {
                    let _ = typed.send(Input::Interrupt);
                    continue;
                }
                Ok(Signal::CtrlD) => Input::Eof,
                Ok(_) => continue,
                Err(e) => Input::Failed(format!("the terminal failed: {e}")),
            };
            let done = !matches!(event, Input::Line(_));
            if typed.send(event).is_err() || done {
                return;
            }
            break;
        }
    }
}

/// Without a terminal: each line of standard input is typed input, as in `tether < file`.
pub fn spawn_stdin(typed_tx: UnboundedSender<Input>) -> Editor {
    let (prompt_tx, prompt_rx) = mpsc::channel::<Prompt>();
    // Nothing to write at the end, so nothing to wait for.
    let (_, finished) = mpsc::channel();
    std::thread::Builder::new()
        .name("tether-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lines = stdin.lock().lines();
            // One line at a time, like the editor: the next is read once the last was handled.
            while prompt_rx.recv().is_ok() {
                let event = match lines.next() {
                    Some(Ok(line)) => Input::Line(line),
                    _ => Input::InputClosed,
                };
                let closed = matches!(event, Input::InputClosed);
                if typed_tx.send(event).is_err() || closed {
                    return;
                }
            }
        })
        .expect("spawning the stdin thread");
    Editor {
        prompts: prompt_tx,
        finished,
    }
}
