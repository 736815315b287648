//! `/cost`: the session's cost, tokens and turns so far.

use tether_sdk::prelude::*;

struct Cost;

impl Command for Cost {
    fn manifest() -> Manifest {
        Manifest::local("cost", "Show the session cost so far")
            .remote_safe()
            .bridge_safe()
            .capability(Capability::Usage)
            .capability(Capability::Session)
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let usage = host::usage()?;
        let session = host::session()?;
        let mut model = format!("Model: {}/{}", session.engine, session.model);
        if session.engine == "echo" {
            model.push_str(" (the offline echo engine costs nothing)");
        }
        Ok(vec![Effect::print(format!(
            "Total cost: {}\nTokens: {} in, {} out\nTurns: {}\n{model}",
            host::format_cost(usage.cost_micros),
            host::format_tokens(usage.input_tokens),
            host::format_tokens(usage.output_tokens),
            usage.turns,
        ))])
    }
}

tether_sdk::export!(Cost);
