//! `/color`: list the colours for the agent's replies, or switch to one.

use tether_sdk::prelude::*;

struct Color;

impl Command for Color {
    fn manifest() -> Manifest {
        Manifest::local("color", "Change the agent response color")
            .argument_hint("[name]")
            .remote_safe()
            .capability(Capability::Settings)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let settings = host::settings()?;
        if call.args.is_empty() {
            let items: Vec<String> = settings
                .colors
                .iter()
                .map(|t| {
                    if *t == settings.color {
                        format!("**{}** (current)", markdown::escape(t))
                    } else {
                        markdown::escape(t)
                    }
                })
                .collect();
            return Ok(vec![
                Effect::markdown(format!("Response colors:\n\n{}", markdown::bullets(&items))),
                Effect::print("Type /color <name> to switch."),
            ]);
        }
        // Typed on a phone keyboard, the name may come capitalised; switch to its real spelling.
        match settings
            .colors
            .iter()
            .find(|t| t.eq_ignore_ascii_case(&call.args))
        {
            Some(name) => Ok(vec![
                Effect::set_color(name.as_str()),
                Effect::print(format!("Response color set to {name}.")),
            ]),
            None => Err(format!(
                "There is no color {:?}. Type /color <name> with one of: {}.",
                call.args,
                settings.colors.join(", ")
            )),
        }
    }
}

tether_sdk::export!(Color);
