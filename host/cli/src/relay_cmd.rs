//! `tether relay …`: serve a hosted relay, manage its accounts.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tether_protocol::RelayKind;
use tether_relay::store::Location;
use tether_relay::{Relay, RelayConfig, users};
use tether_session::dirs::Dirs;

use crate::args::{DbArg, RelayCmd, ServeArgs, UserCmd};

pub fn run(command: &RelayCmd) -> anyhow::Result<ExitCode> {
    match command {
        RelayCmd::Serve(args) => serve(args),
        RelayCmd::Migrate { db, check } => migrate(db, *check),
        RelayCmd::User { command } => match command {
            UserCmd::Add {
                name,
                password_stdin,
                db,
            } => {
                let db = location(db)?;
                let password = read_password(*password_stdin)?;
                users::add(&db, name, &password)?;
                println!("Added user {name} to {}.", db.display());
                Ok(ExitCode::SUCCESS)
            }
            UserCmd::List { json, db } => {
                let accounts = users::list(&location(db)?)?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&accounts)?);
                } else if accounts.is_empty() {
                    println!("No users yet. Add one with `tether relay user add NAME`.");
                } else {
                    for a in accounts {
                        println!("{:<24} created {}", a.name, a.created_at);
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            UserCmd::Remove { name, db } => {
                users::remove(&location(db)?, name)?;
                println!("Removed user {name} and everything it owned.");
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

fn migrate(db: &DbArg, check: bool) -> anyhow::Result<ExitCode> {
    let db = location(db)?;
    let shown = db.display();
    let tether_relay::store::SchemaState { found, latest } =
        tether_relay::store::migrate(&db, check)
            .with_context(|| format!("cannot migrate the relay database {shown}"))?;
    if found == latest {
        println!("{shown}: schema {latest}, up to date.");
    } else if check {
        println!(
            "{shown}: schema {found}, this release's is {latest}; `tether relay migrate` would upgrade it."
        );
        return Ok(ExitCode::FAILURE);
    } else {
        println!("{shown}: schema {found} → {latest}.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--database-url`, else the SQLite file of `--db` or the default one.
fn location(arg: &DbArg) -> anyhow::Result<Location> {
    match &arg.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Location::Postgres(url.clone()))
        }
        Some(_) => bail!(
            "--database-url takes a postgres:// or postgresql:// URL (for SQLite, use --db PATH)"
        ),
        None => db_path(arg).map(Location::Sqlite),
    }
}

fn db_path(arg: &DbArg) -> anyhow::Result<PathBuf> {
    let path = match &arg.db {
        Some(path) => path.clone(),
        None => Dirs::from_env().map_err(anyhow::Error::msg)?.relay_db(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(path)
}

/// One line from stdin with `--password-stdin`; otherwise a prompt (twice) on a terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut input = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut input)
            .context("cannot read the password from stdin")?;
        let line = input.lines().next().unwrap_or("").to_owned();
        if line.is_empty() {
            bail!(
                "no password on stdin (pipe one line, e.g. `printf '%s\\n' \"$PASS\" | tether relay user add NAME --password-stdin`)"
            );
        }
        return Ok(line);
    }
    if !std::io::stdin().is_terminal() {
        bail!("stdin is not a terminal: pass --password-stdin and pipe the password");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let db = location(&args.db)?;
    let mut config = RelayConfig::new(db.clone());
    config.public_url = args.public_url.clone();
    config.nodes.redis_url = args.redis_url.clone();
    config.extra_origins = args.allow_origin.clone();
    config.kind = if args.staging {
        RelayKind::Staging
    } else {
        RelayKind::Production
    };
    config.require_trusted_device = !args.no_trusted_devices;
    if let Some(secs) = args.worker_token_ttl {
        config.lifetimes.worker_jwt = std::time::Duration::from_secs(secs);
    }
    config.connections.max_connections = args.max_connections;
    config.connections.header_timeout = std::time::Duration::from_secs(args.header_timeout);
    config.connections.shutdown_grace = std::time::Duration::from_secs(args.shutdown_grace);
    config.trusted_proxies = args.trusted_proxy.clone();
    config.metrics_listen = args.metrics_listen;
    if let Some(path) = &args.metrics_token_file {
        config.metrics_token = Some(metrics_token(path)?);
    }
    if let Some(path) = &args.jwt_key_file {
        config.jwt_key = Some(jwt_key(path)?);
    }
    config.push.services = args.push_service.clone();
    config.push.contact = args.push_contact.clone();
    // clap makes the two flags go together.
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(tether_relay::config::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let relay = Relay::start(config, args.listen).await?;
        let kind = if args.staging { " (staging)" } else { "" };
        println!(
            "tether relay{kind} listening on {scheme}://{} — public URL {} — database {}",
            relay.addr(),
            relay.public_url(),
            db.display()
        );
        if let Some(addr) = relay.metrics_addr() {
            println!("metrics on http://{addr}/metrics");
        }
        std::io::stdout().flush()?;
        relay.run_until_signal().await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The worker-token signing key, from a file an operator made and mounted on every node.
fn jwt_key(path: &std::path::Path) -> anyhow::Result<tether_relay::auth::jwt_key::JwtKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the JWT key from {}", path.display()))?;
    let key = tether_relay::auth::jwt_key::JwtKey::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    warn_if_readable_by_others(path);
    Ok(key)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} can be read by other users (mode {:o}); anyone who reads it can mint worker tokens: chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &std::path::Path) {}

/// The metrics bearer token, from a file (a command line is visible to every user).
fn metrics_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the metrics token from {}", path.display()))?;
    let token = text.trim().to_owned();
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "{}: the metrics token must be at least 16 characters, on one line, without spaces",
            path.display()
        );
    }
    Ok(token)
}
