//! `/exit`: end the session.

use tether_sdk::prelude::*;

struct Exit;

impl Command for Exit {
    fn manifest() -> Manifest {
        Manifest::local("exit", "Exit tether")
            .alias("quit")
            .remote_safe()
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        Ok(vec![Effect::Exit])
    }
}

tether_sdk::export!(Exit);
