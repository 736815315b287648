//! `/hello [name]`: a greeting that says which engine answers this session.
//!
//! An example of a `local` command: it runs inside tether, reads one host query and returns text.
//! It needs no local files or shell, so it is tagged remote-safe (it runs in `tether --remote`
//! sessions) and bridge-safe (a phone connected over Remote Control may run it too).

use tether_sdk::prelude::*;

struct Hello;

impl Command for Hello {
    fn manifest() -> Manifest {
        Manifest::local("hello", "Say hello and name the engine of this session")
            .argument_hint("[name]")
            .remote_safe()
            .bridge_safe()
            // Without this line, calling host::session() below would trap.
            .capability(Capability::Session)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let name = if call.args.is_empty() {
            "there"
        } else {
            call.args.as_str()
        };
        // An administrator may deny the capability; `?` shows their message as the error.
        let session = host::session()?;
        let from = match call.origin {
            Origin::Terminal => "the terminal",
            Origin::Bridge => "Remote Control",
        };
        Ok(vec![Effect::print(format!(
            "Hello, {name}! You typed this in {from}; replies here come from the {} engine ({}).",
            session.engine, session.model
        ))])
    }
}

tether_sdk::export!(Hello);
