//! Where an HTTP engine sends its turns and how: the URL, the headers with the key, the retry
//! policy and the stall timeout, fixed once per engine and sent as a [`Call`] per turn.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::attempts::stream;
use super::client::client;
use super::decoder::Decoder;
use super::provider::{Flavor, Provider};
use super::retry::RetryPolicy;
use crate::{EngineError, EngineStream};

/// How long a reply may go without a single byte before the turn is abandoned.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);

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

/// One turn's request, ready to be sent as many times as retries need.
pub(crate) struct Call {
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
