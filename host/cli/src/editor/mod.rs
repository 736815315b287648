//! The terminal's line editor (reedline), shared by the REPL and remote mode: it runs on a
//! thread of its own ([`thread`]) so that the conversation never waits on the keyboard, prints
//! above the prompt when output arrives while it reads ([`printer`]), and is built from the
//! user's preferences ([`keys`], [`prompt`], [`complete`]).

pub mod complete;
pub mod keys;
pub mod printer;
pub mod prompt;
pub mod thread;

pub use complete::SlashCompleter;
pub use printer::PromptPrinter;
pub use prompt::StatusPrompt;
pub use thread::{Editor, Prompt};
