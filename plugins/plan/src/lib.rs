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
        let on = args::switch("plan", &call.args, || Ok(host::settings()?.plan_mode))?;
        let message = if on {
            "Plan mode on: the agent will propose a plan and make no changes."
        } else {
            "Plan mode off."
        };
        Ok(vec![Effect::SetPlanMode(on), Effect::print(message)])
    }
}

tether_sdk::export!(Plan);
