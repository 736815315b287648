//! `/theme`: list the terminal colour themes, or switch to one.

use tether_sdk::prelude::*;

struct Theme;

impl Command for Theme {
    fn manifest() -> Manifest {
        Manifest::local("theme", "Change the terminal color theme")
            .argument_hint("[name]")
            .remote_safe()
            .capability(Capability::Settings)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let settings = host::settings()?;
        match args::pick("theme", "theme", &call.args, &settings.themes)? {
            None => Ok(vec![
                Effect::markdown(args::options("Themes", &settings.themes, &settings.theme)),
                Effect::print("Type /theme <name> to switch."),
            ]),
            Some(chosen) => Ok(vec![
                Effect::set_theme(chosen),
                Effect::print(format!("Theme set to {chosen}.")),
            ]),
        }
    }
}

tether_sdk::export!(Theme);
