//! The checks both engines' tests make on a turn: drain a stream into an [`Outcome`], and the
//! assertions about retries and dropped streams. The fake provider itself is
//! `tether_engines::test_support`, shared with the end-to-end tests.

#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use futures::StreamExt;
use tether_engines::http::RetryPolicy;
use tether_engines::test_support::Server;
use tether_engines::usage::TurnUsage;
use tether_engines::{Engine, EngineError, EngineEvent, EngineStream, TurnRequest};

/// Everything a stream produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The deltas, concatenated.
    pub text: String,
    pub deltas: usize,
    pub usage: Vec<TurnUsage>,
    /// (attempt, of, after, reason)
    pub retries: Vec<(u32, u32, Duration, String)>,
    pub error: Option<EngineError>,
    /// An event came after the error or after the usage.
    pub after_end: bool,
}

pub async fn drain(mut stream: EngineStream) -> Outcome {
    let mut out = Outcome::default();
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(item) = stream.next().await {
            if out.error.is_some() || !out.usage.is_empty() {
                out.after_end = true;
            }
            match item {
                Ok(EngineEvent::Delta(d)) => {
                    out.text.push_str(&d);
                    out.deltas += 1;
                }
                Ok(EngineEvent::Usage(u)) => out.usage.push(u),
                Ok(EngineEvent::Retrying {
                    attempt,
                    of,
                    after,
                    reason,
                }) => out.retries.push((attempt, of, after, reason)),
                Ok(other) => panic!("unexpected event {other:?}"),
                Err(e) => out.error = Some(e),
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stream did not end: {out:?}");
    out
}

impl Outcome {
    pub fn error(&self) -> String {
        self.error
            .as_ref()
            .unwrap_or_else(|| panic!("expected an error: {self:?}"))
            .0
            .clone()
    }
}

/// One turn of a single user message, drained.
pub async fn ask(engine: &dyn Engine, text: &str) -> Outcome {
    drain(engine.reply(TurnRequest::user(text))).await
}

/// The tests' retry policy: three attempts, with waits short enough for a test.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
}

/// Checks a turn that succeeded on its second attempt, made a second after the first as the
/// server asked (`retry-after: 1`). Returns the reason given for the retry.
pub fn assert_retried_once_as_asked(out: &Outcome, server: &Server) -> String {
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.retries.len(), 1);
    let (attempt, of, after, reason) = &out.retries[0];
    assert_eq!((*attempt, *of, *after), (2, 3, Duration::from_secs(1)));
    let r = server.requests();
    assert_eq!(r.len(), 2);
    let waited = r[1].at - r[0].at;
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    reason.clone()
}

/// The next event of `stream`, which must be text.
pub async fn next_delta(stream: &mut EngineStream) -> String {
    match stream.next().await {
        Some(Ok(EngineEvent::Delta(d))) => d,
        other => panic!("{other:?}"),
    }
}

/// Drops `stream`, a turn whose connection the server is holding, and checks that the
/// connection is closed within a second.
pub async fn assert_dropping_closes(server: &Server, stream: EngineStream) {
    assert_eq!(server.closed(), 0);
    drop(stream);
    assert!(
        server.wait_closed(1, Duration::from_secs(1)).await,
        "the server still holds the connection a second after the stream was dropped"
    );
}
