//! The command line. Scripts and tests rely on it: change it only compatibly.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tether",
    version,
    about = "An agent session in your terminal that you can drive from any browser or phone.",
    long_about = "An agent session in your terminal that you can drive from any browser or phone.\n\n\
        Run `tether` for an interactive conversation. Every slash command (/help lists them) is a \
        sandboxed WebAssembly component.",
    after_help = "Files follow XDG: $XDG_CONFIG_HOME/tether (preferences, memory.md), \
        $XDG_DATA_HOME/tether (plugins, history), $XDG_CACHE_HOME/tether (compiled plugins).\n\
        TETHER_LOG=debug shows logs on stderr."
)]
pub struct Args {
    /// Run one prompt or slash command, print the result to stdout and exit (non-zero on error).
    #[arg(short = 'p', long = "print", value_name = "INPUT")]
    pub print: Option<String>,

    /// The engine that answers: `echo` works offline and needs no model.
    #[arg(long, value_enum, default_value_t = EngineChoice::Echo, env = "TETHER_ENGINE")]
    pub engine: EngineChoice,

    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// Offline and deterministic: repeats what you type, and says no model is configured.
    Echo,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the slash commands available in a context.
    Commands(CommandsArgs),
    /// Install, list or remove your own plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCmd,
    },
}

#[derive(Debug, ClapArgs)]
pub struct CommandsArgs {
    /// As in a session started with `--remote`.
    #[arg(long)]
    pub remote: bool,
    /// Where the command would come from: typed in the terminal, or sent by a remote client.
    #[arg(long, value_enum, default_value_t = OriginArg::Terminal)]
    pub origin: OriginArg,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OriginArg {
    Terminal,
    Bridge,
}

#[derive(Debug, Subcommand)]
pub enum PluginCmd {
    /// Install a plugin from a `.wasm` component (built with `--target wasm32-wasip2`).
    Install(InstallArgs),
    /// List the installed plugins, stock and your own.
    List(ListArgs),
    /// Remove one of your plugins.
    Remove(RemoveArgs),
}

#[derive(Debug, ClapArgs)]
pub struct InstallArgs {
    /// The component file.
    pub file: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, ClapArgs)]
pub struct RemoveArgs {
    /// The command name, with or without the slash.
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }
}
