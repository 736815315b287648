//! The terminal's [`Console`]s, where the driver reads lines and asks permission questions:
//! the line editor (the REPL and remote mode; standard input stands in for it when remote mode
//! has no terminal), and plain lines for `-p` and pipes, where no one can be asked.

use reedline::ExternalPrinter;
use tether_engines::permission::PermissionQuestion;
use tether_protocol::text::shorten;
use tether_protocol::untrusted::neutralise_line;
use tether_session::driver::{Ask, Console, Input, Ready};
use tether_session::{Dirs, Preferences, Session};
use tokio::sync::mpsc::UnboundedSender;

use crate::approve::KeyReader;
use crate::editor::{Editor, Prompt, PromptPrinter, SlashCompleter, StatusPrompt, thread};
use crate::palette::Palette;

/// A line editor (or standard input read one line per prompt).
pub struct EditorConsole {
    editor: Editor,
    asks: Ask,
    /// Where key answers go (with [`Ask::ByKey`]).
    inputs: UnboundedSender<Input>,
    keys: Option<KeyReader>,
    /// Prints above the prompt; `None` without a terminal.
    printer: Option<PromptPrinter>,
    palette: Palette,
}

impl EditorConsole {
    /// The line editor on its thread, asking as `asks` says, with a warning when history
    /// cannot be kept this time.
    pub fn spawn(
        dirs: &Dirs,
        prefs: &Preferences,
        session: &Session,
        asks: Ask,
        inputs: UnboundedSender<Input>,
        palette: Palette,
    ) -> (EditorConsole, Option<String>) {
        let external = ExternalPrinter::<String>::default();
        let printer = PromptPrinter::new(external.sender());
        let (editor, warning) = thread::spawn(
            dirs.clone(),
            prefs.clone(),
            SlashCompleter::new(session),
            printer.clone(),
            external,
            inputs.clone(),
        );
        let console = EditorConsole {
            editor,
            asks,
            inputs,
            keys: None,
            printer: Some(printer),
            palette,
        };
        (console, warning)
    }

    /// Standard input read one line per prompt, where remote mode has no terminal: questions
    /// are asked at its "prompt" (a `y` line answers).
    pub fn stdin(inputs: UnboundedSender<Input>, palette: Palette) -> EditorConsole {
        EditorConsole {
            editor: thread::spawn_stdin(inputs.clone()),
            asks: Ask::AtPrompt,
            inputs,
            keys: None,
            printer: None,
            palette,
        }
    }

    /// What prints above the prompt, for the terminal sink; `None` without a terminal.
    pub fn printer(&self) -> Option<PromptPrinter> {
        self.printer.clone()
    }

    /// Stops the editor, letting it write its history.
    pub fn close(self) {
        if let Some(keys) = &self.keys {
            keys.stop();
        }
        // An editor still reading a line (the session ended from elsewhere) is not waited for.
        if !self.printer.as_ref().is_some_and(PromptPrinter::reading) {
            self.editor.close();
        }
    }

    fn show(&self, prompt: Prompt) {
        let _ = self.editor.prompts.send(prompt);
    }
}

impl Console for EditorConsole {
    fn asks(&self) -> Ask {
        self.asks
    }

    fn refills(&self) -> bool {
        // Standard input has no line to put a message back in.
        self.printer.is_some()
    }

    fn ready(&mut self, session: &Session, ready: Ready) {
        self.show(Prompt {
            refill: ready.refill,
            prompt: StatusPrompt::new(session),
            completer: ready.commands_changed.then(|| SlashCompleter::new(session)),
            vim: ready.preferences.as_ref().map(|p| p.vim),
            colors: ready.preferences.as_ref().map(|p| p.theme != "mono"),
        });
    }

    fn ask(&mut self, question: &PermissionQuestion) {
        match self.asks {
            Ask::AtPrompt => self.show(Prompt {
                refill: None,
                prompt: StatusPrompt::question(format!(
                    "allow {}? [y/n] ",
                    neutralise_line(&question.tool_name)
                )),
                completer: None,
                vim: None,
                colors: None,
            }),
            Ask::ByKey => {
                if let Some(old) = self.keys.take() {
                    old.stop();
                }
                self.keys = Some(KeyReader::start(
                    question.request_id.clone(),
                    self.inputs.clone(),
                ));
            }
            Ask::Refuse => {}
        }
    }

    fn settled(&mut self, _request_id: &str) {
        if let Some(keys) = self.keys.take() {
            keys.stop();
        }
    }

    fn queued(&mut self, line: &str) {
        let p = &self.palette;
        let text = format!(
            "{}\n",
            p.paint(
                p.dim,
                &format!(
                    "  queued: {} (it runs when this turn ends)",
                    neutralise_line(&shorten(line, 60))
                )
            )
        );
        self.write(&text);
    }

    fn notice(&mut self, text: &str) -> bool {
        // Drawn as the terminal draws its own errors; the text is tether's own words.
        let p = &self.palette;
        self.write(&format!("{}\n", p.paint(p.error, &format!("✗ {text}"))));
        true
    }
}

impl EditorConsole {
    /// Above the prompt while the editor reads, else straight out.
    fn write(&self, text: &str) {
        match &self.printer {
            Some(printer) => printer.write(text),
            None => print!("{text}"),
        }
    }
}

/// `-p` and piped input: lines arrive on their own; no one is there to answer a question.
pub struct LinesConsole;

impl Console for LinesConsole {
    fn asks(&self) -> Ask {
        Ask::Refuse
    }
    fn refills(&self) -> bool {
        false
    }
    fn ready(&mut self, _session: &Session, _ready: Ready) {}
    fn ask(&mut self, _question: &PermissionQuestion) {}
}
