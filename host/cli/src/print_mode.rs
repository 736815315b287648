//! `tether -p INPUT`: one prompt or slash command, the result on stdout, problems on stderr, and
//! an exit code scripts can test. `tether < file` does the same for each line of its input.

use std::process::ExitCode;

use anyhow::Result;
use tether_session::Flow;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::approve::Answerer;
use crate::args::Args;
use crate::render::{Mode, TerminalSink};
use crate::startup;

pub fn run(args: &Args, input: &str) -> Result<ExitCode> {
    let (tx, rx) = unbounded_channel();
    let _ = tx.send(Ok(input.to_string()));
    // The one input, then the end.
    drop(tx);
    run_all(args, rx)
}

/// Each non-empty line of standard input, in order, until `/exit` or the end. Each line is
/// handled as soon as it is read, so that a program can write a line, read the reply, then
/// write the next. Lines are read on a thread of their own, so that Ctrl-C still stops tether
/// while it waits for one.
pub fn run_stdin(args: &Args) -> Result<ExitCode> {
    let (tx, rx) = unbounded_channel();
    std::thread::Builder::new()
        .name("tether-stdin".into())
        .spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines() {
                let failed = line.is_err();
                if tx.send(line).is_err() || failed {
                    return;
                }
            }
        })?;
    run_all(args, rx)
}

fn run_all(
    args: &Args,
    mut inputs: UnboundedReceiver<std::io::Result<String>>,
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
    let interrupted = rt.block_on(async {
        loop {
            let next = tokio::select! {
                next = inputs.recv() => next,
                _ = tokio::signal::ctrl_c() => return true,
            };
            let input = match next {
                None => break,
                Some(Ok(line)) if line.trim().is_empty() => continue,
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    eprintln!("tether: reading standard input failed: {e}");
                    return false;
                }
            };
            match startup::submit_interruptible(&mut session, &input, &mut sink, Answerer::Refuse)
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
