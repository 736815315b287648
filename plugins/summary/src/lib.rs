//! `/summary`: ask the engine for a summary of the conversation so far.

use tether_sdk::prelude::*;

struct Summary;

impl Command for Summary {
    fn manifest() -> Manifest {
        Manifest::local("summary", "Summarize the conversation so far")
            .argument_hint("[focus]")
            .bridge_safe()
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        Ok(vec![Effect::Summarize(call.args)])
    }
}

tether_sdk::export!(Summary);
