//! `tether`: the binary. It parses the command line and wires the crates together; the logic
//! lives in tether-session (the conversation), tether-plugins (the runtime) and tether-protocol
//! (the rules).

mod approve;
mod args;
mod commands_cmd;
mod console;
mod credentials;
mod editor;
mod engines;
mod logging;
mod login_cmd;
mod markdown;
mod open;
mod palette;
mod plugin_cmd;
mod policy_cmd;
mod print_mode;
mod relay_cmd;
mod remote;
mod render;
mod repl;
mod signals;
mod startup;
mod untrusted;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use args::{Args, Cmd, PluginCmd};

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    let result = match &args.command {
        Some(Cmd::Commands(c)) => commands_cmd::run(c),
        Some(Cmd::Plugin {
            command: PluginCmd::Install(c),
        }) => plugin_cmd::install(c),
        Some(Cmd::Plugin {
            command: PluginCmd::List(c),
        }) => plugin_cmd::list(c),
        Some(Cmd::Plugin {
            command: PluginCmd::Remove(c),
        }) => plugin_cmd::remove(c),
        Some(Cmd::Relay { command }) => relay_cmd::run(command),
        Some(Cmd::Policy {
            command: args::PolicyCmd::Check { file, json },
        }) => policy_cmd::check(file.as_deref(), *json),
        Some(Cmd::Login(c)) => login_cmd::login(c),
        Some(Cmd::Logout) => login_cmd::logout(),
        Some(Cmd::Devices { command }) => login_cmd::devices(command),
        None if args.remote.enabled() && args.print.is_some() => Err(anyhow::anyhow!(
            "--remote publishes an interactive session; it cannot be combined with -p"
        )),
        None if args.remote.enabled() => remote::run(&args),
        None => match &args.print {
            Some(input) => print_mode::run(&args, input),
            None if !std::io::stdin().is_terminal() => print_mode::run_stdin(&args),
            None => repl::run(&args),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // An error may quote a relay's or a provider's words.
            let e = format!("{e:#}");
            eprintln!("tether: {}", tether_protocol::untrusted::neutralise(&e));
            ExitCode::FAILURE
        }
    }
}

/// Quiet unless asked: the terminal is the user's conversation, not a log.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let from_env = std::env::var("TETHER_LOG").ok();
    let filter = EnvFilter::new(logging::spec(from_env.as_deref(), verbose));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
