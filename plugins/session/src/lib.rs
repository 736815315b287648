//! `/session`: the QR code and URL that open this remote session in a browser or on a phone.

use tether_sdk::prelude::*;

struct Session;

impl Command for Session {
    fn manifest() -> Manifest {
        Manifest::local(
            "session",
            "Show the QR code and URL for this remote session",
        )
        .remote_safe()
        .capability(Capability::Session)
        .capability(Capability::Settings)
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let session = host::session()?;
        if !session.remote_mode {
            return Ok(vec![Effect::print(
                "Not in remote mode. Start with tether --remote to use this command.",
            )]);
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
