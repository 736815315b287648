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
    after_help = "Files follow XDG: $XDG_CONFIG_HOME/tether (config.toml: the engine, models, \
        prices; preferences, memory.md), \
        $XDG_DATA_HOME/tether (plugins, history), $XDG_CACHE_HOME/tether (compiled plugins).\n\
        TETHER_LOG=debug shows logs on stderr."
)]
pub struct Args {
    /// Run one prompt or slash command, print the result to stdout and exit (non-zero on error).
    #[arg(short = 'p', long = "print", value_name = "INPUT")]
    pub print: Option<String>,

    #[command(flatten)]
    pub engine: EngineArgs,

    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub remote: RemoteArgs,

    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct RemoteArgs {
    /// Publish this session: prints a QR code and a URL; a phone or browser that opens it joins
    /// the conversation. Without --server (or a saved login) tether runs its own relay.
    #[arg(long)]
    pub remote: bool,
    /// Publish on this hosted relay instead (implies --remote; log in first with
    /// `tether login --server URL`). Default: the relay of the saved login, if any.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Run the embedded relay even when a login is saved.
    #[arg(long, conflicts_with = "server")]
    pub local: bool,
    /// How the terminal streams from the relay.
    #[arg(long, value_enum, default_value_t = TransportArg::Sse)]
    pub transport: TransportArg,
    /// Where the embedded relay listens. The default takes a free port on every interface so
    /// that a phone on the same network can reach it; the URL shows this machine's LAN address.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0")]
    pub listen: std::net::SocketAddr,
    /// The embedded relay serves HTTPS with this certificate chain (PEM, its own certificate
    /// first) and the link is https://; the terminal trusts these certificates besides the
    /// usual roots. Needs --tls-key. The certificate must name the link's host (see
    /// --public-host).
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "remote"], conflicts_with = "server")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1; not encrypted).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The host name the embedded relay's link carries instead of this machine's LAN address,
    /// e.g. the name in its TLS certificate (it must lead phones to this machine). The
    /// terminal still reaches its relay directly.
    #[arg(
        long,
        value_name = "NAME",
        requires = "remote",
        conflicts_with = "server"
    )]
    pub public_host: Option<String>,
}

