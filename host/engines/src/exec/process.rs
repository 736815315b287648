//! The agent process: spawned with piped stdin, stdout and stderr, in a process group of its
//! own (so that a Ctrl-C meant for tether does not reach it, and killing it takes its children
//! too). Three small tasks serve the pipes: one writes queued lines to stdin, one reads stdout
//! into length-bounded lines, and one keeps the last lines of stderr for error messages.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many stderr lines are kept, and how long each may be.
const STDERR_LINES: usize = 20;
const STDERR_LINE_CHARS: usize = 300;

/// What the stdout reader found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadItem {
    /// A line, without its newline (or `\r\n`).
    Line(Vec<u8>),
    /// A line longer than the limit, of this many bytes; it was read and dropped.
    TooLong(usize),
}

/// Splits a byte stream into lines of at most `max` bytes. A longer line is discarded as it is
/// read, so that it never takes more than `max` bytes of memory. Cancel safe: `next` keeps its
/// progress in `self`, and only ever waits in `fill_buf`.
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// The length so far of a line being discarded.
    overflow: Option<usize>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            overflow: None,
        }
    }

    /// The next line, or `None` at the end of the stream.
    pub async fn next(&mut self) -> io::Result<Option<ReadItem>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                if let Some(n) = self.overflow.take() {
                    return Ok(Some(ReadItem::TooLong(n)));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(ReadItem::Line(std::mem::take(&mut self.buf))));
            }
            let newline = chunk.iter().position(|b| *b == b'\n');
            let part = &chunk[..newline.unwrap_or(chunk.len())];
            match &mut self.overflow {
                Some(n) => *n = n.saturating_add(part.len()),
                None if self.buf.len() + part.len() > self.max => {
                    self.overflow = Some(self.buf.len() + part.len());
                    self.buf = Vec::new();
                }
                None => self.buf.extend_from_slice(part),
            }
            let used = part.len() + usize::from(newline.is_some());
            self.inner.consume(used);
            if newline.is_some() {
                if let Some(n) = self.overflow.take() {
                    return Ok(Some(ReadItem::TooLong(n)));
                }
                let mut line = std::mem::take(&mut self.buf);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(ReadItem::Line(line)));
            }
        }
    }
}

/// The last lines the agent wrote to stderr.
#[derive(Debug, Default)]
struct StderrTail(VecDeque<String>);

impl StderrTail {
    fn push(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text: String = text
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .take(STDERR_LINE_CHARS)
            .collect();
        if text.trim().is_empty() {
            return;
        }
        if self.0.len() == STDERR_LINES {
            self.0.pop_front();
        }
        self.0.push_back(text);
    }
}

/// A running agent.
pub(crate) struct AgentProcess {
    child: Child,
    /// The process group to kill (the child's pid, as it leads its own group).
    #[cfg_attr(not(unix), allow(dead_code))]
    group: Option<u32>,
    stdin: mpsc::UnboundedSender<String>,
    lines: mpsc::Receiver<ReadItem>,
    stderr: Arc<Mutex<StderrTail>>,
    stderr_task: Option<JoinHandle<()>>,
    tasks: [JoinHandle<()>; 2],
}

impl AgentProcess {
    /// Starts `program` with `args` in `cwd`. It inherits tether's environment.
    pub fn spawn(
        program: &Path,
        args: &[String],
        cwd: &Path,
        max_line: usize,
    ) -> io::Result<AgentProcess> {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn()?;
        let group = child.id();
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(io::Error::other("the agent's pipes were not set up"));
        };

        let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel::<String>();
        let writer = tokio::spawn(async move {
            while let Some(mut line) = stdin_rx.recv().await {
                line.push('\n');
                let written = async {
                    stdin.write_all(line.as_bytes()).await?;
                    stdin.flush().await
                };
                if let Err(e) = written.await {
                    tracing::debug!("the agent's stdin is closed: {e}");
                    break;
                }
            }
        });

