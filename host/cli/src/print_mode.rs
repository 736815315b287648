//! `tether -p INPUT`: one prompt or slash command, the result on stdout, problems on stderr, and
//! an exit code scripts can test.

use std::process::ExitCode;

use anyhow::Result;
use tether_protocol::Origin;
use tether_session::Session;
use tokio_util::sync::CancellationToken;

use crate::args::Args;
use crate::render::{Mode, TerminalSink};
use crate::repl::session_config;
use crate::startup;

pub fn run(args: &Args, input: &str) -> Result<ExitCode> {
    let mut loaded = startup::load()?;
    let prefs = startup::preferences(&loaded.dirs, &mut loaded.warnings);
    for w in &loaded.warnings {
        eprintln!("tether: warning: {w}");
    }
    let mut sink = TerminalSink::new(Mode::Print, &prefs);
    let mut session = Session::new(
        session_config(&loaded.dirs)?,
        loaded.runtime.clone(),
        loaded.registry,
        startup::engine(args.engine),
        prefs,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let interrupted = rt.block_on(async {
        let cancel = CancellationToken::new();
        let submit = session.submit(input, Origin::Terminal, &mut sink, &cancel);
        tokio::pin!(submit);
        tokio::select! {
            _ = &mut submit => false,
            _ = tokio::signal::ctrl_c() => {
                cancel.cancel();
                submit.await;
                true
            }
        }
    });
    Ok(if interrupted {
        ExitCode::from(130)
    } else if sink.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
