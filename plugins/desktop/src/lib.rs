//! `/desktop`: hand the session over to the desktop browser.

use tether_sdk::prelude::*;

struct Desktop;

impl Command for Desktop {
    fn manifest() -> Manifest {
        // Local only: it opens a browser on the terminal's machine, which a remote client
        // must not trigger.
        Manifest::local("desktop", "Continue this session in the desktop browser")
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        // The host publishes the session if needed and flushes pending events before opening it.
        Ok(vec![Effect::HandOff])
    }
}

tether_sdk::export!(Desktop);
