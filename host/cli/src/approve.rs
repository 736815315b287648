//! Answering the agent's permission requests from the terminal, outside remote mode (there, the
//! line editor's thread reads the answer as a typed line). While a request waits, single keys
//! answer it: `y` allows, `n` or Esc denies, Ctrl-C denies and stops the reply. The keys are read
//! only while something waits, and the reader stops as soon as the request is answered elsewhere,
//! so it never takes input meant for the prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tether_protocol::Origin;
use tether_session::approvals::Approvals;
use tether_session::engine::PermissionAnswer;

/// How this terminal answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer {
    /// An interactive terminal: one key answers.
    Keys,
    /// No one to ask (`tether -p`, a pipe): every request is denied at once, saying why.
    Refuse,
}

enum Key {
    Allow,
    Deny,
    Interrupt,
}

/// Answers requests as they come, for as long as the turn runs. Completes only when the user
/// asks to stop the reply (Ctrl-C while a request waits).
pub async fn answer(approvals: Arc<Approvals>, how: Answerer) {
    let mut watch = approvals.watch();
    loop {
        let waiting = watch.borrow_and_update().first().cloned();
        let Some(question) = waiting else {
            if watch.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        };
        let id = question.request_id.clone();
        if how == Answerer::Refuse {
            let _ = approvals.answer(
                &id,
                PermissionAnswer::Deny {
                    message: "tether is not running interactively, so no one can approve this; \
                              allow the tool in the agent's own settings instead"
                        .into(),
                },
                Origin::Terminal,
            );
            continue;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let reader = tokio::task::spawn_blocking({
            let stop = Arc::clone(&stop);
            move || read_key(&stop)
        });
        tokio::pin!(reader);
        let key = tokio::select! {
            key = &mut reader => key.ok().flatten(),
            _ = answered_elsewhere(&mut watch, &id) => {
                stop.store(true, Ordering::Relaxed);
                let _ = reader.await;
                None
            }
        };
        match key {
            Some(Key::Allow) => {
                let _ = approvals.answer(&id, PermissionAnswer::Allow, Origin::Terminal);
            }
            Some(Key::Deny) => {
                let _ = approvals.answer(&id, denied(), Origin::Terminal);
            }
            Some(Key::Interrupt) => {
                let _ = approvals.answer(&id, denied(), Origin::Terminal);
                return;
            }
            None => {}
        }
    }
}

fn denied() -> PermissionAnswer {
    PermissionAnswer::Deny {
        message: "The user denied this in the terminal.".into(),
    }
}

/// Resolves once `id` no longer waits.
async fn answered_elsewhere(
    watch: &mut tokio::sync::watch::Receiver<tether_session::approvals::Pending>,
    id: &str,
) {
    loop {
        if !watch.borrow_and_update().iter().any(|q| q.request_id == id) {
            return;
        }
        if watch.changed().await.is_err() {
            return std::future::pending().await;
        }
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
