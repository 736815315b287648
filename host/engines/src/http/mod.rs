//! What the HTTP engines share, one job to a file:
//!
//! - `client` and `url`: the HTTP client (TLS, connect timeout, proxies) and the configured base
//!   URLs;
//! - `endpoint`: where a turn is posted and with which headers, fixed once per engine;
//! - `attempts`: one turn, attempt after attempt, retried by the [`retry`] policy; `attempt`: one
//!   request and its streamed reply, its events framed by `tether-sse` and read by the
//!   provider's `Decoder` (`decoder`);
//! - `failure`, `provider_error` and `provider`: what went wrong, as a sentence for the user that
//!   names the provider and quotes what it said (without the key).
//!
//! Cancellation: the turn is a future owned by the stream handed to the session. Dropping the
//! stream drops the future, and with it the response, which closes the connection at once.

mod attempt;
mod attempts;
mod client;
mod decoder;
mod endpoint;
mod failure;
mod provider;
mod provider_error;
pub mod retry;
mod url;

pub use client::CONNECT_TIMEOUT;
pub use decoder::SseEvent;
pub use endpoint::STALL_TIMEOUT;
pub use retry::{RetryPolicy, parse_retry_after, parse_retry_after_ms};

pub(crate) use decoder::{Decoder, Step};
pub(crate) use endpoint::{Endpoint, key_header};
pub(crate) use failure::{Failure, stream_error_failure, unreadable};
pub(crate) use provider::{Flavor, Provider};
pub(crate) use provider_error::ProviderError;
pub(crate) use url::{endpoint, host_of, parse_base_url};
