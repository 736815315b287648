//! `/mobile`: QR codes for reaching this session from a phone, and the administrator's app links.

use tether_sdk::prelude::*;

struct Mobile;

const NOT_REMOTE: &str = "Not in remote mode. Start with tether --remote to use this command.";

impl Command for Mobile {
    fn manifest() -> Manifest {
        Manifest::local(
            "mobile",
            "Show QR codes for reaching this session from a phone",
        )
        .remote_safe()
        .capability(Capability::Session)
        .capability(Capability::Settings)
    }

    fn run(_call: Invocation) -> Result<Vec<Effect>, String> {
        let session = host::session()?;
        let settings = host::settings()?;
        let background = qr::background_for_theme(&settings.theme);
        let links = &settings.app_links;
        if !session.remote_mode && links.is_empty() {
            return Ok(vec![Effect::print(NOT_REMOTE)]);
        }

        let mut effects = Vec::new();
        if session.remote_mode {
            match &session.url {
                Some(url) => effects.push(with_qr(
                    url,
                    background,
                    &format!(
                        "Open on your phone: {url}\n\
                         To keep it one tap away, install the web client with your browser's \
                         \"Add to Home Screen\"."
                    ),
                )),
                None if links.is_empty() => {
                    return Err(
                        "The session URL is not known yet; try /mobile again in a moment.".into(),
                    );
                }
                None => effects.push(Effect::print(
                    "The session URL is not known yet; try /mobile again in a moment.",
                )),
            }
        }
        for link in links {
            effects.push(with_qr(
                &link.url,
                background,
                &format!("{}: {}", link.label, link.url),
            ));
        }
        if !session.remote_mode {
            effects.push(Effect::print(
                "The QR code for this session needs tether --remote.",
            ));
        }
        Ok(effects)
    }
}

/// The QR code for `url` above `caption`. A URL too long for a QR code (an administrator's
/// mistake) still shows as text rather than hiding every other code.
fn with_qr(url: &str, background: qr::Background, caption: &str) -> Effect {
    match qr::render(url, background) {
        Ok(art) => Effect::print(format!("{}\n{caption}", art.trim_end_matches('\n'))),
        Err(_) => Effect::print(caption),
    }
}

tether_sdk::export!(Mobile);
