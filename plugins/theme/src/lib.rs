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
        if call.args.is_empty() {
            let items: Vec<String> = settings
                .themes
                .iter()
                .map(|t| {
                    if *t == settings.theme {
                        format!("**{}** (current)", markdown::escape(t))
                    } else {
                        markdown::escape(t)
                    }
                })
                .collect();
            return Ok(vec![
                Effect::markdown(format!("Themes:\n\n{}", markdown::bullets(&items))),
                Effect::print("Type /theme <name> to switch."),
            ]);
        }
        // Typed on a phone keyboard, the name may come capitalised; switch to its real spelling.
        match settings
            .themes
            .iter()
            .find(|t| t.eq_ignore_ascii_case(&call.args))
        {
            Some(name) => Ok(vec![
                Effect::set_theme(name.as_str()),
                Effect::print(format!("Theme set to {name}.")),
            ]),
            None => Err(format!(
                "There is no theme {:?}. Type /theme <name> with one of: {}.",
                call.args,
                settings.themes.join(", ")
            )),
        }
    }
}

tether_sdk::export!(Theme);
