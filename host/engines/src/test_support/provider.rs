//! The scripted [`Server`] for synchronous tests: it runs on a runtime of its own, so a test
//! that starts `tether` as a process needs no async code, and it is scripted in terms of the
//! API ([`Answer`]) rather than bytes.

use super::reply::Reply;
use super::request::Recorded;
use super::server::{Exhausted, Log, Server};
use super::{anthropic, openai};

/// Which API the provider stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic's Messages API (`POST /v1/messages`).
    Anthropic,
    /// An OpenAI-compatible Chat Completions API (`POST /v1/chat/completions`).
    OpenAi,
}

/// What the provider answers one request with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A streamed reply with this text, cut into `pieces` deltas, and this usage.
    Text {
        /// The whole reply.
        text: String,
        /// How many deltas carry it.
        pieces: usize,
        /// The usage reported.
        input_tokens: u64,
        /// The usage reported.
        output_tokens: u64,
    },
    /// An HTTP error with the provider's JSON error body.
    Error {
        /// The status.
        status: u16,
        /// The body, as sent.
        body: String,
    },
    /// `429 Too Many Requests` with `retry-after`, as both providers send it.
    RateLimited {
        /// The `retry-after` value.
        retry_after_secs: u32,
    },
}

impl Answer {
    /// A streamed reply of `text`, a delta a word, 12 tokens in and a token a word out.
    pub fn text(text: &str) -> Answer {
        Answer::Text {
            text: text.into(),
            pieces: text.split_inclusive(' ').count().max(1),
            input_tokens: 12,
            output_tokens: text.split_whitespace().count() as u64,
        }
    }

    /// The reply as `wire` frames it; streams come whole, with a content length.
    pub fn reply(&self, wire: Wire) -> Reply {
        match self {
            Answer::RateLimited { retry_after_secs } => Reply::text(
                429,
                "application/json",
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
            )
            .header("retry-after", &retry_after_secs.to_string()),
            Answer::Error { status, body } => Reply::text(*status, "application/json", body),
            Answer::Text {
                text,
                pieces,
                input_tokens,
                output_tokens,
            } => {
                let body = match wire {
                    Wire::Anthropic => {
                        anthropic::stream(text, *pieces, *input_tokens, *output_tokens)
                    }
                    Wire::OpenAi => openai::stream(text, *pieces, *input_tokens, *output_tokens),
                };
                Reply::text(200, "text/event-stream", &body).header("cache-control", "no-cache")
            }
        }
    }
}

/// A fake provider on loopback, answering request after request with the answers it was given
/// (the last one repeats; none at all is `Answer::text("ok")`). It runs on a thread of its own,
/// so it may be started from sync and async tests alike. Dropping it stops it.
pub struct Provider {
    /// The base URL to give tether (`--base-url`, `base_url = …`).
    pub base_url: String,
    log: Log,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Provider {
    /// Starts a provider speaking `wire`.
    pub fn start(wire: Wire, answers: Vec<Answer>) -> Provider {
        let answers = if answers.is_empty() {
            vec![Answer::text("ok")]
        } else {
            answers
        };
        let script: Vec<Reply> = answers.iter().map(|a| a.reply(wire)).collect();
        let (ready, started) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake provider");
            runtime.block_on(async move {
                let server = Server::start_with(script, Exhausted::RepeatLast).await;
                let _ = ready.send((server.url(), server.log()));
                // Until the provider is dropped (which also drops the sender).
                let _ = stopped.await;
            });
        });
        let (url, log) = started.recv().expect("the fake provider did not start");
        let base_url = match wire {
            Wire::Anthropic => url,
            Wire::OpenAi => format!("{url}/v1"),
        };
        Provider {
            base_url,
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.requests()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
