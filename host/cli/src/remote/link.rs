//! The connection between this terminal and a relay: the embedded one (started here, on a port a
//! phone on the same network can reach) or a hosted one (from `tether login`). Either way the
//! terminal is an ordinary worker speaking docs/protocol.md over HTTP, so both paths are the same
//! code and the embedded relay is tested by every hosted-mode test too.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tether_bridge::api::Reach;
use tether_bridge::{
    Api, Credentials, Inbound, Protection, TokenSource, Transport, WorkerConfig, WorkerHandle,
};
use tether_protocol::RelayKind;
use tether_relay::config::TlsFiles;
use tether_relay::{Relay, RelayConfig};
use tether_seal::SessionKey;
use tether_session::Dirs;
use tokio::sync::mpsc::UnboundedReceiver;

use super::lan;
use crate::args::{RemoteArgs, TransportArg};
use crate::credentials;

/// How long a QR code's pairing secret stays valid. `/session` shows a fresh one afterwards.
pub const PAIRING_TTL: Duration = Duration::from_secs(10 * 60);

pub struct Embedded {
    relay: Relay,
    account: i64,
    secret: String,
    _db: tempfile::TempDir,
}

pub struct Link {
    pub worker: WorkerHandle,
    pub inbound: UnboundedReceiver<Inbound>,
    pub session_id: String,
    /// The session's page on the relay, without any pairing secret or key.
    pub page: String,
    /// The session key: it reaches a browser only in the link's fragment, never the relay.
    pub key: SessionKey,
    pub embedded: Option<Embedded>,
}

impl Link {
    pub async fn start(args: &RemoteArgs, dirs: &Dirs, title: &str) -> Result<Link> {
        let saved = if args.local {
            None
        } else {
            credentials::load(dirs)?
        };
        let transport = match args.transport {
            TransportArg::Sse => Transport::Sse,
            TransportArg::Ws => Transport::Ws,
        };
        match (&args.server, saved) {
            (Some(server), Some(saved)) if same_server(server, &saved.server) => {
                hosted(saved, dirs, title, transport).await
            }
            (Some(server), _) => {
                bail!("not logged in to {server}: run `tether login --server {server}` first")
            }
            (None, Some(_)) if embedded_only(args) => {
                bail!("--tls-cert and --public-host are for the embedded relay: add --local")
            }
            (None, Some(saved)) => hosted(saved, dirs, title, transport).await,
            (None, None) => embedded(args, title, transport).await,
        }
    }

    /// The URL to show: the session key in its fragment (which browsers never send to a
    /// server, and keep across the pairing redirect), after the one-time pairing secret on the
    /// embedded relay.
    pub fn url(&self) -> String {
        let fragment = self.key.fragment();
        match &self.embedded {
            Some(e) => format!("{}?pair={}#{fragment}", self.page, e.secret),
            None => format!("{}#{fragment}", self.page),
        }
    }

    /// A new key generation (`/session revoke`): devices that scanned before can no longer read
    /// new events or send accepted ones. Returns the new URL.
    pub fn rotate_key(&mut self) -> Result<String> {
        self.key = self
            .key
            .next()
            .map_err(|e| anyhow::anyhow!("cannot make a new session key: {e}"))?;
        self.worker.rekey(&self.key);
        Ok(self.url())
    }

    /// Replace a spent or expired pairing secret; `true` when the URL changed.
    pub fn refresh_pairing(&mut self) -> bool {
        let Some(e) = &mut self.embedded else {
            return false;
        };
        if e.relay.pairing_live(&e.secret) {
            return false;
        }
        e.secret = e.relay.pairing_secret(e.account, PAIRING_TTL);
        true
    }

    pub async fn shutdown(self) {
        self.worker.shutdown().await;
        if let Some(e) = self.embedded {
            let _ = e.relay.stop().await;
        }
    }
}