        // Few lines in flight: each may be up to `max_line` bytes.
        let (lines_tx, lines) = mpsc::channel(16);
        let reader = tokio::spawn(async move {
            let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, stdout), max_line);
            loop {
                match reader.next().await {
                    Ok(Some(item)) => {
                        if lines_tx.send(item).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!("reading the agent's stdout failed: {e}");
                        break;
                    }
                }
            }
        });

        let tail = Arc::new(Mutex::new(StderrTail::default()));
        let stderr_task = tokio::spawn({
            let tail = tail.clone();
            async move {
                let mut reader = LineReader::new(BufReader::new(stderr), 64 * 1024);
                while let Ok(Some(item)) = reader.next().await {
                    if let ReadItem::Line(line) = item {
                        tracing::debug!(
                            "agent stderr: {}",
                            crate::secret::redact(&String::from_utf8_lossy(&line), None)
                        );
                        tail.lock().unwrap_or_else(|e| e.into_inner()).push(&line);
                    }
                }
            }
        });

        Ok(AgentProcess {
            child,
            group,
            stdin: stdin_tx,
            lines,
            stderr: tail,
            stderr_task: Some(stderr_task),
            tasks: [writer, reader],
        })
    }

    /// Queues a line (without its newline) for the agent's stdin. Never waits: a slow reader
    /// cannot hold up the turn, and a line for an agent that has gone is dropped.
    pub fn send(&self, line: String) {
        let _ = self.stdin.send(line);
    }

    /// The next line from stdout; `None` once stdout is closed (the agent exited). Cancel safe.
    pub async fn next(&mut self) -> Option<ReadItem> {
        self.lines.recv().await
    }

    /// After stdout closed: how the agent exited (waiting a little for it), and the last
    /// `lines` lines of its stderr.
    pub async fn exit_report(&mut self, lines: usize) -> (Option<ExitStatus>, Vec<String>) {
        let status = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            Ok(Err(e)) => {
                tracing::debug!("waiting for the agent failed: {e}");
                None
            }
            Err(_) => {
                self.kill();
                None
            }
        };
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
        }
        let tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let skip = tail.0.len().saturating_sub(lines);
        (status, tail.0.iter().skip(skip).cloned().collect())
    }

    /// Kills the agent and everything it started.
    #[allow(unsafe_code)]
    pub fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(group) = self.group.and_then(|g| i32::try_from(g).ok()) {
            // SAFETY: kill(2) takes no pointers; a negative pid names the process group that
            // the child leads (it was spawned with process_group(0)).
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
        for task in &self.tasks {
            task.abort();
        }
        if let Some(task) = &self.stderr_task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize, buffer: usize) -> Vec<ReadItem> {
        let mut reader = LineReader::new(BufReader::with_capacity(buffer, input), max);
        let mut out = Vec::new();
        while let Some(item) = reader.next().await.unwrap() {
            out.push(item);
        }
        out
    }

    fn line(s: &str) -> ReadItem {
        ReadItem::Line(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn splits_lines() {
        for buffer in [1, 3, 1024] {
            assert_eq!(
                lines(b"one\r\ntwo\n\nthree", 10, buffer).await,
                vec![line("one"), line("two"), line(""), line("three")]
            );
        }
    }

    #[tokio::test]
    async fn drops_long_lines_and_goes_on() {
        for buffer in [1, 4, 1024] {
            assert_eq!(
                lines(b"short\n0123456789ABC\nok\n0123456789", 10, buffer).await,
                vec![
                    line("short"),
                    ReadItem::TooLong(13),
                    line("ok"),
                    line("0123456789")
                ]
            );
            assert_eq!(
                lines(b"0123456789ABC", 10, buffer).await,
                vec![ReadItem::TooLong(13)]
            );
        }
    }

    #[tokio::test]
    async fn keeps_invalid_utf8_as_bytes() {
        assert_eq!(
            lines(b"\xff\xfe\n", 10, 8).await,
            vec![ReadItem::Line(vec![0xff, 0xfe])]
        );
    }

    #[test]
    fn stderr_tail_is_bounded() {
        let mut tail = StderrTail::default();
        for i in 0..100 {
            tail.push(format!("line {i}").as_bytes());
        }
        tail.push(b"   ");
        tail.push(&[b'x'; 10_000]);
        tail.push(b"bell\x07 \x1b[31mred\xff");
        assert_eq!(tail.0.len(), STDERR_LINES);
        assert_eq!(tail.0[tail.0.len() - 2].len(), STDERR_LINE_CHARS);
        assert_eq!(tail.0.back().unwrap(), "bell [31mred\u{fffd}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn reports_exit_status_and_stderr() {
        let mut agent = AgentProcess::spawn(
            Path::new("/bin/sh"),
            &[
                "-c".into(),
                "echo out; echo err1 >&2; echo err2 >&2; exit 4".into(),
            ],
            Path::new("/"),
            1024,
        )
        .unwrap();
        assert_eq!(agent.next().await, Some(line("out")));
        assert_eq!(agent.next().await, None);
        let (status, stderr) = agent.exit_report(1).await;
        assert_eq!(status.and_then(|s| s.code()), Some(4));
        assert_eq!(stderr, vec!["err2".to_string()]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn writes_lines_to_stdin() {
        let mut agent =
            AgentProcess::spawn(Path::new("/bin/cat"), &[], Path::new("/"), 1024).unwrap();
        agent.send("hello".into());
        agent.send("world".into());
        assert_eq!(agent.next().await, Some(line("hello")));
        assert_eq!(agent.next().await, Some(line("world")));
        agent.kill();
        assert_eq!(agent.next().await, None);
    }
}
