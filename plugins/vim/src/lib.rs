//! `/vim`: switch between vi and emacs key bindings in the terminal's line editor.

use tether_sdk::prelude::*;

struct Vim;

impl Command for Vim {
    fn manifest() -> Manifest {
        Manifest::local("vim", "Toggle vi key bindings")
            .argument_hint("[on|off]")
            .remote_safe()
            .capability(Capability::Settings)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let on = args::switch("vim", &call.args, || Ok(host::settings()?.vim))?;
        let message = if on {
            "Vim mode on: Esc for normal mode, i to insert."
        } else {
            "Vim mode off: emacs key bindings."
        };
        Ok(vec![Effect::SetVim(on), Effect::print(message)])
    }
}

tether_sdk::export!(Vim);
