//! Driving `tether` on a pseudo-terminal the way a person at a terminal would: a terminal
//! emulator in front of it that answers its cursor queries, and waits for what should appear.

use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::ansi::Stripper;
use crate::bytes::{escaped, find};

/// How long a terminal test waits for each thing it expects to see.
pub const PTY_TIMEOUT: Duration = Duration::from_secs(20);

/// The height of the pseudo-terminal.
pub const PTY_ROWS: u16 = 40;
/// The width of the pseudo-terminal.
pub const PTY_COLS: u16 = 120;

/// Everything a pseudo-terminal session printed, as bytes, as text and as a screen.
struct Shared {
    /// Every byte tether wrote.
    raw: Vec<u8>,
    /// The same without escape sequences and control characters (but with newlines).
    text: Vec<u8>,
    stripper: Stripper,
    /// The screen a terminal emulator would show.
    parser: vt100::Parser<Requests>,
    /// How much of a cursor-position query has been seen at the end of `raw`.
    query: usize,
    /// The terminal closed: tether exited.
    eof: bool,
}

/// What the terminal emulator was asked to do besides drawing: set the window's title (or icon
/// name), or write the clipboard (OSC 52, base64 as sent).
#[derive(Debug, Default, Clone)]
pub struct Requests {
    /// Window titles and icon names, in order.
    pub titles: Vec<String>,
    /// Clipboard writes, base64 as sent.
    pub clipboard: Vec<String>,
}

impl vt100::Callbacks for Requests {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles
            .push(String::from_utf8_lossy(title).into_owned());
    }
    fn set_window_icon_name(&mut self, _: &mut vt100::Screen, name: &[u8]) {
        self.titles.push(String::from_utf8_lossy(name).into_owned());
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard
            .push(String::from_utf8_lossy(data).into_owned());
    }
}

/// The cursor position query (DSR 6). A terminal answers it; the line editor asks it before
/// drawing each prompt, and waits two seconds for an answer that never comes otherwise.
const CURSOR_QUERY: &[u8] = b"\x1b[6n";

impl Shared {
    /// Takes in a chunk of output, answering cursor-position queries through `reply`.
    fn feed(&mut self, chunk: &[u8], reply: &mut dyn FnMut(&[u8])) {
        self.raw.extend_from_slice(chunk);
        for &b in chunk {
            self.stripper.feed(b, &mut self.text);
        }
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            self.query = if b == CURSOR_QUERY[self.query] {
                self.query + 1
            } else if b == CURSOR_QUERY[0] {
                1
            } else {
                0
            };
            if self.query == CURSOR_QUERY.len() {
                self.query = 0;
                self.parser.process(&chunk[start..=i]);
                start = i + 1;
                let (row, col) = self.parser.screen().cursor_position();
                reply(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
            }
        }
        self.parser.process(&chunk[start..]);
    }
}

/// A `tether` process on a pseudo-terminal, with a terminal emulator in front of it.
///
/// Output is read by a thread as it comes; [`expect`](Pty::expect) and friends wait (at most
/// [`PTY_TIMEOUT`]) for something to appear after a mark that each match moves forward, and fail
/// the test with what the screen showed if it does not. Dropping a `Pty` kills the process if it
/// still runs.
pub struct Pty {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
    /// Where the next text and raw searches start.
    text_mark: usize,
    raw_mark: usize,
    /// How long each wait may take ([`PTY_TIMEOUT`] unless changed).
    pub timeout: Duration,
}

