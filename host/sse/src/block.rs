//! The field rules: what each line does to the event being built, and when an event is
//! dispatched.

use crate::{Error, Event, Item};

#[derive(Debug)]
pub(crate) struct Block {
    max: usize,
    /// The last event ID buffer: it outlives events, so it is not reset on dispatch.
    last_id: String,
    event: String,
    /// Every `data` value so far, each followed by a LF (the spec's data buffer: a `data` field
    /// with an empty value still makes it non-empty).
    data: String,
}

impl Block {
    pub(crate) fn new(max: usize) -> Block {
        Block {
            max,
            last_id: String::new(),
            event: String::new(),
            data: String::new(),
        }
    }

    /// Applies one line (without its ending); what it yields goes to `out`.
    pub(crate) fn line(&mut self, line: &[u8], out: &mut Vec<Item>) -> Result<(), Error> {
        let (field, value) = match line.iter().position(|&b| b == b':') {
            None if line.is_empty() => {
                out.extend(self.dispatch().map(Item::Event));
                return Ok(());
            }
            None => (line, &[][..]),
            Some(0) => {
                out.push(Item::Comment(text(&line[1..])));
                return Ok(());
            }
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
        };
        match field {
            b"event" => self.event = text(value),
            b"data" => {
                let value = text(value);
                // Joined, the LFs already held become separators and this value's LF goes.
                if self.data.len() + value.len() > self.max {
                    return Err(Error::EventTooLarge { max: self.max });
                }
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains(&0) => self.last_id = text(value),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                out.push(Item::Retry(digits(value)));
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the block: its event, if it has data. The type and data start afresh either way.
    pub(crate) fn dispatch(&mut self) -> Option<Event> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        Some(Event {
            id: self.last_id.clone(),
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
        })
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// ASCII digits as a base-ten number, saturating rather than wrapping.
fn digits(value: &[u8]) -> u64 {
    value.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}
