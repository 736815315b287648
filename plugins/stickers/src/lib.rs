//! `/stickers`: tether stickers in ASCII art, to print and stick on a laptop.

use tether_sdk::prelude::*;

struct Stickers;

const WORDMARK: &str = r"+-------------------------------+
|  _       _   _                |
| | |_ ___| |_| |__   ___ _ __  |
| | __/ _ \ __| '_ \ / _ \ '__| |
| | ||  __/ |_| | | |  __/ |    |
|  \__\___|\__|_| |_|\___|_|    |
|                               |
|   one session, every screen   |
+-------------------------------+";

const LEASH: &str = r" .------------.          .----.
 | $ tether   |          |    |
 | > hi_      |~~~~~~~~~~| >_ |
 '------------'          |    |
    [______]             '----'";

const PROMPT: &str = r"   .---------------------.
  (  >_ tether --remote   )
   '---------------------'";

impl Command for Stickers {
    fn manifest() -> Manifest {
        Manifest::local("stickers", "Show tether stickers to print").remote_safe()
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let art = [WORDMARK, LEASH, PROMPT].join("\n\n");
        Ok(vec![Effect::markdown(format!(
            "{}\n\nPrint one and stick it on your laptop.",
            markdown::code_block("text", &art)
        ))])
    }
}

tether_sdk::export!(Stickers);
