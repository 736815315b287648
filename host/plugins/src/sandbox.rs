//! The sandbox one plugin call runs in: a fresh `Store` with no access to the outside world and
//! the call's limits, and the translation of whatever went wrong into a [`PluginError`] the user
//! can act on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether_protocol::{Capabilities, Capability};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, Trap};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use crate::abi::{Abi, AbiPre};
use crate::deadline::Ticker;
use crate::error::PluginError;
use crate::limits::Limits;
use crate::queries::HostQueries;

/// What the host queries need to know about the call in progress.
pub(crate) struct CallerState {
    pub(crate) name: String,
    pub(crate) declared: Capabilities,
    pub(crate) granted: Capabilities,
    pub(crate) queries: Arc<dyn HostQueries>,
    /// Set when the plugin called a query it did not declare, to name it in the error.
    pub(crate) undeclared: Option<Capability>,
}

/// Everything a plugin's `Store` holds.
pub(crate) struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    stderr: TailPipe,
    pub(crate) caller: CallerState,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the limit with a trap we can recognise, instead of letting the
/// guest's allocator fail in some way of its own.
struct Limiter {
    memory_bytes: usize,
    exceeded: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded")]
struct MemoryLimitExceeded;

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.exceeded = true;
            return Err(wasmtime::Error::new(MemoryLimitExceeded));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k is far past what a command needs.
        Ok(desired <= 100_000)
    }
}

/// Time stands still inside a plugin: commands are deterministic functions of their inputs and
/// the queries they make, and cannot time side channels.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Keeps the last few KiB a plugin writes to stderr, so that a panic message can be shown with
/// the crash. Never refuses a write: a full pipe would make the guest's `eprintln!` panic.
#[derive(Clone, Default)]
struct TailPipe(Arc<Mutex<Vec<u8>>>);

const TAIL: usize = 4096;

impl TailPipe {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().expect("stderr lock");
        buf.extend_from_slice(bytes);
        if buf.len() > TAIL {
            let cut = buf.len() - TAIL;
            buf.drain(..cut);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("stderr lock")).into_owned()
    }
}

#[async_trait::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for TailPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for TailPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// The sandbox: no preopened directories, environment, arguments, network or stdin; frozen
/// clocks; stdout discarded; stderr kept for crash reports.
fn sandbox(stderr: &TailPipe) -> WasiCtx {
    WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// Runs `f` against a fresh instance of `pre`, within `limits`.
pub(crate) fn run<R>(
    wasmtime: &Engine,
    ticker: &Ticker,
    pre: &AbiPre,
    caller: CallerState,
    limits: Limits,
    f: impl FnOnce(&Abi, &mut Store<StoreData>) -> wasmtime::Result<R>,
) -> Result<R, PluginError> {
    let stderr = TailPipe::default();
    let data = StoreData {
        wasi: sandbox(&stderr),
        table: ResourceTable::new(),
        limiter: Limiter {
            memory_bytes: limits.memory_bytes,
            exceeded: false,
        },
        stderr,
        caller,
    };
    let mut store = Store::new(wasmtime, data);
    store.limiter(|d| &mut d.limiter);
    store.set_epoch_deadline(Ticker::ticks(limits.call_timeout));
    store.epoch_deadline_trap();

    let _running = ticker.running();
    let result = pre
        .instantiate(&mut store)
        .and_then(|command| f(&command, &mut store));
    result.map_err(|error| classify(error, store.data(), limits))
}

/// Turns a wasmtime error into the reason a user can act on. Our own markers (memory, undeclared
/// capability) win over the trap they caused.
fn classify(error: wasmtime::Error, data: &StoreData, limits: Limits) -> PluginError {
    let name = data.caller.name.clone();
    if data.limiter.exceeded {
        return PluginError::OutOfMemory {
            name,
            limit: limits.memory_bytes,
        };
    }
    if let Some(capability) = data.caller.undeclared {
        return PluginError::CapabilityNotDeclared { name, capability };
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return PluginError::Timeout {
            name,
            limit: limits.call_timeout,
        };
    }
    let message = match error.downcast_ref::<Trap>() {
        Some(trap) => {
            let said = panic_message(&data.stderr.text());
            match said {
                Some(said) => format!("{said} ({trap})"),
                None => trap.to_string(),
            }
        }
        None => first_line(&error.to_string()),
    };
    PluginError::Trap { name, message }
}

/// The panic message a Rust guest printed, if any: `panicked at src/lib.rs:3:5:\nboom` → the
/// location and the message on one line.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.rfind("panicked at ")?;
    let rest = &stderr[at..];
    let mut lines = rest.lines();
    let head = lines.next()?.trim_end_matches(':');
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    let body = body.join(" ");
    let body = body.trim();
    let text = if body.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {body}")
    };
    Some(text.chars().take(500).collect())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages() {
        let s = "thread '<unnamed>' panicked at src/lib.rs:10:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(s).unwrap(),
            "panicked at src/lib.rs:10:5: boom"
        );
        assert_eq!(panic_message("nothing"), None);
        assert_eq!(
            panic_message("panicked at x.rs:1:1:\n").unwrap(),
            "panicked at x.rs:1:1"
        );
    }

    #[test]
    fn tail_keeps_the_end() {
        let p = TailPipe::default();
        p.push(&vec![b'a'; TAIL]);
        p.push(b"end");
        let t = p.text();
        assert_eq!(t.len(), TAIL);
        assert!(t.ends_with("end"));
    }
}
