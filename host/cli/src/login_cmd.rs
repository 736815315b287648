//! `tether login`, `tether logout`, `tether devices`: the terminal's account on a hosted relay.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tether_bridge::{Api, Credentials, TokenSource};
use tether_protocol::untrusted::neutralise_line;
use tether_session::Dirs;

use crate::args::{DevicesCmd, LoginArgs};
use crate::credentials;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn dirs() -> Result<Dirs> {
    Dirs::from_env().map_err(anyhow::Error::msg)
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".into())
}

pub fn login(args: &LoginArgs) -> Result<ExitCode> {
    let dirs = dirs()?;
    let server = args.server.trim_end_matches('/').to_owned();
    let name = args.device_name.clone().unwrap_or_else(host_name);
    let credentials = runtime()?.block_on(async {
        tether_bridge::login(&server, &name, |code| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "To log in, open {} and enter the code\n\n    {}\n",
                // The relay wrote these: a hostile one must not steer the terminal.
                neutralise_line(&code.verification_uri),
                neutralise_line(&code.user_code)
            );
            let _ = writeln!(
                out,
                "{}",
                tether_sdk::qr::render(
                    &code.verification_uri_complete,
                    tether_sdk::qr::Background::Dark
                )
                .unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "Waiting for approval (the code expires in {} min)…",
                code.expires_in / 60
            );
            let _ = out.flush();
        })
        .await
        .map_err(|e| anyhow::anyhow!("login to {server} failed: {e}"))
    })?;
    credentials::save(&dirs, &credentials)?;
    println!(
        "Logged in to {server}; this machine is trusted as \"{name}\". `tether --remote` now publishes there."
    );
    Ok(ExitCode::SUCCESS)
}

pub fn logout() -> Result<ExitCode> {
    let dirs = dirs()?;
    let Some(saved) = credentials::load(&dirs)? else {
        println!("Not logged in.");
        return Ok(ExitCode::SUCCESS);
    };
    // Revoke this machine's device and the whole login on the relay if it can be reached;
    // forget them locally anyway.
    let revoked = runtime()?.block_on(revoke(&saved));
    credentials::remove(&dirs)?;
    let server = &saved.server;
    match revoked {
        Revoked::All => println!(
            "Logged out of {server}; the login and this machine's trusted device were revoked."
        ),
        Revoked::LoginOnly => println!(
            "Logged out of {server}; the login was revoked, but not this machine's trusted device (`tether devices` can do it from another login)."
        ),
        Revoked::Nothing(why) => println!(
            "Logged out of {server} here, but the relay could not be told ({}): the login and this machine's device stay valid there until they expire or `tether devices revoke` removes the device from another login.",
            neutralise_line(&why)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// What the relay was able to revoke at logout.
enum Revoked {
    All,
    LoginOnly,
    Nothing(String),
}

/// Revoke the trusted device (which ends the login that enrolled it), then the login itself
/// (RFC 7009), which also covers a login that enrolled no device or was refreshed since.
async fn revoke(saved: &Credentials) -> Revoked {
    let api = match Api::new(&saved.server) {
        Ok(api) => api,
        Err(e) => return Revoked::Nothing(e.to_string()),
    };
    let tokens = TokenSource::new(api.clone(), saved.clone());
    let device = match &saved.device_id {
        None => true,
        Some(id) => match tokens.access_token().await {
            Ok(access) => api.revoke_device(&access, id).await.is_ok(),
            Err(_) => false,
        },
    };
    // The device's revocation may have ended the login already; a token the relay no longer
    // knows is still a `200`. A refresh on the way rotated the token: revoke the newest.
    match api.revoke_login(&tokens.credentials().refresh_token).await {
        Ok(()) if device => Revoked::All,
        Ok(()) => Revoked::LoginOnly,
        Err(e) => Revoked::Nothing(e.to_string()),
    }
}

pub fn devices(command: &DevicesCmd) -> Result<ExitCode> {
    let dirs = dirs()?;
    let Some(saved) = credentials::load(&dirs)? else {
        bail!("not logged in: run `tether login --server URL` first");
    };
    let api = Api::new(&saved.server).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokens = TokenSource::new(api.clone(), saved.clone());
    let rt = runtime()?;
    let result = rt.block_on(async {
        let access = tokens
            .access_token()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match command {
            DevicesCmd::List { json } => {
                let list = api
                    .list_devices(&access)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else if list.is_empty() {
                    println!("No trusted devices.");
                } else {
                    for d in list {
                        let this = if Some(&d.device_id) == saved.device_id.as_ref() {
                            " (this machine)"
                        } else {
                            ""
                        };
                        println!(
                            "{:<38} {:<24} last used {}{this}",
                            neutralise_line(&d.device_id),
                            neutralise_line(&d.display_name),
                            neutralise_line(d.last_used_at.as_deref().unwrap_or("never"))
                        );
                    }
                }
            }
            DevicesCmd::Revoke { id } => {
                api.revoke_device(&access, id)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("Revoked {id}.");
            }
        }
        anyhow::Ok(())
    });
    // Tokens may have been refreshed on the way: keep the new ones.
    let latest: Credentials = tokens.credentials();
    if latest.refresh_token != saved.refresh_token {
        credentials::save(&dirs, &latest)?;
    }
    result?;
    Ok(ExitCode::SUCCESS)
}
