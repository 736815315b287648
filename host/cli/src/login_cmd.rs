//! `tether login`, `tether logout`, `tether devices`: the terminal's account on a hosted relay.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use tether_bridge::{Api, Credentials, TokenSource};
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
                code.verification_uri, code.user_code
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
    // Revoke this machine's device on the relay if it can be reached; forget it locally anyway.
    let revoked = runtime()?.block_on(async {
        let api = Api::new(&saved.server).ok()?;
        let id = saved.device_id.clone()?;
        let tokens = TokenSource::new(api.clone(), saved.clone());
        let access = tokens.access_token().await.ok()?;
        api.revoke_device(&access, &id).await.ok()
    });
    credentials::remove(&dirs)?;
    match revoked {
        Some(()) => println!(
            "Logged out of {}; this machine's trusted device was revoked.",
            saved.server
        ),
        None => println!(
            "Logged out of {} (the relay could not be reached to revoke this device; `tether devices` can do it later from another login).",
            saved.server
        ),
    }
    Ok(ExitCode::SUCCESS)
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
                            d.device_id,
                            d.display_name,
                            d.last_used_at.as_deref().unwrap_or("never")
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
