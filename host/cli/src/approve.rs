//! Answering the agent's permission requests with single keys, outside remote mode (there, the
//! question is the prompt and a typed line answers it). While a request waits, `y` allows, `n`
//! or Esc denies, Ctrl-C denies and stops the reply. The keys are read only while something
//! waits, and the reader stops as soon as the request is settled elsewhere, so it never takes
//! input meant for the prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tether_engines::PermissionAnswer;
use tether_session::driver::Input;
use tokio::sync::mpsc::UnboundedSender;

enum Key {
    Allow,
    Deny,
    Interrupt,
}

/// A key reader for one request; dropping it does not stop it, [`KeyReader::stop`] does.
pub struct KeyReader {
    stop: Arc<AtomicBool>,
}

impl KeyReader {
    /// Reads keys for `request_id` on a blocking thread and sends the answer to the driver.
    pub fn start(request_id: String, inputs: UnboundedSender<Input>) -> KeyReader {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        tokio::task::spawn_blocking(move || {
            let Some(key) = read_key(&flag) else {
                return;
            };
            let answer = match key {
                Key::Allow => PermissionAnswer::Allow,
                Key::Deny | Key::Interrupt => denied(),
            };
            let _ = inputs.send(Input::Answer { request_id, answer });
            if matches!(key, Key::Interrupt) {
                let _ = inputs.send(Input::Interrupt);
            }
        });
        KeyReader { stop }
    }

    /// Stop reading (the request was settled some other way).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn denied() -> PermissionAnswer {
    PermissionAnswer::Deny {
        message: "The user denied this in the terminal.".into(),
    }
}

/// Reads keys in raw mode until one answers, or `stop` is set. `None` if the terminal cannot be
/// read (the request then waits for another surface, or for the turn to end).
fn read_key(stop: &AtomicBool) -> Option<Key> {
    crossterm::terminal::enable_raw_mode().ok()?;
    let key = loop {
        if stop.load(Ordering::Relaxed) {
            break None;
        }
        match event::poll(Duration::from_millis(50)) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => break None,
        }
        let Ok(Event::Key(k)) = event::read() else {
            continue;
        };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        match (k.code, k.modifiers.contains(KeyModifiers::CONTROL)) {
            (KeyCode::Char('c'), true) => break Some(Key::Interrupt),
            (KeyCode::Char('y' | 'Y'), false) => break Some(Key::Allow),
            (KeyCode::Char('n' | 'N'), false) | (KeyCode::Esc, _) => break Some(Key::Deny),
            _ => {}
        }
    };
    let _ = crossterm::terminal::disable_raw_mode();
    key
}
