//! `/session`: the QR code and URL that open this remote session in a browser or on a phone,
//! and `/session revoke`, which replaces the session key so that devices that scanned before
//! can no longer read or send.

use tether_sdk::prelude::*;

struct Session;

const USAGE: &str = "Usage: /session shows the code; /session revoke cuts off every device that scanned it (a new code follows).";

impl Command for Session {
    fn manifest() -> Manifest {
        Manifest::local(
            "session",
            "Show the QR code and URL for this remote session",
        )
        .argument_hint("[revoke]")
        .remote_safe()
        .capability(Capability::Session)
        .capability(Capability::Settings)
    }

    fn run(call: Invocation) -> Result<Vec<Effect>, String> {
        let session = host::session()?;
        if !session.remote_mode {
            return Ok(vec![Effect::print(
                "Not in remote mode. Start with tether --remote to use this command.",
            )]);
        }
        match call.args.trim() {
            "" => {}
            "revoke" => {
                // The host makes the new key and shows its code itself: the URL is not known here.
                return Ok(vec![
                    Effect::print(
                        "Replacing the session key: devices that scanned the current code are cut off.",
                    ),
                    Effect::NewSessionKey,
                ]);
            }
            _ => return Err(USAGE.into()),
        }
        let url = session
            .url
            .ok_or("The session URL is not known yet; try /session again in a moment.")?;
        let theme = host::settings()?.theme;
        let art = qr::render(&url, qr::background_for_theme(&theme))?;
        // Only newlines are trimmed: on a light background the quiet zone is drawn with spaces.
        Ok(vec![Effect::print(format!(
            "{}\nOpen in browser: {url}",
            art.trim_end_matches('\n')
        ))])
    }
}

tether_sdk::export!(Session);
