//! `tether -p INPUT`: one prompt or slash command, the result on stdout, problems on stderr, and
//! an exit code scripts can test. `tether < file` does the same for each line of its input.

use std::process::ExitCode;

use anyhow::Result;
use tether_session::driver::{Driver, Input, Options};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::args::Args;
use crate::console::LinesConsole;
use crate::render::{Mode, TerminalSink};
use crate::{signals, startup};

pub fn run(args: &Args, input: &str) -> Result<ExitCode> {
    let (tx, rx) = unbounded_channel();
    let _ = tx.send(Input::Line(input.to_string()));
    // The one input, then the end.
    let _ = tx.send(Input::Eof);
    run_all(args, tx, rx)
}

/// Each non-empty line of standard input, in order, until `/exit` or the end. Each line is
/// handled as soon as it is read, so that a program can write a line, read the reply, then
/// write the next. Lines are read on a thread of their own, so that Ctrl-C still stops tether
/// while it waits for one.
pub fn run_stdin(args: &Args) -> Result<ExitCode> {
    let (tx, rx) = unbounded_channel();
    let lines = tx.clone();
    std::thread::Builder::new()
        .name("tether-stdin".into())
        .spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines() {
                let input = match line {
                    Ok(line) => Input::Line(line),
                    Err(e) => Input::Failed(format!("reading standard input failed: {e}")),
                };
                let failed = matches!(input, Input::Failed(_));
                if lines.send(input).is_err() || failed {
                    return;
                }
            }
            let _ = lines.send(Input::Eof);
        })?;
    run_all(args, tx, rx)
}

fn run_all(
    args: &Args,
    inputs: tokio::sync::mpsc::UnboundedSender<Input>,
    received: UnboundedReceiver<Input>,
) -> Result<ExitCode> {
    let mut loaded = startup::load()?;
    let prefs = startup::preferences(&loaded.dirs, &mut loaded.warnings);
    for w in &loaded.warnings {
        eprintln!("tether: warning: {w}");
    }
    let mut sink = TerminalSink::new(Mode::Print, &prefs);
    let chosen = startup::engine(args, &loaded.dirs)?;
    let mut session = startup::session(loaded, chosen.engine, prefs)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ended = rt.block_on(async {
        signals::forward(inputs, false)?;
        anyhow::Ok(
            Driver::new(
                &mut session,
                &mut sink,
                &mut LinesConsole,
                None,
                received,
                Options { signal_ends: true },
            )
            .run()
            .await,
        )
    })?;
    Ok(if ended.interrupted {
        ExitCode::from(130)
    } else if sink.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
