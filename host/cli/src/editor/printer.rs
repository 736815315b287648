//! Printing while the line editor owns the terminal. In remote mode a reply can arrive (typed on a
//! phone) while the user sits at the prompt; writing straight to the terminal would tear the
//! prompt apart, so whole lines go through reedline's external printer, which prints them above
//! the prompt and redraws it. When no prompt is showing, output goes straight to the terminal
//! and streams word by word as usual.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::sync::mpsc::SyncSender;

#[derive(Clone)]
pub struct PromptPrinter {
    active: Arc<AtomicBool>,
    /// Reedline's external printer, which prints these above the prompt.
    printer: SyncSender<String>,
    /// Text of the current line not yet printed (a reply streams in pieces).
    partial: Arc<Mutex<String>>,
}

impl PromptPrinter {
    pub fn new(printer: SyncSender<String>) -> Self {
        PromptPrinter {
            active: Arc::new(AtomicBool::new(false)),
            printer,
            partial: Arc::default(),
        }
    }

    /// The editor thread calls this around `read_line`.
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::SeqCst);
    }

    /// Whether the editor is reading a line now.
    pub fn reading(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Write `text` to the terminal one way or the other.
    pub fn write(&self, text: &str) {
        let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        if !self.active.load(Ordering::SeqCst) {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(partial.as_bytes());
            partial.clear();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            return;
        }
        partial.push_str(text);
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let _ = self.printer.send(line.trim_end_matches('\n').to_owned());
        }
    }
}
