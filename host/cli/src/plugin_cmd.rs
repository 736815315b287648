//! `tether plugin install | list | remove`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use tether_protocol::CommandSource;
use tether_session::registry;
use tether_session::user_plugins::UserPlugins;

use crate::args::{InstallArgs, ListArgs, RemoveArgs};
use crate::startup;

pub fn install(args: &InstallArgs) -> Result<ExitCode> {
    let loaded = startup::load()?;
    let user = UserPlugins::new(loaded.dirs.user_plugins());
    let installed = user
        .install(&loaded.runtime, &loaded.registry, &args.file)
        .map_err(anyhow::Error::msg)?;
    let m = &installed.plugin.manifest;
    let verb = if installed.replaced.is_some() {
        "Updated"
    } else {
        "Installed"
    };
    println!(
        "{verb} /{} ({}): {}",
        m.name,
        &installed.plugin.sha256[..12],
        // The plugin's author wrote it, not the local user.
        tether_protocol::untrusted::neutralise_line(&m.description)
    );
    let tags = match (m.safety.remote_safe, m.safety.bridge_safe) {
        (true, true) => "available in remote mode and over the bridge",
        (true, false) => "available in remote mode",
        (false, true) => "runs over the bridge",
        (false, false) => "local sessions only",
    };
    println!(
        "  {} command, {tags}; try: tether -p \"/{}\"",
        m.kind, m.name
    );
    Ok(ExitCode::SUCCESS)
}

pub fn list(args: &ListArgs) -> Result<ExitCode> {
    let loaded = startup::load()?;
    for w in &loaded.warnings {
        eprintln!("tether: warning: {w}");
    }
    let mut all: Vec<_> = loaded
        .registry
        .plugins()
        .iter()
        .map(registry::info)
        .collect();
    // Yours first: that is what people come to this list for.
    all.sort_by_key(|c| (c.source == CommandSource::Stock, c.name.clone()));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    for c in &all {
        println!(
            "/{:<16} {:<5}  {}  {}",
            c.name,
            c.source.as_str(),
            &c.sha256[..12],
            // A user plugin's words (bidi overrides pass the manifest's checks).
            tether_protocol::untrusted::neutralise_line(&c.description)
        );
    }
    if !all.iter().any(|c| c.source == CommandSource::User) {
        println!(
            "\nNo plugins of your own yet: `tether plugin install path/to/plugin.wasm` adds one."
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(args: &RemoveArgs) -> Result<ExitCode> {
    let loaded = startup::load()?;
    let user = UserPlugins::new(loaded.dirs.user_plugins());
    match user.remove(&loaded.registry, &args.name) {
        Ok(name) => {
            println!("Removed /{name}.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => bail!(e),
    }
}