impl RemoteArgs {
    pub fn enabled(&self) -> bool {
        self.remote || self.server.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Server-Sent Events to receive, HTTP POST to send.
    Sse,
    /// One WebSocket both ways.
    Ws,
}

/// Which engine answers, and how it is reached. Each flag overrides the config file
/// (`$XDG_CONFIG_HOME/tether/config.toml`); API keys come from the environment only.
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct EngineArgs {
    /// The engine that answers. Default: `engine` in config.toml; else `anthropic` when
    /// ANTHROPIC_API_KEY is set, `openai` when OPENAI_API_KEY is set or [openai] is configured,
    /// `exec` when [exec] is configured; else `echo`, which works offline and needs no model.
    #[arg(long, value_enum, env = "TETHER_ENGINE")]
    pub engine: Option<EngineChoice>,
    /// The model, as the provider names it (e.g. claude-sonnet-4-5, gpt-4o-mini, llama3.2).
    #[arg(long, value_name = "NAME", env = "TETHER_MODEL")]
    pub model: Option<String>,
    /// The provider's URL: https://api.anthropic.com, https://api.openai.com/v1, or a
    /// compatible server such as Ollama (http://localhost:11434/v1) or llama.cpp.
    #[arg(long, value_name = "URL", env = "TETHER_BASE_URL")]
    pub base_url: Option<String>,
    /// The agent command for `--engine exec`, split like a shell would, e.g.
    /// "claude -p --input-format stream-json --output-format stream-json --verbose
    /// --include-partial-messages --permission-prompt-tool stdio".
    #[arg(long, value_name = "COMMAND", env = "TETHER_EXEC_COMMAND")]
    pub exec_command: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// Offline and deterministic: repeats what you type, and says no model is configured.
    Echo,
    /// Anthropic's Messages API (ANTHROPIC_API_KEY).
    Anthropic,
    /// Any OpenAI Chat Completions compatible server (OPENAI_API_KEY if it needs one).
    Openai,
    /// An external agent process speaking stream-json, such as Claude Code.
    Exec,
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
    /// Log in to a hosted relay (OAuth device login) and trust this machine.
    Login(LoginArgs),
    /// Forget the saved login (and revoke this machine's trusted device on the relay).
    Logout,
    /// The machines trusted to publish sessions on your relay account.
    Devices {
        #[command(subcommand)]
        command: DevicesCmd,
    },
    /// Run or administer a hosted relay: the server that browsers and phones reach.
    Relay {
        #[command(subcommand)]
        command: RelayCmd,
    },
    /// The administrator's policy (/etc/tether/policy.toml, narrowed by TETHER_POLICY).
    Policy {
        #[command(subcommand)]
        command: PolicyCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate the policy and show, for each known plugin, whether it loads locally, in remote
    /// mode and over the bridge, and why. Exits non-zero if a policy file is not valid.
    Check {
        /// Check this file instead of the policies in force (e.g. before installing it).
        file: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, ClapArgs)]
pub struct LoginArgs {
    /// The relay's URL, e.g. https://relay.example.com.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// How this machine is named in `tether devices list`. Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub device_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCmd {
    /// List the trusted devices of the logged-in account.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a trusted device: it can no longer publish sessions.
    Revoke {
        /// The device id, as `tether devices list` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RelayCmd {
    /// Serve the relay until Ctrl-C or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Bring the relay's database to this release's schema (serve does it too), or with --check
    /// only report where it stands: exit status 1 when a migration is pending. A database
    /// written by a newer relay is refused untouched.
    Migrate {
        #[command(flatten)]
        db: DbArg,
        /// Change nothing; exit 1 if the database needs migrating, 0 if it is up to date.
        #[arg(long)]
        check: bool,
    },
    /// Manage the relay's accounts.
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
}

#[derive(Debug, ClapArgs)]
pub struct DbArg {
    /// The relay's SQLite database (created if missing). Default: $XDG_DATA_HOME/tether/relay.db.
    #[arg(long, value_name = "PATH", env = "TETHER_RELAY_DB")]
    pub db: Option<PathBuf>,
    /// A PostgreSQL database instead, which several relay nodes share, e.g.
    /// postgres://tether:PASSWORD@db.internal/tether. Prefer the environment variable to the
    /// command line, which every user of the machine can read.
    #[arg(
        long,
        value_name = "URL",
        env = "TETHER_RELAY_DATABASE_URL",
        conflicts_with = "db"
    )]
    pub database_url: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen one is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    #[command(flatten)]
    pub db: DbArg,
    /// Redis, to tell the other relay nodes on the same --database-url of each commit at once
    /// (e.g. redis://redis.internal:6379). Without it nodes still follow each other, through
    /// the database, within half a second; with it down, they fall back to that.
    #[arg(
        long,
        value_name = "URL",
        env = "TETHER_RELAY_REDIS_URL",
        requires = "database_url"
    )]
    pub redis_url: Option<String>,
    /// The URL browsers use to reach this relay (behind a proxy, the proxy's URL). It is what
    /// session links and QR codes carry, and the only origin whose cookies are accepted.
    /// Default: http://<listen address>.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// A staging relay: session ids are session_staging_<uuid>.
    #[arg(long)]
    pub staging: bool,
    /// Another origin allowed to use login cookies (repeatable).
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Let workers register without a trusted device token (only an OAuth access token).
    #[arg(long)]
    pub no_trusted_devices: bool,
    /// Lifetime of worker tokens in seconds (at most 900). For tests of token refresh.
    #[arg(long, value_name = "SECS", hide = true, value_parser = clap::value_parser!(u64).range(1..=900))]
    pub worker_token_ttl: Option<u64>,
    /// The most connections open at once (streams and WebSockets included). Default: what
    /// RLIMIT_NOFILE allows, less 64 for the database and the runtime; never more than that.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a connection may take to send a request head, after opening or between
    /// requests (so also the keep-alive idle timeout).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds requests in progress may take to finish after SIGTERM before they are dropped.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace: u64,
    /// A proxy (address or CIDR range, repeatable) whose X-Forwarded-For / Forwarded headers
    /// name the client, e.g. 127.0.0.1 for a TLS proxy on this machine. Throttles then count
    /// each client apart; headers from anyone else are ignored.
    #[arg(long, value_name = "CIDR")]
    pub trusted_proxy: Vec<tether_relay::auth::client_addr::Cidr>,
    /// Serve /metrics (Prometheus) on this address, e.g. 127.0.0.1:9090. Without it, or
    /// --metrics-token-file, /metrics is not served at all.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Serve /metrics on the public listener too, to scrapers that send
    /// `Authorization: Bearer <the token in this file>`.
    #[arg(long, value_name = "PATH")]
    pub metrics_token_file: Option<PathBuf>,
    /// Sign worker tokens with the key in this file (64 hex digits or base64 of 32 bytes; make
    /// one with `openssl rand -hex 32`) instead of a key kept in the database, so that a copy
    /// of the database cannot mint them. Give every node the same file.
    #[arg(long, value_name = "PATH", env = "TETHER_RELAY_JWT_KEY_FILE")]
    pub jwt_key_file: Option<PathBuf>,
    /// Serve HTTPS and WSS with this certificate chain (PEM, the server's own certificate
    /// first) instead of plain HTTP behind a TLS proxy. Needs --tls-key. The default
    /// --public-url is then https://<listen address>.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1; not encrypted).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also push notifications to this push service (an origin such as
    /// https://push.example.org:8443; repeatable). Without it the relay pushes only to the
    /// browsers' own services (FCM, Mozilla, Apple, WNS), over HTTPS.
    #[arg(long, value_name = "ORIGIN")]
    pub push_service: Vec<tether_relay::push::endpoint::ServiceOrigin>,
    /// Who push services may contact about this relay's notifications (VAPID `sub`): a
    /// mailto: or https: URL. Default: --public-url when it is HTTPS.
    #[arg(long, value_name = "URL", value_parser = push_contact)]
    pub push_contact: Option<String>,
}

