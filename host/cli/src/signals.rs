//! Signals as driver inputs: SIGINT stops the running reply (or ends an idle session), SIGTERM
//! ends the session once the running reply has stopped.

use tether_session::driver::Input;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::UnboundedSender;

/// Forwards SIGINT (and SIGTERM, if `terminate`) to `inputs` until the driver goes away.
/// Installed before the conversation starts: a signal that arrives between two polls must still
/// find a handler rather than the default action, which would kill the process mid-event.
pub fn forward(inputs: UnboundedSender<Input>, terminate: bool) -> std::io::Result<()> {
    let mut interrupts = signal(SignalKind::interrupt())?;
    let mut terminates = if terminate {
        Some(signal(SignalKind::terminate())?)
    } else {
        None
    };
    tokio::spawn(async move {
        loop {
            let input = tokio::select! {
                _ = interrupts.recv() => Input::Signal,
                Some(_) = async {
                    match terminates.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                } => Input::Shutdown,
            };
            if inputs.send(input).is_err() {
                return;
            }
        }
    });
    Ok(())
}
