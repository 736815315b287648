//! `/explain <topic>`: ask the model for a clear, structured explanation of a topic.
//!
//! An example of a `prompt` command: it only writes a message, which tether sends to the model
//! as if the user had typed it. Prompt commands always run over Remote Control.

use tether_sdk::prelude::*;

struct Explain;

impl Command for Explain {
    fn manifest() -> Manifest {
        Manifest::prompt("explain", "Ask the model to explain a topic clearly")
            .argument_hint("<topic>")
            .remote_safe()
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        if call.args.is_empty() {
            return Err(
                "Usage: /explain <topic>, for example /explain how TLS certificates are checked."
                    .into(),
            );
        }
        Ok(vec![Effect::prompt(prompt(&call.args))])
    }
}

fn prompt(topic: &str) -> String {
    format!(
        "Explain the following topic to me: {topic}\n\
         \n\
         - Start with a two-sentence summary a newcomer can follow.\n\
         - Then explain how it works, step by step, defining each term the first time you use it.\n\
         - Give one small, concrete example (code if the topic is about programming).\n\
         - End with the most common misconception or pitfall, and how to avoid it.\n\
         \n\
         If the topic is about this project or its files, ground the explanation in them. \
         If it is ambiguous, say which meaning you chose. Keep it under 400 words."
    )
}

tether_sdk::export!(Explain);
