//! `/compact`: replace the older conversation with a summary, to free context.

use tether_sdk::prelude::*;

struct Compact;

impl Command for Compact {
    fn manifest() -> Manifest {
        // Bridge-safe but not remote-safe, as the Remote Control command lists have it: the two
        // tags are independent.
        Manifest::local(
            "compact",
            "Shrink the context by summarizing the older conversation",
        )
        .argument_hint("[instructions]")
        .bridge_safe()
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        Ok(vec![Effect::Compact(call.args)])
    }
}

tether_sdk::export!(Compact);
