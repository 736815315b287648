//! `/memory`: open the memory file, loaded into every conversation, in the user's editor.

use tether_sdk::prelude::*;

struct Memory;

impl Command for Memory {
    fn manifest() -> Manifest {
        // Interactive: it takes over the terminal with an editor, so it can never run remotely.
        Manifest::interactive(
            "memory",
            "Edit the memory file loaded into every conversation",
        )
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        Ok(vec![Effect::open_editor(Editable::Memory)])
    }
}

tether_sdk::export!(Memory);
