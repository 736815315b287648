//! `/clear`: forget the conversation and start over.

use tether_sdk::prelude::*;

struct Clear;

impl Command for Clear {
    fn manifest() -> Manifest {
        Manifest::local("clear", "Clear the conversation and start over")
            .alias("reset")
            .alias("new")
            .remote_safe()
            .bridge_safe()
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        // The host confirms, so that every surface sees the same wording.
        Ok(vec![Effect::Clear])
    }
}

tether_sdk::export!(Clear);
