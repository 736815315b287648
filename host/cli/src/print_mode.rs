//! `tether -p INPUT`: one prompt or slash command, the result on stdout, problems on stderr, and
//! an exit code scripts can test. `tether < file` does the same for each line of its input.

use std::process::ExitCode;

use anyhow::Result;
use tether_session::Flow;

use crate::approve::Answerer;
use crate::args::Args;
use crate::render::{Mode, TerminalSink};
use crate::startup;

pub fn run(args: &Args, input: &str) -> Result<ExitCode> {
    run_all(args, &[input.to_string()])
}

/// Each non-empty line of standard input, in order, until `/exit` or the end.
pub fn run_stdin(args: &Args) -> Result<ExitCode> {
    let text = std::io::read_to_string(std::io::stdin())?;
    let inputs: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    run_all(args, &inputs)
}

fn run_all(args: &Args, inputs: &[String]) -> Result<ExitCode> {
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
    let interrupted = rt.block_on(async {
        for input in inputs {
            match startup::submit_interruptible(&mut session, input, &mut sink, Answerer::Refuse)
                .await
            {
                (_, true) => return true,
                (Flow::Exit, false) => break,
                (Flow::Continue, false) => {}
            }
        }
        false
    });
    Ok(if interrupted {
        ExitCode::from(130)
    } else if sink.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
