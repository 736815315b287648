//! `/btw`: add a note to the conversation without asking the model.

use tether_sdk::prelude::*;

struct Btw;

impl Command for Btw {
    fn manifest() -> Manifest {
        Manifest::local(
            "btw",
            "Add a note to the conversation without asking the model",
        )
        .argument_hint("<note>")
        .remote_safe()
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        if call.args.is_empty() {
            return Err(
                "Usage: /btw <note>: adds a note to the conversation without asking the model."
                    .into(),
            );
        }
        // The host shows the note in the transcript; echoing it here would show it twice.
        Ok(vec![Effect::add_note(call.args)])
    }
}

tether_sdk::export!(Btw);
