//! Sending one push message to one subscription (RFC 8030 §5), and what the push service's
//! answer means. The rules are pure ([`verdict`], [`retry_after`], [`backoff`]); [`Sender`]
//! only carries them out.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::vapid::Vapid;

/// Attempts per message, the first included.
pub const ATTEMPTS: u32 = 5;

/// The longest wait a push service's `Retry-After` is obeyed for; a longer one gives up (the
/// notification would be stale).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// How long a push service has to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the push service keeps a message for a browser that is offline (RFC 8030 §5.2): a
/// call to come back to the session is worth little after an hour.
pub const TTL: Duration = Duration::from_secs(60 * 60);

/// What a push service's status means for the message and the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted (`201`, or any `2xx`).
    Delivered,
    /// The subscription is gone for good (`404`, `410`): forget it.
    Gone,
    /// Try again later (`429`, `5xx`, `408`).
    Retry,
    /// Refused for a reason a retry will not change (`400`, `401`, `403`, `413`…): drop it.
    Refused,
}

/// The verdict on an answer's status.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        404 | 410 => Verdict::Gone,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Refused,
    }
}

/// The wait a `Retry-After` value asks for (delta seconds or an HTTP date, RFC 9110 §10.2.3),
/// if it is one and no longer than [`MAX_RETRY_AFTER`]; `Err` when it asks for longer.
pub fn retry_after(value: Option<&str>, now: SystemTime) -> Result<Option<Duration>, Duration> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => match httpdate::parse_http_date(value) {
            Ok(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
            Err(_) => return Ok(None),
        },
    };
    if wait > MAX_RETRY_AFTER {
        Err(wait)
    } else {
        Ok(Some(wait))
    }
}

/// The wait before attempt `attempt + 1` when the service named none: 1 s, doubling, at most
/// 30 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(Duration::from_secs(30))
}

/// Where and how to reach one browser: its subscription as stored.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its id among the account's subscriptions.
    pub id: i64,
    /// The checked endpoint.
    pub endpoint: http::Uri,
    /// The endpoint as stored, which names the subscription to forget if it is gone.
    pub stored: String,
    /// The browser's P-256 key.
    pub key: p256::PublicKey,
    /// The browser's authentication secret.
    pub auth: [u8; 16],
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt {
    /// The push service answered with this status and `Retry-After`.
    Answered(u16, Option<String>),
    /// No answer: the network, a timeout, TLS.
    Failed(String),
}

/// Sends push messages: the HTTP client (no redirects: a push service never needs one, and
/// following one would take the relay wherever the answer points) and the VAPID identity.
#[derive(Clone)]
pub struct Sender {
    http: reqwest12::Client,
    vapid: Arc<Vapid>,
}

impl Sender {
    /// A sender signing as `vapid`.
    pub fn new(vapid: Arc<Vapid>) -> Result<Sender, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS for pushes: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest12::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest12::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the push client: {e}"))?;
        Ok(Sender { http, vapid })
    }

    /// The VAPID identity pushes are signed with.
    pub fn vapid(&self) -> &Vapid {
        &self.vapid
    }

    /// One attempt to hand `message` to `target`'s push service, encrypted for it (RFC 8291,
    /// `aes128gcm`) and signed (RFC 8292). `urgency` is RFC 8030 §5.3's.
    pub async fn attempt(&self, target: &Target, message: &[u8], urgency: &str) -> Attempt {
        let auth = web_push_native::Auth::clone_from_slice(&target.auth);
        let request =
            web_push_native::WebPushBuilder::new(target.endpoint.clone(), target.key, auth)
                .with_valid_duration(TTL)
                .build(message.to_vec());
        let mut request = match request {
            Ok(request) => request,
            Err(e) => return Attempt::Failed(format!("cannot encrypt the message: {e}")),
        };
        let authorization = match self.vapid.authorization(&target.endpoint) {
            Ok(header) => header,
            Err(e) => return Attempt::Failed(e),
        };
        let (Ok(authorization), Ok(urgency)) = (
            http::HeaderValue::from_str(&authorization),
            http::HeaderValue::from_str(urgency),
        ) else {
            return Attempt::Failed("a header is not valid text".into());
        };
        let headers = request.headers_mut();
        headers.insert(http::header::AUTHORIZATION, authorization);
        headers.insert("urgency", urgency);
        let request = match reqwest12::Request::try_from(request) {
            Ok(request) => request,
            Err(e) => return Attempt::Failed(chain(&e)),
        };
        match self.http.execute(request).await {
            Ok(response) => {
                let retry = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Attempt::Answered(response.status().as_u16(), retry)
            }
            Err(e) => Attempt::Failed(chain(&e)),
        }
    }
}

/// An error with its causes, as one line: reqwest's own message rarely says what failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_has_its_verdict() {
        for s in [200, 201, 202, 204] {
            assert_eq!(verdict(s), Verdict::Delivered, "{s}");
        }
        for s in [404, 410] {
            assert_eq!(verdict(s), Verdict::Gone, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(verdict(s), Verdict::Retry, "{s}");
        }
        for s in [301, 302, 400, 401, 403, 413, 418] {
            assert_eq!(verdict(s), Verdict::Refused, "{s}");
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_bounded() {
        let now = httpdate::parse_http_date("Fri, 04 Dec 2026 21:00:00 GMT").unwrap();
        assert_eq!(retry_after(None, now), Ok(None));
        assert_eq!(
            retry_after(Some("7"), now),
            Ok(Some(Duration::from_secs(7)))
        );
        assert_eq!(
            retry_after(Some("Fri, 04 Dec 2026 21:00:30 GMT"), now),
            Ok(Some(Duration::from_secs(30)))
        );
        assert_eq!(
            retry_after(Some("Fri, 04 Dec 2026 20:00:00 GMT"), now),
            Ok(Some(Duration::ZERO)),
            "a date in the past: at once"
        );
        assert_eq!(retry_after(Some("soon"), now), Ok(None));
        assert_eq!(retry_after(Some("-3"), now), Ok(None));
        assert_eq!(
            retry_after(Some("86400"), now),
            Err(Duration::from_secs(86400))
        );
    }

    #[test]
    fn the_backoff_doubles_up_to_half_a_minute() {
        let waits: Vec<u64> = (0..8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
