//! A push service on loopback, standing in for FCM or Mozilla's autopush: it records every
//! request sent to an endpoint and answers as a test scripts it (`201` by default). One per test
//! process, on a runtime of its own so that it outlives each test's; once it is started, every
//! test relay may push to it ([`super::test_config`]). The subscriptions it hands out come with
//! their private keys, so a test can decrypt what the relay sent.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A request the service received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// Its body: the encrypted message.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

/// A browser's subscription at this service, with the secrets a browser keeps to itself.
#[derive(Debug, Clone)]
pub struct TestSubscription {
    /// The URL the relay is to push to.
    pub endpoint: String,
    /// Its path at the service, under which requests are recorded.
    pub path: String,
    /// The public key, as `PushSubscription.toJSON()` gives it.
    pub p256dh: String,
    /// The authentication secret, likewise.
    pub auth: String,
    /// The private key's scalar, base64url: what decrypts the messages.
    pub private_key: String,
}

#[derive(Default)]
struct Book {
    received: HashMap<String, Vec<Received>>,
    answers: HashMap<String, VecDeque<(u16, Option<String>)>>,
}

/// The service.
pub struct PushService {
    origin: String,
    book: Arc<Mutex<Book>>,
}

static SERVICE: OnceLock<PushService> = OnceLock::new();

impl PushService {
    /// The process's service, started on first use.
    pub fn get() -> &'static PushService {
        SERVICE.get_or_init(PushService::start)
    }

    /// Its origin, once started: what [`super::test_config`] lets relays push to.
    pub fn started_origin() -> Option<&'static str> {
        SERVICE.get().map(|s| s.origin.as_str())
    }

    fn start() -> PushService {
        let book: Arc<Mutex<Book>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let served = book.clone();
        std::thread::Builder::new()
            .name("push-service".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port");
                    tx.send(listener.local_addr().expect("an address"))
                        .expect("the test waits");
                    let app = axum::Router::new().fallback(
                        move |uri: Uri, headers: HeaderMap, body: Bytes| {
                            let book = served.clone();
                            async move { record(&book, uri, headers, body) }
                        },
                    );
                    axum::serve(listener, app)
                        .await
                        .expect("the push service runs");
                });
            })
            .expect("a thread");
        let addr = rx.recv().expect("the push service listens");
        PushService {
            origin: format!("http://{addr}"),
            book,
        }
    }

    /// The service's origin, `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A new subscription: a fresh key pair, secret and endpoint.
    pub fn subscribe(&self) -> TestSubscription {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = loop {
            let bytes = crate::auth::secret::random_bytes::<32>();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let path = format!("/push/{}", uuid::Uuid::new_v4().simple());
        TestSubscription {
            endpoint: format!("{}{path}", self.origin),
            path,
            p256dh: URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes()),
            auth: URL_SAFE_NO_PAD.encode(crate::auth::secret::random_bytes::<16>()),
            private_key: URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        }
    }

    /// Answer the next requests to `path` with these statuses and `Retry-After` values, in
    /// order; `201` after them.
    pub fn answer(&self, path: &str, answers: &[(u16, Option<&str>)]) {
        let mut book = self.book.lock().unwrap();
        book.answers.insert(
            path.to_owned(),
            answers
                .iter()
                .map(|(s, r)| (*s, r.map(str::to_owned)))
                .collect(),
        );
    }

    /// What `path` has received so far.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let book = self.book.lock().unwrap();
        book.received.get(path).cloned().unwrap_or_default()
    }

    /// Wait until `path` has received `n` requests (or `within` passes); what it has then.
    pub async fn wait(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received(path);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn record(
    book: &Mutex<Book>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path().to_owned();
    let mut book = book.lock().unwrap();
    book.received
        .entry(path.clone())
        .or_default()
        .push(Received {
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: body.to_vec(),
            at: Instant::now(),
        });
    let (status, retry_after) = book
        .answers
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or((201, None));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    match retry_after {
        Some(after) => (status, [("retry-after", after)]).into_response(),
        None => status.into_response(),
    }
}
