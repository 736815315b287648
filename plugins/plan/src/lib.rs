//! `/plan`: toggle plan mode, in which the agent proposes a plan instead of making changes.

use tether_sdk::prelude::*;

struct Plan;

impl Command for Plan {
    fn manifest() -> Manifest {
        Manifest::local("plan", "Toggle plan mode: propose a plan, make no changes")
            .argument_hint("[on|off]")
            .remote_safe()
            .capability(Capability::Settings)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let on = match call.args.to_ascii_lowercase().as_str() {
            "" => !host::settings()?.plan_mode,
            "on" => true,
            "off" => false,
            _ => {
                return Err(
                    "Usage: /plan [on|off]: without an argument, toggles plan mode.".into(),
                );
            }
        };
        let message = if on {
            "Plan mode on: the agent will propose a plan and make no changes."
        } else {
            "Plan mode off."
        };
        Ok(vec![Effect::SetPlanMode(on), Effect::print(message)])
    }
}

tether_sdk::export!(Plan);
