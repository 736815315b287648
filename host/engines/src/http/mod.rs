//! What the HTTP engines share: the `Endpoint` each posts its turns to (client, URL,
//! headers, retry policy, stall timeout), reading server-sent events ([`sse`]), the retry policy
//! ([`retry`]), turning HTTP failures into sentences for the user, and the driver that runs one
//! turn (request, retries, streaming, stall detection) for a provider's [`Decoder`].
//!
//! Cancellation: the turn is a future owned by the stream handed to the session. Dropping the
//! stream drops the future, and with it the response, which closes the connection at once.

pub mod retry;
pub mod sse;

use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};

pub use retry::{RetryPolicy, parse_retry_after, parse_retry_after_ms};
pub use sse::{SseEvent, SseParser};

use crate::secret::{self, ApiKey};
use crate::sentence::end_sentence;
use crate::usage::TurnUsage;
use crate::{EngineError, EngineEvent, EngineStream};

/// How long to wait for a TCP (and TLS) connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply may go without a single byte before the turn is abandoned.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the end of a finished reply's body is waited for, to keep the connection.
const LINGER: Duration = Duration::from_millis(250);
/// The most of an error body that is read, and of an unfinished SSE event that is held.
const MAX_ERROR_BODY: usize = 64 * 1024;
const MAX_PENDING_EVENT: usize = 16 * 1024 * 1024;

/// Installs ring as rustls' process-wide crypto provider (aws-lc-rs would need cmake to build),
/// once; a provider some other part of the program installed first is kept.
pub(crate) fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Which API's conventions the error messages follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Anthropic,
    OpenAi,
}

/// Who is being talked to, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Provider {
    pub flavor: Flavor,
    /// "Anthropic", "OpenAI", or "the server at localhost:11434".
    pub name: String,
    /// host[:port], for "the connection to … closed".
    pub host: String,
    /// The base URL as configured.
    pub base_url: String,
    /// The API key sent, if any: what the provider sends back is redacted of it before it is
    /// shortened for a message (a key cut in two would escape redaction).
    pub key: Option<ApiKey>,
}

impl Flavor {
    /// The environment variable that holds the key.
    fn key_var(self) -> &'static str {
        match self {
            Flavor::Anthropic => "ANTHROPIC_API_KEY",
            Flavor::OpenAi => "OPENAI_API_KEY",
        }
    }

    /// The API's name, as in "the OpenAI API key".
    fn api(self) -> &'static str {
        match self {
            Flavor::Anthropic => "Anthropic",
            Flavor::OpenAi => "OpenAI",
        }
    }
}

impl Provider {
    /// Who is at `base`, configured as `base_url`, called `name` in messages.
    pub fn new(
        flavor: Flavor,
        name: String,
        base: &reqwest::Url,
        base_url: &str,
        key: Option<ApiKey>,
    ) -> Provider {
        Provider {
            flavor,
            name,
            host: host_of(base),
            base_url: base_url.trim().to_string(),
            key,
        }
    }

    /// Text the provider sent, fit to quote: without the key, on one line, at most `max`
    /// characters.
    pub fn quote(&self, text: &str, max: usize) -> String {
        shorten(&secret::redact(text, self.key.as_ref()), max)
    }

