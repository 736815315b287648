//! `/plugin`: list the loaded commands, install a plugin from a `.wasm` file, or remove one.

use tether_sdk::host::CommandInfo;
use tether_sdk::prelude::*;

struct Plugin;

const USAGE: &str = "Usage: /plugin [list], /plugin install <file.wasm> or /plugin remove <name>.";

impl Command for Plugin {
    fn manifest() -> Manifest {
        // Local only: in remote mode the loaded plugins are the ones the administrator reviewed.
        Manifest::local("plugin", "List, install or remove plugins")
            .argument_hint("[list|install <file.wasm>|remove <name>]")
            .capability(Capability::Commands)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let (verb, rest) = call.args.split_once(' ').unwrap_or((&call.args, ""));
        let rest = rest.trim();
        match (verb, rest.is_empty()) {
            ("" | "list", true) => list(),
            ("install", false) => Ok(vec![Effect::InstallPlugin(rest.to_string())]),
            ("remove", false) => Ok(vec![Effect::RemovePlugin(
                rest.trim_start_matches('/').to_string(),
            )]),
            _ => Err(USAGE.into()),
        }
    }
}

fn list() -> Result<Vec<Effect>, String> {
    let mut commands = host::commands()?;
    // What the user added is what they came to check, so it comes first.
    commands.sort_by(|a, b| (a.source != "user", &a.name).cmp(&(b.source != "user", &b.name)));
    let rows: Vec<[String; 4]> = commands.iter().map(row).collect();
    let mut effects = vec![Effect::markdown(markdown::table(
        &["Command", "Source", "Description", "SHA-256"],
        &rows,
    ))];
    if !commands.iter().any(|c| c.source == "user") {
        effects.push(Effect::print(
            "No plugins installed yet. Add one with /plugin install <file.wasm>.",
        ));
    }
    Ok(effects)
}

fn row(c: &CommandInfo) -> [String; 4] {
    [
        format!("/{}", c.name),
        c.source.clone(),
        c.description.clone(),
        c.sha256.get(..12).unwrap_or(&c.sha256).to_string(),
    ]
}

tether_sdk::export!(Plugin);
