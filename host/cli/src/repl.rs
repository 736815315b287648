//! The interactive session: the line editor (history, emacs or vi keys, slash-command
//! completion, a status line) in front of the driver, with permission questions answered by a
//! single key.

use std::process::ExitCode;

use anyhow::Result;
use tether_session::driver::{Ask, Driver, Options};

use crate::args::Args;
use crate::console::EditorConsole;
use crate::render::{Mode, TerminalSink};
use crate::{signals, startup};

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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (inputs, received) = tokio::sync::mpsc::unbounded_channel();
        signals::forward(inputs.clone(), true)?;
        let (mut console, warning) = EditorConsole::spawn(
            &dirs,
            &prefs,
            &session,
            Ask::ByKey,
            inputs,
            sink.palette.clone(),
        );
        let mut sink = match console.printer() {
            Some(printer) => sink.with_printer(printer),
            None => sink,
        };
        if let Some(w) = warning {
            sink.error(&w);
        }
        Driver::new(
            &mut session,
            &mut sink,
            &mut console,
            None,
            received,
            Options::default(),
        )
        .run()
        .await;
        console.close();
        Ok(ExitCode::SUCCESS)
    })
}