    /// The name at the start of a sentence.
    fn subject(&self) -> String {
        let mut chars = self.name.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

/// Parses and checks a configured base URL.
pub(crate) fn parse_base_url(base_url: &str, what: &str) -> Result<reqwest::Url, EngineError> {
    let url = reqwest::Url::parse(base_url.trim()).map_err(|e| {
        EngineError(secret::redact(
            &format!("the {what} base URL `{base_url}` is not a URL ({e})"),
            None,
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(EngineError(secret::redact(
            &format!("the {what} base URL `{base_url}` must be an http:// or https:// URL"),
            None,
        )));
    }
    Ok(url)
}

/// `host[:port]` of a URL, for messages.
pub(crate) fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// `base` (without a trailing slash) joined with `path`.
pub(crate) fn endpoint(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim().trim_end_matches('/'), path)
}

/// The header that carries the API key (`value`, the key with any prefix), marked sensitive so
/// that it is left out of debug output.
pub(crate) fn key_header(value: &str, flavor: Flavor) -> Result<HeaderValue, EngineError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        EngineError(format!(
            "the {} API key holds characters that cannot be sent (check {} for stray quotes or \
             line breaks)",
            flavor.api(),
            flavor.key_var()
        ))
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// A client for one engine. Loopback servers (Ollama, llama.cpp) are reached directly even when
/// a proxy is configured in the environment: a proxy cannot reach the user's own machine.
pub(crate) fn client(url: &reqwest::Url) -> Result<reqwest::Client, EngineError> {
    install_tls_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("tether/", env!("CARGO_PKG_VERSION")));
    if is_loopback(url) {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| EngineError(format!("cannot set up the HTTP client: {e}")))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why an attempt failed, as a sentence for the user, and whether another attempt may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub message: String,
    /// Set when the failure is likely to pass (rate limit, overload, server error): a short
    /// reason for the `Retrying` event, and the wait the server asked for.
    pub transient: Option<Transient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transient {
    pub reason: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn fatal(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: None,
        }
    }

    pub fn transient(message: impl Into<String>, reason: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: Some(Transient {
                reason: reason.into(),
                retry_after: None,
            }),
        }
    }
}

/// What a provider said about an error, from an error body or an error event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProviderError {
    /// `overloaded_error`, `invalid_request_error`, … (the `code` when there is no `type`).
    pub kind: Option<String>,
    /// OpenAI's `code` beside its `type`: `rate_limit_exceeded` under the type `requests`.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl ProviderError {
    /// Reads the error shapes in use: Anthropic's and OpenAI's `{"error":{"type","message"}}`,
    /// `{"error":"text"}` (Ollama's native API, llama.cpp), vLLM's top-level
    /// `{"object":"error","message","type"}`, FastAPI's `{"detail":…}`. Anything else is
    /// quoted as text (the caller shortens and redacts it with [`Provider::quote`]).
    pub fn from_body(body: &str) -> ProviderError {
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) if v.is_object() => {
                ProviderError::from_json(&v).unwrap_or_else(|| ProviderError {
                    message: Some(body.to_string()),
                    ..Default::default()
                })
            }
            _ if body.trim().is_empty() => ProviderError::default(),
            _ => ProviderError {
                message: Some(body.to_string()),
                ..Default::default()
            },
        }
    }

    /// The error inside a JSON object, if it holds one.
    pub fn from_json(v: &serde_json::Value) -> Option<ProviderError> {
        let text = |v: Option<&serde_json::Value>| {
            v.and_then(|v| match v {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        match v.get("error") {
            Some(serde_json::Value::Object(e)) => {
                return Some(ProviderError {
                    kind: text(e.get("type")).or_else(|| text(e.get("code"))),
                    code: text(e.get("code")),
                    message: text(e.get("message")),
                });
            }
            Some(serde_json::Value::String(s)) => {
                return Some(ProviderError {
                    message: Some(s.clone()),
                    ..Default::default()
                });
            }
            _ => {}
        }
        if v.get("object").and_then(|o| o.as_str()) == Some("error") || v.get("message").is_some() {
            return Some(ProviderError {
                kind: text(v.get("type")),
                code: text(v.get("code")),
                message: text(v.get("message")),
            });
        }
        if let Some(detail) = v.get("detail") {
            let message = match detail {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Some(ProviderError {
                message: Some(message),
                ..Default::default()
            });
        }
        None
    }

    /// The type and the code, lower-cased: what the rules below look at.
    fn labels(&self) -> impl Iterator<Item = String> + '_ {
        [&self.kind, &self.code]
            .into_iter()
            .flatten()
            .map(|l| l.to_ascii_lowercase())
    }

    /// `type: message`, or what there is of it.
    pub fn describe(&self) -> Option<String> {
        match (&self.kind, &self.message) {
            (Some(k), Some(m)) => Some(format!("{k}: {m}")),
            (Some(k), None) => Some(k.clone()),
            (None, Some(m)) => Some(m.clone()),
            (None, None) => None,
        }
    }

    /// An error that another attempt will not fix, whether it came as a status (a `429` that
    /// means the quota is spent) or inside the stream.
    fn is_permanent(&self) -> bool {
        const PERMANENT: [&str; 8] = [
            "authentication",
            "permission",
            "invalid_request",
            "not_found",
            "request_too_large",
            "invalid_api_key",
            "billing",
            "insufficient_quota",
        ];
        self.labels()
            .any(|label| PERMANENT.iter().any(|p| label.contains(p)))
    }

    /// Whether the quota or the bill is the problem: the user has to act on the account.
    fn is_about_billing(&self) -> bool {
        self.labels()
            .any(|label| label.contains("quota") || label.contains("billing"))
    }

    /// The short reason for a `Retrying` event. OpenAI labels an in-stream rate limit by what
    /// ran out (`requests`, `tokens`) and puts `rate_limit_exceeded` in the code.
    fn retry_reason(&self, provider: &Provider) -> String {
        let labels: Vec<String> = self.labels().collect();
        let any = |f: &dyn Fn(&str) -> bool| labels.iter().any(|l| f(l));
        if any(&|l| l.contains("overloaded")) {
            "overloaded".into()
        } else if any(&|l| l.contains("rate_limit") || l == "requests" || l == "tokens") {
            "rate limited".into()
        } else {
            match self.kind.as_deref() {
                None | Some("") => "error in the stream".into(),
                Some(k) => provider.quote(k, 40),
            }
        }
    }
}

/// `text` on one line, without control characters, cut to `max` characters.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// What an HTTP error status means for the user.
pub(crate) fn status_failure(
    provider: &Provider,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> Failure {
    let said = ProviderError::from_body(body);
    let detail = match said.describe() {
        Some(d) => format!("{status} {}", provider.quote(&d, 300)),
        None => status.to_string(),
    };
    let who = provider.subject();
    let key_var = provider.flavor.key_var();
    let context_hint = {
        let m = said.message.as_deref().unwrap_or("").to_ascii_lowercase();
        if status == 413
            || m.contains("too long")
            || m.contains("context length")
            || m.contains("context_length")
            || m.contains("maximum context")
        {
            " The conversation may be too long for the model: /compact shortens it."
        } else {
            ""
        }
    };
    let message = match (status, provider.flavor) {
        (401, Flavor::OpenAi) if provider.key.is_none() => {
            format!("{who} needs an API key ({detail}). Set {key_var}.")
        }
        (401, _) => format!("{who} did not accept the API key ({detail}). Check {key_var}."),
        (403, _) => format!(
            "{who} refused access ({detail}). Check {key_var} and that the key may use this model."
        ),
        (404, Flavor::OpenAi) => format!(
            "the model or URL was not found at {} ({detail}). Check --model and --base-url \
             (an OpenAI-compatible URL ends in /v1, e.g. http://localhost:11434/v1 for Ollama).",
            provider.base_url
        ),
        (404, Flavor::Anthropic) => {
            format!("{who} refused the request ({detail}). Check the model name and the base URL.")
        }
        (400 | 413 | 422, _) => format!("{who} refused the request ({detail}).{context_hint}"),
        // A spent quota, a bad request: the status says "later" but the body says "never".
        (408 | 429 | 500 | 502 | 503 | 504 | 529, _) if said.is_permanent() => {
            let hint = if said.is_about_billing() {
                " Check the account's plan and billing: another attempt will not help."
            } else {
                ""
            };
            format!("{who} refused the request ({detail}).{hint}")
        }
        (408 | 429 | 500 | 502 | 503 | 504 | 529, _) => {
            let reason = match status {
                429 => "rate limited",
                529 => "overloaded",
                503 => "unavailable",
                408 | 504 => "timed out",
                _ => "server error",
            };
            return Failure {
                message: end_sentence(&format!("{who} answered {detail}")),
                transient: Some(Transient {
                    reason: format!("{reason} ({status})"),
                    retry_after,
                }),
            };
        }
        _ => end_sentence(&format!("{who} answered {detail}")),
    };
    Failure::fatal(message)
}

/// An error the provider reported inside the stream (Anthropic's `error` event, an OpenAI
/// compatible server's `{"error":…}` chunk). Worth retrying unless it says the request itself
/// is wrong; the driver retries only before any text was shown.
pub(crate) fn stream_error_failure(provider: &Provider, said: &ProviderError) -> Failure {
    let detail = said
        .describe()
        .map_or_else(|| "no details".into(), |d| provider.quote(&d, 300));
    let message = end_sentence(&format!(
        "{} reported an error: {detail}",
        provider.subject()
    ));
    if said.is_permanent() {
        return Failure::fatal(message);
    }
    Failure::transient(message, said.retry_reason(provider))
}

/// A body that is not what the protocol says it should be.
pub(crate) fn unreadable(
    provider: &Provider,
    error: &dyn std::fmt::Display,
    data: &str,
) -> Failure {
    Failure::fatal(format!(
        "{} sent something unreadable ({error}): `{}`",
        provider.subject(),
        provider.quote(data, 80)
    ))
}

/// The text of the innermost cause of an error: `Connection refused (os error 111)` rather
/// than `error sending request for url (…)`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut e = error;
    while let Some(source) = e.source() {
        e = source;
    }
    e.to_string()
}

fn send_failure(provider: &Provider, e: &reqwest::Error) -> Failure {
    let cause = root_cause(e);
    if e.is_connect() {
        if e.is_timeout() {
            return Failure::fatal(format!(
                "cannot reach {}: no connection within {} s. Check the base URL and your network.",
                provider.base_url,
                CONNECT_TIMEOUT.as_secs()
            ));
        }
        let hint = match provider.flavor {
            Flavor::Anthropic => "Check the base URL and your network.",
            Flavor::OpenAi => "Check --base-url, and that the server is running.",
        };
        return Failure::fatal(format!(
            "cannot reach {} ({cause}). {hint}",
            provider.base_url
        ));
    }
    // Sent, then the connection failed before an answer: a blip worth another attempt.
    Failure::transient(
        format!(
            "the connection to {} failed before an answer came ({cause}).",
            provider.host
        ),
        "connection failed",
    )
}

fn dropped(provider: &Provider, cause: Option<String>) -> Failure {
    let cause = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    Failure::transient(
        format!(
            "the connection to {} closed before the reply finished{cause}.",
            provider.host
        ),
        "connection closed early",
    )
}

/// What a decoder makes of one event.
pub(crate) enum Step {
    /// More to come.
    Continue,
    /// The reply is complete.
    Done(TurnUsage),
}

/// One provider's stream format. A fresh decoder reads each attempt.
pub(crate) trait Decoder: Send {
    /// One event. Text for the user goes into `text`.
    fn event(&mut self, event: SseEvent, text: &mut Vec<String>) -> Result<Step, Failure>;
    /// The body ended: the usage if the reply may end here, `None` if it was cut off.
    fn end(&mut self) -> Option<TurnUsage>;
}

/// One turn's request, ready to be sent as many times as retries need.
struct Call {
    pub client: reqwest::Client,
    pub url: String,
    /// Including the (sensitive) key header.
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    pub provider: Provider,
    pub retry: RetryPolicy,
    pub stall: Duration,
}

/// Where an HTTP engine sends its turns, and how: everything a [`Call`] needs but the body.
pub(crate) struct Endpoint {
    client: reqwest::Client,
    /// What is posted to.
    pub url: String,
    /// The provider's own, with the key; [`Endpoint::new`] adds the two every engine sends.
    pub headers: HeaderMap,
    pub provider: Provider,
    retry: RetryPolicy,
    /// How long a reply may go without a byte before it is abandoned.
    pub stall: Duration,
}

impl Endpoint {
    /// An endpoint on the server at `base` that takes JSON and answers with server-sent events.
    pub fn new(
        base: &reqwest::Url,
        url: String,
        mut headers: HeaderMap,
        provider: Provider,
        retry: RetryPolicy,
    ) -> Result<Endpoint, EngineError> {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        Ok(Endpoint {
            client: client(base)?,
            url,
            headers,
            provider,
            retry,
            stall: STALL_TIMEOUT,
        })
    }

    /// Runs one turn, `body`, as an [`EngineStream`]; `decoder` makes each attempt's decoder
    /// from the provider.
    pub fn stream<D, F>(&self, body: &serde_json::Value, decoder: F) -> EngineStream
    where
        D: Decoder + 'static,
        F: Fn(Provider) -> D + Send + 'static,
    {
        let call = Call {
            client: self.client.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: bytes::Bytes::from(body.to_string()),
            provider: self.provider.clone(),
            retry: self.retry,
            stall: self.stall,
        };
        let provider = self.provider.clone();
        stream(call, move || decoder(provider.clone()))
    }
}

type Item = Result<EngineEvent, EngineError>;

/// Runs `call` as an [`EngineStream`], reading each attempt with a decoder from `decoder`.
fn stream<D, F>(call: Call, decoder: F) -> EngineStream
where
    D: Decoder + 'static,
    F: Fn() -> D + Send + 'static,
{
    let (tx, rx) = mpsc::channel(0);
    Box::pin(Driven {
        driver: Some(Box::pin(run(call, decoder, tx))),
        events: rx,
    })
}

/// A stream fed by a future that it owns and polls: no task is spawned, so dropping the stream
/// stops everything at once, and `reply` needs no runtime to be called.
struct Driven {
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    events: mpsc::Receiver<Item>,
}

impl Stream for Driven {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        if let Some(driver) = this.driver.as_mut()
            && driver.as_mut().poll(cx).is_ready()
        {
            this.driver = None;
        }
        // The driver holds the only sender: once it is done, this ends after the last event.
        this.events.poll_next_unpin(cx)
    }
}

async fn run<D, F>(call: Call, decoder: F, mut tx: mpsc::Sender<Item>)
where
    D: Decoder + 'static,
    F: Fn() -> D + Send + 'static,
{
    let redact = |text: &str| secret::redact(text, call.provider.key.as_ref());
    let max = call.retry.max_attempts.max(1);
    let mut delivered = false;
    let mut attempt = 1;
    loop {
        tracing::debug!(url = %call.url, attempt, "engine request");
        let failure = match attempt_once(&call, decoder(), &mut tx, &mut delivered).await {
            Ok(()) => return,
            Err(failure) => failure,
        };
        let message = match failure.transient {
            Some(transient) if !delivered && attempt < max => {
                let after = call
                    .retry
                    .delay(attempt, transient.retry_after, fastrand::f64());
                attempt += 1;
                let event = EngineEvent::Retrying {
                    attempt,
                    of: max,
                    after,
                    reason: redact(&transient.reason),
                };
                let _ = tx.send(Ok(event)).await;
                tokio::time::sleep(after).await;
                continue;
            }
            Some(_) if !delivered && max > 1 => {
                format!(
                    "{} Gave up after {max} attempts.",
                    end_sentence(&failure.message)
                )
            }
            Some(_) if delivered => format!(
                "{} The reply is incomplete.",
                end_sentence(&failure.message)
            ),
            _ => failure.message,
        };
        let _ = tx.send(Err(EngineError(redact(&message)))).await;
        return;
    }
}

/// One attempt: the request, then the stream until the reply is complete.
async fn attempt_once<D: Decoder>(
    call: &Call,
    mut decoder: D,
    tx: &mut mpsc::Sender<Item>,
    delivered: &mut bool,
) -> Result<(), Failure> {
    let p = &call.provider;
    let request = call
        .client
        .post(&call.url)
        .headers(call.headers.clone())
        .body(call.body.clone())
        .send();
    let response = match tokio::time::timeout(call.stall, request).await {
        Err(_) => return Err(stalled(p, call.stall, "no answer")),
        Ok(Err(e)) => return Err(send_failure(p, &e)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    tracing::debug!(url = %call.url, status = status.as_u16(), "engine response");
    if !status.is_success() {
        let retry_after = retry_after(response.headers());
        let body = read_limited(response, call.stall).await;
        return Err(status_failure(p, status.as_u16(), &body, retry_after));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        // Some servers answer an error, or a whole reply, as JSON despite `stream: true`.
        let body = read_limited(response, call.stall).await;
        return Err(
            match serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .as_ref()
                .and_then(ProviderError::from_json)
            {
                Some(said) => stream_error_failure(p, &said),
                None => Failure::fatal(format!(
                    "{} answered without streaming (content-type {content_type}): `{}`",
                    p.subject(),
                    p.quote(&body, 80)
                )),
            },
        );
    }

    let mut body = response.bytes_stream();
    let mut parser = SseParser::new();
    let mut text = Vec::new();
    loop {
        let (events, eof) = match tokio::time::timeout(call.stall, body.next()).await {
            Err(_) => return Err(stalled(p, call.stall, "the reply stalled")),
            Ok(Some(Err(e))) => {
                tracing::debug!(url = %call.url, error = %e, "engine body error");
                return Err(dropped(p, Some(root_cause(&e))));
            }
            Ok(Some(Ok(bytes))) => (parser.push(&bytes), false),
            Ok(None) => (parser.finish().into_iter().collect(), true),
        };
        for event in events {
            let step = decoder.event(event, &mut text)?;
            for delta in text.drain(..) {
                if !delta.is_empty() {
                    *delivered = true;
                    let _ = tx.send(Ok(EngineEvent::Delta(delta))).await;
                }
            }
            if let Step::Done(usage) = step {
                let _ = tx.send(Ok(EngineEvent::Usage(usage))).await;
                // Read the rest of the body (normally just its end) so that the connection goes
                // back to the pool for the next turn instead of being closed.
                let rest = async { while let Some(Ok(_)) = body.next().await {} };
                let _ = tokio::time::timeout(LINGER, rest).await;
                return Ok(());
            }
        }
        if eof {
            let usage = decoder.end().ok_or_else(|| dropped(p, None))?;
            let _ = tx.send(Ok(EngineEvent::Usage(usage))).await;
            return Ok(());
        }
        if parser.pending_len() > MAX_PENDING_EVENT {
            return Err(Failure::fatal(format!(
                "{} sent an event larger than {} MiB; giving up on it.",
                p.subject(),
                MAX_PENDING_EVENT >> 20
            )));
        }
    }
}

/// Nothing arrived for `after`. Before any text this is retried like a dropped connection (a
/// stuck load balancer, a server that lost the request); after text, the driver ends the turn.
fn stalled(provider: &Provider, after: Duration, what: &str) -> Failure {
    let after = if after.subsec_millis() == 0 {
        format!("{} s", after.as_secs())
    } else {
        format!("{:.1} s", after.as_secs_f64())
    };
    Failure::transient(
        format!("{what}: {} sent nothing for {after}.", provider.name),
        "no answer",
    )
}

/// The wait a response asks for: `retry-after-ms` (OpenAI) or `retry-after`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    get("retry-after-ms")
        .and_then(parse_retry_after_ms)
        .or_else(|| get("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now())))
}

/// Up to [`MAX_ERROR_BODY`] bytes of a body, as text; whatever arrived if it stalls or fails.
async fn read_limited(mut response: reqwest::Response, stall: Duration) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(stall, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(flavor: Flavor, has_key: bool) -> Provider {
        let (name, host, base_url) = match flavor {
            Flavor::Anthropic => (
                "Anthropic",
                "api.anthropic.com",
                "https://api.anthropic.com",
            ),
            Flavor::OpenAi => (
                "the server at localhost:11434",
                "localhost:11434",
                "http://localhost:11434",
            ),
        };
        Provider {
            flavor,
            name: name.into(),
            host: host.into(),
            base_url: base_url.into(),
            key: has_key.then(|| ApiKey::new("sk-test-0123456789abcdefghij").unwrap()),
        }
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(
            ProviderError::from_body(anthropic).describe().unwrap(),
            "authentication_error: invalid x-api-key"
        );
        let openai = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            ProviderError::from_body(openai).describe().unwrap(),
            "invalid_request_error: Incorrect API key"
        );
        let code_only = r#"{"error":{"message":"nope","type":null,"code":"model_not_found"}}"#;
        assert_eq!(
            ProviderError::from_body(code_only).describe().unwrap(),
            "model_not_found: nope"
        );
        let ollama = r#"{"error":"model \"llama9\" not found, try pulling it first"}"#;
        assert_eq!(
            ProviderError::from_body(ollama).describe().unwrap(),
            "model \"llama9\" not found, try pulling it first"
        );
        let vllm = r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}"#;
        assert_eq!(
            ProviderError::from_body(vllm).describe().unwrap(),
            "NotFoundError: The model `x` does not exist."
        );
        let fastapi = r#"{"detail":"Not Found"}"#;
        assert_eq!(
            ProviderError::from_body(fastapi).describe().unwrap(),
            "Not Found"
        );
        assert_eq!(ProviderError::from_body("  ").describe(), None);
    }

    #[test]
    fn quotes_are_short_single_lines_without_the_key() {
        let p = provider(Flavor::OpenAi, true);
        let html = "<html>\n<body>\u{7}502 Bad Gateway</body></html>";
        assert_eq!(
            p.quote(html, 300),
            "<html> <body>502 Bad Gateway</body></html>"
        );
        let long = "x".repeat(1000);
        assert_eq!(p.quote(&long, 300).chars().count(), 301);
        // The key is removed before the text is cut, so no piece of it survives the cut.
        let key = p.key.as_ref().unwrap().expose().to_string();
        let text = format!("{}{key}", "y".repeat(290));
        let quoted = p.quote(&text, 300);
        assert!(!quoted.contains("sk-test"), "{quoted}");
    }

    #[test]
    fn statuses_become_sentences() {
        let a = provider(Flavor::Anthropic, true);
        let body = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        let f = status_failure(&a, 401, body, None);
        assert!(f.transient.is_none());
        assert!(f.message.contains("ANTHROPIC_API_KEY"), "{}", f.message);
        assert!(
            f.message
                .contains("401 authentication_error: invalid x-api-key")
        );

        let body =
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#;
        let f = status_failure(&a, 404, body, None);
        assert!(
            f.message.starts_with(
                "Anthropic refused the request (404 not_found_error: model: claude-nope)"
            ),
            "{}",
            f.message
        );

        let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#;
        let f = status_failure(&a, 400, body, None);
        assert!(f.message.contains("/compact"), "{}", f.message);

        let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let f = status_failure(&a, 529, body, Some(Duration::from_secs(3)));
        let t = f.transient.unwrap();
        assert_eq!(t.reason, "overloaded (529)");
        assert_eq!(t.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(
            f.message,
            "Anthropic answered 529 overloaded_error: Overloaded."
        );

        for status in [408, 429, 500, 502, 503, 504] {
            assert!(status_failure(&a, status, "", None).transient.is_some());
        }
        for status in [400, 401, 403, 404, 405, 413, 418, 422] {
            assert!(status_failure(&a, status, "", None).transient.is_none());
        }

        let o = provider(Flavor::OpenAi, false);
        let f = status_failure(&o, 401, "", None);
        assert!(
            f.message
                .starts_with("The server at localhost:11434 needs an API key"),
            "{}",
            f.message
        );
        assert!(f.message.contains("OPENAI_API_KEY"));
        let f = status_failure(&o, 404, "404 page not found", None);
        assert!(
            f.message.contains("--base-url") && f.message.contains("/v1"),
            "{}",
            f.message
        );
        let o = provider(Flavor::OpenAi, true);
        assert!(
            status_failure(&o, 401, "", None)
                .message
                .contains("did not accept the API key")
        );
    }

    #[test]
    fn stream_errors_retry_unless_permanent() {
        let a = provider(Flavor::Anthropic, true);
        let over = ProviderError {
            kind: Some("overloaded_error".into()),
            message: Some("Overloaded".into()),
            ..Default::default()
        };
        let f = stream_error_failure(&a, &over);
        assert_eq!(f.transient.unwrap().reason, "overloaded");
        assert_eq!(
            f.message,
            "Anthropic reported an error: overloaded_error: Overloaded."
        );
        let bad = ProviderError {
            kind: Some("invalid_request_error".into()),
            ..Default::default()
        };
        assert!(stream_error_failure(&a, &bad).transient.is_none());
        assert!(
            stream_error_failure(&a, &ProviderError::default())
                .transient
                .is_some()
        );
    }

    #[test]
    fn a_spent_quota_is_not_retried_whatever_the_status() {
        let o = provider(Flavor::OpenAi, true);
        let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let f = status_failure(&o, 429, quota, Some(Duration::from_secs(1)));
        assert!(f.transient.is_none(), "{f:?}");
        assert!(
            f.message.contains("429 insufficient_quota"),
            "{}",
            f.message
        );
        assert!(f.message.contains("billing"), "{}", f.message);
        assert!(!f.message.contains(".."), "{}", f.message);
        // Permanent by its code alone, too.
        let coded = r#"{"error":{"message":"no","type":"requests","code":"insufficient_quota"}}"#;
        assert!(status_failure(&o, 429, coded, None).transient.is_none());
        let auth = r#"{"type":"error","error":{"type":"authentication_error","message":"bad"}}"#;
        assert!(status_failure(&o, 503, auth, None).transient.is_none());
        // An ordinary rate limit is still retried.
        let limit = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}"#;
        let f = status_failure(&o, 429, limit, None);
        assert_eq!(f.transient.unwrap().reason, "rate limited (429)");
    }

    #[test]
    fn stream_errors_are_labelled_by_what_they_mean() {
        let o = provider(Flavor::OpenAi, true);
        let said = |v: &str| ProviderError::from_json(&serde_json::from_str(v).unwrap()).unwrap();
        let reason = |v: &str| {
            stream_error_failure(&o, &said(v))
                .transient
                .map(|t| t.reason)
        };
        let cases = [
            (
                r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
                Some("rate limited"),
            ),
            (
                r#"{"error":{"message":"Rate limit reached","type":"tokens","code":null}}"#,
                Some("rate limited"),
            ),
            (
                r#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#,
                Some("rate limited"),
            ),
            (
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                Some("overloaded"),
            ),
            (
                r#"{"error":{"message":"boom","type":"server_error"}}"#,
                Some("server_error"),
            ),
            (r#"{"error":"model crashed"}"#, Some("error in the stream")),
            (
                r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#,
                None,
            ),
            (
                r#"{"error":{"message":"no","type":"requests","code":"invalid_api_key"}}"#,
                None,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(reason(body).as_deref(), want, "{body}");
        }
    }

    #[test]
    fn messages_end_with_one_full_stop() {
        let o = provider(Flavor::OpenAi, true);
        let body = r#"{"error":{"message":"No model was provided.","type":"server_error"}}"#;
        assert_eq!(
            status_failure(&o, 500, body, None).message,
            "The server at localhost:11434 answered 500 server_error: No model was provided."
        );
        assert_eq!(
            status_failure(&o, 418, "I'm a teapot", None).message,
            "The server at localhost:11434 answered 418 I'm a teapot."
        );
        let said = ProviderError {
            kind: Some("overloaded_error".into()),
            message: Some("Retry attempted.".into()),
            ..Default::default()
        };
        assert_eq!(
            stream_error_failure(&o, &said).message,
            "The server at localhost:11434 reported an error: overloaded_error: Retry attempted."
        );
    }

    #[test]
    fn a_stall_is_worth_another_attempt() {
        let o = provider(Flavor::OpenAi, false);
        let f = stalled(&o, Duration::from_millis(1500), "no answer");
        assert_eq!(
            f.message,
            "no answer: the server at localhost:11434 sent nothing for 1.5 s."
        );
        assert!(f.transient.is_some());
    }

    #[test]
    fn urls() {
        assert_eq!(
            endpoint("http://h:1/", "v1/messages"),
            "http://h:1/v1/messages"
        );
        assert_eq!(
            endpoint("http://h:1/v1", "chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        let u = parse_base_url("http://localhost:11434/v1", "OpenAI").unwrap();
        assert_eq!(host_of(&u), "localhost:11434");
        assert!(parse_base_url("localhost:11434", "OpenAI").is_err());
        assert!(parse_base_url("ftp://x", "OpenAI").is_err());
        assert!(
            parse_base_url("not a url", "OpenAI")
                .unwrap_err()
                .0
                .contains("not a URL")
        );
        for local in [
            "http://localhost:1",
            "http://127.0.0.1:1",
            "http://[::1]:1/v1",
        ] {
            assert!(is_loopback(&reqwest::Url::parse(local).unwrap()), "{local}");
        }
        assert!(!is_loopback(
            &reqwest::Url::parse("https://api.openai.com/v1").unwrap()
        ));
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("a\n  b\tc", 10), "a b c");
        assert_eq!(shorten("héllo wörld", 5), "héllo…");
    }
}
