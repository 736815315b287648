//! `/help [command]`: the commands available here, or the details of one.

use tether_sdk::host::CommandInfo;
use tether_sdk::prelude::*;

struct Help;

impl Command for Help {
    fn manifest() -> Manifest {
        Manifest::local("help", "Show the available commands")
            .argument_hint("[command]")
            .remote_safe()
            .capability(Capability::Commands)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        // The host lists only what may run where /help was typed, so this never advertises a
        // command that would then be refused.
        let mut commands = host::commands()?;
        if call.args.is_empty() {
            commands.sort_by(|a, b| a.name.cmp(&b.name));
            let rows: Vec<[String; 2]> = commands
                .iter()
                .map(|c| {
                    let mut cell = usage(c);
                    if !c.aliases.is_empty() {
                        cell += &format!(" (also {})", aliases(c));
                    }
                    [cell, c.description.clone()]
                })
                .collect();
            return Ok(vec![
                Effect::markdown(markdown::table(&["Command", "Description"], &rows)),
                Effect::print("Type /help <command> for details."),
            ]);
        }
        let wanted = call.args.trim_start_matches('/').to_ascii_lowercase();
        let command = commands
            .iter()
            .find(|c| c.name == wanted || c.aliases.contains(&wanted))
            .ok_or_else(|| {
                format!("No command /{wanted} here. Type /help to list the commands.")
            })?;
        Ok(vec![Effect::markdown(details(command))])
    }
}

/// `/name <hint>`, as it is typed.
fn usage(c: &CommandInfo) -> String {
    match &c.argument_hint {
        Some(hint) => format!("/{} {hint}", c.name),
        None => format!("/{}", c.name),
    }
}

/// `/a, /b`
fn aliases(c: &CommandInfo) -> String {
    let names: Vec<String> = c.aliases.iter().map(|a| format!("/{a}")).collect();
    names.join(", ")
}

fn details(c: &CommandInfo) -> String {
    let kind = match c.kind {
        Kind::Local => "local: runs here and shows its result",
        Kind::Interactive => "interactive: needs the terminal's screen and keyboard",
        Kind::Prompt => "prompt: sends a message to the model",
    };
    // The host has already applied the gate: `remote_safe` and `bridge_safe` say where the
    // command may run, so only the wording of why is chosen here.
    let mut places = vec!["local sessions"];
    if c.remote_safe {
        places.push("--remote sessions (remote-safe)");
    }
    if c.bridge_safe {
        places.push(match c.kind {
            Kind::Prompt => "Remote Control (every prompt command may)",
            Kind::Local | Kind::Interactive => "Remote Control (bridge-safe)",
        });
    }
    let sha = c.sha256.get(..12).unwrap_or(&c.sha256);
    let mut lines = vec![
        format!("**/{}**: {}", c.name, markdown::escape(&c.description)),
        String::new(),
        format!("- Usage: {}", markdown::escape(&usage(c))),
    ];
    if !c.aliases.is_empty() {
        lines.push(format!("- Also: {}", aliases(c)));
    }
    lines.extend([
        format!("- Kind: {kind}"),
        format!("- Runs in: {}", places.join(", ")),
        format!("- Source: {}", c.source),
        format!("- SHA-256: {sha}"),
    ]);
    lines.join("\n")
}

tether_sdk::export!(Help);
