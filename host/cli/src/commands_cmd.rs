//! `tether commands`: what can be invoked in a given context, for people and scripts.

use std::process::ExitCode;

use anyhow::Result;
use tether_plugins::policy::Mode;
use tether_protocol::{Origin, gate::Context};

use crate::args::{CommandsArgs, OriginArg};
use crate::startup;

pub fn run(args: &CommandsArgs) -> Result<ExitCode> {
    // As a session in that mode would load them: under the administrator's policy.
    let mode = if args.remote {
        Mode::Remote
    } else {
        Mode::Local
    };
    let loaded = startup::load_for(mode)?;
    for w in &loaded.warnings {
        eprintln!("tether: warning: {w}");
    }
    let origin = match args.origin {
        OriginArg::Terminal => Origin::Terminal,
        OriginArg::Bridge => Origin::Bridge,
    };
    let commands = loaded.registry.available(Context::new(origin, args.remote));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&commands)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = commands.iter().map(|c| c.name.len() + 1).max().unwrap_or(0);
    for c in &commands {
        let tags: Vec<&str> = [
            Some(c.kind.as_str()),
            c.remote_safe.then_some("remote-safe"),
            c.bridge_safe.then_some("bridge-safe"),
            (c.source == tether_protocol::CommandSource::User).then_some("user"),
        ]
        .into_iter()
        .flatten()
        .collect();
        println!(
            "{:width$}  {}  [{}]",
            format!("/{}", c.name),
            // A user plugin's words (bidi overrides pass the manifest's checks).
            tether_protocol::untrusted::neutralise_line(&c.description),
            tags.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
