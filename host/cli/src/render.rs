//! Draws session output on the terminal. Interactive mode adds colour and markers; print mode
//! (`-p`) writes the plain result to stdout and problems to stderr, for scripts.

use std::io::{IsTerminal, Write};

use tether_protocol::Origin;
use tether_protocol::text::shorten;
use tether_protocol::untrusted::neutralise;
use tether_session::{Format, Output, Preferences, Sink};

use crate::markdown;
use crate::open;
use crate::palette::{Palette, color_enabled};
use crate::untrusted;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Interactive,
    Print,
}

pub struct TerminalSink {
    pub palette: Palette,
    mode: Mode,
    /// Errors shown since the last reset (print mode exits non-zero if any).
    pub errors: usize,
    stdout_tty: bool,
    /// In remote mode: prints above the prompt when the line editor is showing one.
    printer: Option<crate::editor::PromptPrinter>,
    /// How a permission request is answered here, said under each request.
    pub answer_hint: &'static str,
}

/// Under a permission request, outside remote mode.
pub const KEY_HINT: &str = "press y to allow, n to deny";

impl TerminalSink {
    pub fn new(mode: Mode, prefs: &Preferences) -> TerminalSink {
        let stdout_tty = std::io::stdout().is_terminal();
        TerminalSink {
            palette: Palette::new(&prefs.theme, &prefs.color, color_enabled(stdout_tty)),
            mode,
            errors: 0,
            stdout_tty,
            printer: None,
            answer_hint: KEY_HINT,
        }
    }

    pub fn with_printer(mut self, printer: crate::editor::PromptPrinter) -> Self {
        self.printer = Some(printer);
        self
    }

    fn out(&self, text: &str) {
        if let Some(printer) = &self.printer {
            printer.write(text);
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    fn line(&self, text: &str) {
        self.out(&format!("{text}\n"));
    }

    /// Shows a problem in tether's own words, which may carry its own styling: text from
    /// elsewhere must be neutralised first (as [`Sink::emit`] does with everything it draws).
    pub fn error(&mut self, text: &str) {
        self.errors += 1;
        match self.mode {
            Mode::Interactive => {
                self.line(&self.palette.paint(self.palette.error, &format!("✗ {text}")))
            }
            Mode::Print => eprintln!("tether: {text}"),
        }
    }

    /// A hint or confirmation in tether's own words (see [`TerminalSink::error`]).
    pub fn info(&self, text: &str) {
        match self.mode {
            Mode::Interactive => self.line(&self.palette.paint(self.palette.dim, text)),
            Mode::Print => self.line(text),
        }
    }
}

impl Sink for TerminalSink {
    fn emit(&mut self, output: Output) {
        let p = self.palette.clone();
        // Before any styling of ours is added: see `untrusted`.
        match untrusted::neutralised(output) {
            // Typed here: already on screen. From elsewhere: show it, with where it came from.
            Output::User {
                origin: Origin::Terminal,
                ..
            } => {}
            Output::User {
                text,
                origin: Origin::Bridge,
            } => {
                self.line(&format!("{} {text}", p.paint(p.accent, "› (remote)")));
            }
            Output::AssistantStart { .. } => {
                if self.mode == Mode::Interactive {
                    self.out(&p.paint(p.accent, "● "));
                }
            }
            Output::AssistantDelta { text, .. } => self.out(&p.paint(p.reply, &text)),
            Output::AssistantEnd { interrupted, .. } => {
                if interrupted {
                    self.line(&format!(" {}", p.paint(p.dim, "[interrupted]")));
                } else {
                    self.line("");
                }
            }
            Output::Command {
                text,
                format: Format::Text,
                ..
            } => self.line(&text),
            Output::Command {
                text,
                format: Format::Markdown,
                ..
            } => self.line(&markdown::render(&text, &p)),
            Output::Note(text) => self.line(&p.paint(p.note, &format!("✎ note: {text}"))),
            Output::Error(text) => self.error(&text),
            // No reply came: the error takes the reply's place (and stdout stays empty).
            Output::TurnFailed { error, .. } => self.error(&error),
            Output::Info(text) => self.info(&text),
            Output::Warning(text) => match self.mode {
                Mode::Interactive => self.info(&text),
                Mode::Print => eprintln!("tether: {text}"),
            },
            Output::Cleared => {
                if self.mode == Mode::Interactive && self.stdout_tty {
                    // Clear the screen and scroll-back, cursor home.
                    self.out("\x1b[2J\x1b[3J\x1b[H");
                }
            }
            Output::PreferencesChanged(prefs) => {
                self.palette =
                    Palette::new(&prefs.theme, &prefs.color, color_enabled(self.stdout_tty));
            }
            Output::Clipboard(text) => {
                if self.stdout_tty {
                    let _ = open::write_osc52(&mut std::io::stdout().lock(), &text);
                } else {
                    // A script asked for the text: give it.
                    self.line(&text);
                }
            }
            // A plugin's URL: opened as it is, shown neutralised.
            Output::OpenUrl(url) => match open::url(&url) {
                Ok(_) => self.info(&format!("Opening {}", neutralise(&url))),
                Err(e) => self.error(&neutralise(&e)),
            },
            // An editor needs the terminal: without one (a script, a pipe) say where the file is.
            Output::OpenEditor(path) if !(std::io::stdin().is_terminal() && self.stdout_tty) => {
                self.error(&format!(
                    "editing needs an interactive terminal; edit {} directly",
                    path.display()
                ))
            }
            Output::OpenEditor(path) => match open::editor(&path) {
                Ok(()) => self.info(&format!("Saved {}.", path.display())),
                Err(e) => self.error(&e),
            },
            // The driver acts on these (completion, a new key); nothing to draw.
            Output::CommandsChanged | Output::NewSessionKey => {}
            Output::PermissionRequest(q) if self.mode == Mode::Print => eprintln!(
                "tether: the agent asked to use {}; no one can answer here, so it was denied",
                q.tool_name
            ),
            Output::PermissionRequest(q) => {
                let mut text = format!(
                    "{} the agent wants to use {}",
                    p.paint(p.accent, "⚠"),
                    p.paint(p.heading, &q.tool_name)
                );
                if let Some(d) = q.description.as_deref().filter(|d| !d.trim().is_empty()) {
                    text.push_str(&format!("\n  {d}"));
                }
                let input = shorten(&q.input.to_string(), 400);
                if input != "null" && input != "{}" {
                    text.push_str(&format!("\n  {}", p.paint(p.dim, &input)));
                }
                text.push_str(&format!(
                    "\n  {}",
                    p.paint(p.accent, &format!("Allow? {}", self.answer_hint))
                ));
                self.line(&text);
            }
            Output::PermissionResolved { .. } if self.mode == Mode::Print => {}
            Output::PermissionResolved { resolution, .. } => {
                use tether_engines::PermissionAnswer;
                use tether_session::approvals::Resolution;
                let text = match resolution {
                    Resolution::Answered { answer, by } => {
                        let verb = match answer {
                            PermissionAnswer::Allow => "✓ allowed",
                            PermissionAnswer::Deny { .. } => "✗ denied",
                        };
                        match by {
                            Origin::Terminal => format!("{verb} here"),
                            Origin::Bridge => format!("{verb} on a connected device"),
                        }
                    }
                    Resolution::Withdrawn => "the agent withdrew the request".into(),
                    Resolution::Cancelled => "the request was cancelled (denied)".into(),
                };
                self.info(&format!("  {text}"));
            }
        }
    }
}
