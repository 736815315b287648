//! Bytes to lines: the three line endings (CR, LF, CRLF) and the optional byte-order mark at the
//! very start, whatever the chunk boundaries. A CR is acted on at once (not held back in case an
//! LF follows); an LF that then starts the next chunk is remembered as that CRLF's second half.

use crate::Error;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug)]
pub(crate) struct Lines {
    max: usize,
    /// The line not yet ended.
    line: Vec<u8>,
    /// The last line ended in a CR that was the last byte seen: a LF next ends nothing.
    after_cr: bool,
    /// Bytes of a leading byte-order mark matched so far; `None` once past the stream's start.
    bom: Option<usize>,
}

impl Lines {
    pub(crate) fn new(max: usize) -> Lines {
        Lines {
            max,
            line: Vec::new(),
            after_cr: false,
            bom: Some(0),
        }
    }

    /// Hands each line that `bytes` ends to `each`, without its line ending.
    pub(crate) fn push(
        &mut self,
        mut bytes: &[u8],
        each: &mut impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if let Some(mut matched) = self.bom {
            while matched < BOM.len() && bytes.first() == Some(&BOM[matched]) {
                matched += 1;
                bytes = &bytes[1..];
            }
            if matched < BOM.len() && bytes.is_empty() {
                self.bom = Some(matched); // undecided: the mark may go on in the next chunk
                return Ok(());
            }
            self.bom = None;
            if matched < BOM.len() {
                // It began like a mark but is not one: those bytes are text.
                self.line.extend_from_slice(&BOM[..matched]);
            }
        }
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(at) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, cr, rest) = (&bytes[..at], bytes[at] == b'\r', &bytes[at + 1..]);
            self.fits(head.len())?;
            if self.line.is_empty() {
                each(head)?;
            } else {
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                each(&line)?;
                self.line = line;
                self.line.clear();
            }
            bytes = rest;
            if cr {
                match rest.first() {
                    Some(b'\n') => bytes = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.fits(bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Drops a line cut off by the end of the stream.
    pub(crate) fn discard(&mut self) {
        self.line.clear();
    }

    /// Whether `more` bytes can join the pending line.
    fn fits(&self, more: usize) -> Result<(), Error> {
        if self.line.len() + more > self.max {
            return Err(Error::LineTooLong { max: self.max });
        }
        Ok(())
    }
}