impl Pty {
    pub(crate) fn spawn(cmd: portable_pty::CommandBuilder) -> Pty {
        let pair = portable_pty::native_pty_system()
            .openpty(portable_pty::PtySize {
                rows: PTY_ROWS,
                cols: PTY_COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("opening a pseudo-terminal");
        let child = pair
            .slave
            .spawn_command(cmd)
            .expect("starting tether on a pseudo-terminal");
        // Only the child may hold the terminal's other end, so that its exit closes it.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("a pty reader");
        let writer: Arc<Mutex<Box<dyn Write + Send>>> =
            Arc::new(Mutex::new(pair.master.take_writer().expect("a pty writer")));
        let shared = Arc::new((
            Mutex::new(Shared {
                raw: Vec::new(),
                text: Vec::new(),
                stripper: Stripper::default(),
                parser: vt100::Parser::new_with_callbacks(
                    PTY_ROWS,
                    PTY_COLS,
                    0,
                    Requests::default(),
                ),
                query: 0,
                eof: false,
            }),
            Condvar::new(),
        ));
        {
            let shared = Arc::clone(&shared);
            let writer = Arc::clone(&writer);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => 0,
                        Ok(n) => n,
                    };
                    let (lock, changed) = &*shared;
                    let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
                    if n == 0 {
                        state.eof = true;
                        changed.notify_all();
                        break;
                    }
                    state.feed(&buf[..n], &mut |answer| {
                        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = w.write_all(answer);
                        let _ = w.flush();
                    });
                    changed.notify_all();
                }
            });
        }
        Pty {
            shared,
            writer,
            child,
            _master: pair.master,
            text_mark: 0,
            raw_mark: 0,
            timeout: PTY_TIMEOUT,
        }
    }

    /// Types `text` (sent as is: `\r` is Enter, `\x03` Ctrl-C, `\x04` Ctrl-D, `\x1b` Escape).
    pub fn send(&mut self, text: &str) {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(text.as_bytes())
            .expect("typing into the terminal");
        w.flush().expect("typing into the terminal");
    }

    /// Types `line` and Enter.
    pub fn send_line(&mut self, line: &str) {
        self.send(&format!("{line}\r"));
    }

    /// Moves both marks to the end of what was printed so far: later searches see only what
    /// comes after.
    pub fn mark(&mut self) {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        self.text_mark = state.text.len();
        self.raw_mark = state.raw.len();
    }

    /// Waits until `check` finds what it looks for, or fails the test saying `what` was awaited.
    #[track_caller]
    fn wait<T>(&self, what: &str, mut check: impl FnMut(&Shared) -> Option<T>) -> T {
        let deadline = Instant::now() + self.timeout;
        let (lock, changed) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(found) = check(&state) {
                return found;
            }
            let now = Instant::now();
            if state.eof || now >= deadline {
                let why = if state.eof {
                    "tether exited"
                } else {
                    "timed out"
                };
                let tail = state.raw.len().saturating_sub(3000);
                panic!(
                    "{why} waiting for {what}\n--- screen ---\n{}\n--- output (last bytes) ---\n{}\n---",
                    state.parser.screen().contents(),
                    escaped(&state.raw[tail..])
                );
            }
            state = changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for `needle` in the printed text (escape sequences removed) after the text mark;
    /// returns the text from the mark to the end of the match and moves the mark there.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) -> String {
        let from = self.text_mark;
        let (end, seen) = self.wait(&format!("the text {needle:?}"), |s| {
            let hay = &s.text[from.min(s.text.len())..];
            find(hay, needle.as_bytes()).map(|at| {
                let end = from + at + needle.len();
                (
                    end,
                    String::from_utf8_lossy(&s.text[from..end]).into_owned(),
                )
            })
        });
        self.text_mark = end;
        seen
    }

    /// Waits for `needle` in the raw output (escape sequences included) after the raw mark;
    /// returns the bytes from the mark to the end of the match and moves the mark there.
    #[track_caller]
    pub fn expect_raw(&mut self, needle: &[u8]) -> Vec<u8> {
        let from = self.raw_mark;
        let (end, seen) = self.wait(&format!("the bytes \"{}\"", escaped(needle)), |s| {
            let hay = &s.raw[from.min(s.raw.len())..];
            find(hay, needle).map(|at| {
                let end = from + at + needle.len();
                (end, s.raw[from..end].to_vec())
            })
        });
        self.raw_mark = end;
        seen
    }

    /// The raw output after the raw mark, now (nothing is awaited, the mark stays).
    pub fn raw_since_mark(&self) -> Vec<u8> {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.raw[self.raw_mark.min(state.raw.len())..].to_vec()
    }

    /// The text output after the text mark, now (nothing is awaited, the mark stays).
    pub fn text_since_mark(&self) -> String {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&state.text[self.text_mark.min(state.text.len())..]).into_owned()
    }

    /// Waits until the screen satisfies `check`.
    #[track_caller]
    pub fn wait_screen(&self, what: &str, check: impl Fn(&vt100::Screen) -> bool) {
        self.wait(what, |s| check(s.parser.screen()).then_some(()));
    }

    /// The titles and clipboard writes the terminal was asked for so far.
    pub fn requests(&self) -> Requests {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.parser.callbacks().clone()
    }

    /// What the screen shows now, row by row.
    pub fn screen(&self) -> String {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        state.parser.screen().contents()
    }

    /// The row of the screen the cursor is on, now.
    pub fn cursor_row(&self) -> String {
        let (lock, _) = &*self.shared;
        let state = lock.lock().unwrap_or_else(|e| e.into_inner());
        cursor_row(state.parser.screen())
    }

    /// Waits for an empty input line after `indicator` (`"› "`, `"[I] › "`, …): the row the
    /// cursor is on starts with it, and the cursor stands right after it.
    #[track_caller]
    pub fn expect_prompt(&self, indicator: &str) {
        let width = indicator.chars().count() as u16;
        self.wait(&format!("an empty prompt {indicator:?}"), |s| {
            let screen = s.parser.screen();
            (cursor_row(screen).starts_with(indicator) && screen.cursor_position().1 == width)
                .then_some(())
        });
    }

    /// Waits (at most [`PTY_TIMEOUT`]) for tether to exit, and returns how it did.
    #[track_caller]
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for tether") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "tether did not exit within {:?}\n--- screen ---\n{}",
                    self.timeout,
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The row of `screen` the cursor is on.
pub fn cursor_row(screen: &vt100::Screen) -> String {
    let (row, _) = screen.cursor_position();
    screen
        .rows(0, screen.size().1)
        .nth(usize::from(row))
        .unwrap_or_default()
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_cursor_queries_split_across_chunks() {
        let mut s = Shared {
            raw: Vec::new(),
            text: Vec::new(),
            stripper: Stripper::default(),
            parser: vt100::Parser::new_with_callbacks(10, 20, 0, Requests::default()),
            query: 0,
            eof: false,
        };
        let mut answers = Vec::new();
        s.feed(b"ab\r\ncd\x1b[", &mut |a| answers.push(a.to_vec()));
        assert!(answers.is_empty());
        s.feed(b"6nef", &mut |a| answers.push(a.to_vec()));
        assert_eq!(answers, [b"\x1b[2;3R".to_vec()]);
        assert_eq!(String::from_utf8_lossy(&s.text), "ab\ncdef");
    }
}
