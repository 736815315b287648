//! `/statusline`: show or hide the status line (model, tokens, cost) beside the prompt.

use tether_sdk::prelude::*;

struct Statusline;

impl Command for Statusline {
    fn manifest() -> Manifest {
        Manifest::local("statusline", "Toggle the status line")
            .argument_hint("[on|off]")
            .remote_safe()
            .capability(Capability::Settings)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let on = args::switch(
            "statusline",
            &call.args,
            || Ok(host::settings()?.statusline),
        )?;
        let message = if on {
            "Status line on: model, tokens and cost are shown beside the prompt."
        } else {
            "Status line off."
        };
        Ok(vec![Effect::SetStatusline(on), Effect::print(message)])
    }
}

tether_sdk::export!(Statusline);