/// Flags that only the embedded relay uses: with them a saved login must not silently win.
fn embedded_only(args: &RemoteArgs) -> bool {
    args.tls_cert.is_some() || args.public_host.is_some()
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Create the session on the relay and start its worker: the same for both kinds of relay.
async fn open_session(
    api: Api,
    tokens: TokenSource,
    access: &str,
    title: &str,
    transport: Transport,
    embedded: Option<Embedded>,
) -> Result<Link> {
    let created = api
        .create_session(access, Some(title))
        .await
        .map_err(|e| anyhow::anyhow!("cannot create a session on {}: {e}", api.base_url))?;
    let key =
        SessionKey::generate(0).map_err(|e| anyhow::anyhow!("cannot make the session key: {e}"))?;
    let config = WorkerConfig {
        transport,
        ..WorkerConfig::new(
            api,
            tokens,
            created.id.clone(),
            Protection::EndToEnd(key.clone()),
        )
    };
    let (worker, inbound) = tether_bridge::spawn(config);
    Ok(Link {
        worker,
        inbound,
        session_id: created.id.to_string(),
        page: created.url,
        key,
        embedded,
    })
}

async fn hosted(
    saved: Credentials,
    dirs: &Dirs,
    title: &str,
    transport: Transport,
) -> Result<Link> {
    let api = Api::new(&saved.server).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokens = TokenSource::new(api.clone(), saved.clone());
    // Refreshed tokens are saved as they rotate: the old refresh token is dead once used.
    let mut changes = tokens.subscribe();
    let dirs = dirs.clone();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let latest = changes.borrow_and_update().clone();
            if let Err(e) = credentials::save(&dirs, &latest) {
                tracing::warn!("could not save the refreshed login: {e:#}");
            }
        }
    });
    let access = tokens.access_token().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot use the saved login for {}: {e} (run `tether login --server {}` again)",
            saved.server,
            saved.server
        )
    })?;
    open_session(api, tokens, &access, title, transport, None).await
}

async fn embedded(args: &RemoteArgs, title: &str, transport: Transport) -> Result<Link> {
    let listen = args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("cannot listen on {listen} (choose another address with --listen)")
        })?;
    let bound = listener.local_addr()?;
    let public = lan::public_host(
        bound,
        if bound.ip().is_unspecified() {
            lan::outward_address()
        } else {
            None
        },
    );
    let dir = tempfile::Builder::new()
        .prefix("tether-relay-")
        .tempdir()
        .context("cannot create the embedded relay's database")?;
    // clap makes the two TLS flags go together.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let public_url = lan::public_url(tls.is_some(), args.public_host.as_deref(), public)
        .map_err(anyhow::Error::msg)?;
    let mut config = RelayConfig::new(dir.path().join("relay.db"));
    config.kind = RelayKind::Local;
    config.extra_origins = lan::local_origins_like(&public_url, bound.port());
    config.public_url = Some(public_url.clone());
    config.require_trusted_device = false;
    config.tls = tls.clone();
    let relay = Relay::serve(config, listener).await?;
    // The worker reaches its own relay over loopback (or the one address it is bound to).
    let own = if bound.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], bound.port()))
    } else {
        bound
    };
    // Over TLS it uses the link's URL, so that the certificate is checked against the host the
    // link names (and trusted because it is the one this relay serves); a name is sent to the
    // relay's own address rather than looked up.
    let (base, reach) = match &tls {
        Some(files) => (
            public_url,
            Reach {
                extra_roots: vec![files.cert.clone()],
                connect_to: Some(own.ip()),
            },
        ),
        None => (lan::base_url(own), Reach::default()),
    };
    let login = relay.local_login("local").await?;
    let credentials = Credentials::from_tokens(&base, &login.tokens, tether_relay::store::now());
    let api = Api::reaching(&base, &reach).map_err(|e| anyhow::anyhow!("{e}"))?;
    let tokens = TokenSource::new(api.clone(), credentials);
    let secret = relay.pairing_secret(login.account, PAIRING_TTL);
    let embedded = Embedded {
        relay,
        account: login.account,
        secret,
        _db: dir,
    };
    let access = login.tokens.access_token;
    open_session(api, tokens, &access, title, transport, Some(embedded)).await
}