fn push_contact(text: &str) -> Result<String, String> {
    let ok = (text.starts_with("mailto:") && text.len() > 7 && text.contains('@'))
        || (text.starts_with("https://") && text.len() > 8);
    let printable = !text.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok && printable {
        Ok(text.to_owned())
    } else {
        Err("give a mailto: address or an https: URL".into())
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an account. The password is read from stdin with --password-stdin, or prompted for.
    Add {
        /// The user name: letters, digits, '.', '_', '-' or '@'.
        name: String,
        /// Read the password from stdin (one line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// List the accounts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Remove an account and everything it owns (logins, tokens, devices, sessions).
    Remove {
        name: String,
        #[command(flatten)]
        db: DbArg,
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

    #[test]
    fn push_flags_take_an_origin_and_a_usable_contact() {
        let serve = |extra: &[&str]| {
            let mut argv = vec!["tether", "relay", "serve"];
            argv.extend_from_slice(extra);
            Args::try_parse_from(argv)
        };
        assert!(serve(&["--push-service", "https://push.example:8443"]).is_ok());
        assert!(serve(&["--push-contact", "mailto:ops@example.org"]).is_ok());
        assert!(serve(&["--push-contact", "https://example.org/contact"]).is_ok());
        for bad in [
            &["--push-service", "https://push.example/path"][..],
            &["--push-service", "ftp://push.example"],
            &["--push-contact", "ops@example.org"],
            &["--push-contact", "mailto:"],
            &["--push-contact", "http://example.org"],
            &["--push-contact", "mailto:a@b c"],
        ] {
            let error = serve(bad).unwrap_err().to_string();
            assert!(error.contains(bad[0]), "{bad:?}: {error}");
        }
    }
}
