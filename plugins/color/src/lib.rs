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
        match args::pick("color", "color", &call.args, &settings.colors)? {
            None => Ok(vec![
                Effect::markdown(args::options(
                    "Response colors",
                    &settings.colors,
                    &settings.color,
                )),
                Effect::print("Type /color <name> to switch."),
            ]),
            Some(chosen) => Ok(vec![
                Effect::set_color(chosen),
                Effect::print(format!("Response color set to {chosen}.")),
            ]),
        }
    }
}

tether_sdk::export!(Color);
