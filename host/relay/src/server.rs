//! Starting and stopping a relay: bind, open the database, run the presence sweeper, serve.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::origin::origin_of;
use crate::config::RelayConfig;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::state::{AppState, Shared};
use crate::store::{self, Store, accounts};
use crate::{conn, presence, routes};

/// The terminal's login on its embedded relay.
pub struct LocalLogin {
    /// The embedded relay's one account.
    pub account: i64,
    /// The terminal's OAuth tokens for it, as a device login would have issued.
    pub tokens: tether_protocol::api::TokenResponse,
}

/// A running relay.
pub struct Relay {
    addr: SocketAddr,
    public_url: String,
    state: Shared,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    /// Following the other nodes on the database (PostgreSQL only).
    followers: Vec<JoinHandle<()>>,
    /// `--metrics-listen`: where it listens, and its server.
    metrics: Option<(SocketAddr, JoinHandle<std::io::Result<()>>)>,
}

impl Relay {
    /// Bind `listen` (port 0 picks a free port), open the database and start serving.
    pub async fn start(config: RelayConfig, listen: SocketAddr) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Self::serve(config, listener).await
    }

    /// Serve on `listener`, already bound (by a caller that needed the port first).
    pub async fn serve(config: RelayConfig, listener: TcpListener) -> anyhow::Result<Relay> {
        let addr = listener.local_addr()?;
        // Before anything else: a certificate that cannot be used is an error at start, with
        // nothing served.
        let tls = config.tls.as_ref().map(conn::Tls::load).transpose()?;
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => default_public_url(addr, tls.is_some()),
        };
        let public_origin = origin_of(&public_url)
            .with_context(|| format!("--public-url `{public_url}` is not an http(s) URL"))?;
        let mut allowed_origins = vec![public_origin];
        for extra in &config.extra_origins {
            allowed_origins
                .push(origin_of(extra).with_context(|| format!("`{extra}` is not an origin"))?);
        }
        let connections = conn::Settings::resolve(&config.connections)?;
        let metrics_listener = match config.metrics_listen {
            Some(at) => Some(
                TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen on {at} for /metrics"))?,
            ),
            None => None,
        };
        let location = config.store.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&location))
            .await?
            .with_context(|| {
                format!("cannot open the relay database {}", config.store.display())
            })?;
        let jwt_key = match &config.jwt_key {
            Some(key) => key.clone(),
            None => {
                crate::auth::jwt_key::JwtKey::from_bytes(store.write(|c| store::jwt_key(c)).await?)
            }
        };
        let fingerprint = jwt_key.fingerprint();
        let recorded = fingerprint.clone();
        let before = store
            .write(move |c| store::record_jwt_key_fingerprint(c, &recorded))
            .await?;
        if let Some(before) = before.filter(|b| *b != fingerprint) {
            tracing::warn!(
                "this node signs worker tokens with key {fingerprint} but the last node to start used {before}: \
                 nodes with different keys refuse each other's worker tokens (workers register again). \
                 Expected once after rotating --jwt-key-file; otherwise give every node the same file"
            );
        }
        let jwt_key = *jwt_key.bytes();
        let fresh = crate::push::vapid::Vapid::generate_secret();
        let vapid_secret = store
            .write(move |c| store::push::vapid_key(c, &fresh))
            .await?;
        let contact = config.push.contact.clone().unwrap_or_else(|| {
            if public_url.starts_with("https://") {
                public_url.clone()
            } else {
                "mailto:relay@localhost".into()
            }
        });
        let vapid = crate::push::vapid::Vapid::from_secret(&vapid_secret, contact)
            .map_err(anyhow::Error::msg)?;
        let push = crate::push::Push::new(
            crate::push::endpoint::Services::new(config.push.services.clone()),
            vapid,
        )
        .map_err(anyhow::Error::msg)?;
        let several = store.dialect() == store::Dialect::Postgres;
        if !several {
            // One node: a stream on record was a previous process's, and it is gone.
            store.write(|c| store::streams::prune(c, u64::MAX)).await?;
        }
        if let Some(url) = &config.nodes.redis_url {
            if !several {
                anyhow::bail!(
                    "--redis-url connects relay nodes that share a PostgreSQL database (--database-url); a SQLite relay is one node"
                );
            }
            redis::Client::open(url.as_str())
                .map_err(|e| anyhow::anyhow!("the Redis URL is not usable: {e}"))?;
        }
        let (nodes, pending) = if several {
            let (nodes, pending) = crate::nodes::Nodes::new(&config.nodes);
            (nodes, Some(pending))
        } else {
            (crate::nodes::Nodes::alone(), None)
        };
        let (stop, shutdown) = watch::channel(false);
        // Streams end (asking their readers to move) once the listener has closed, not before.
        let (draining, drain) = watch::channel(false);
        let metrics = Metrics::new(store.metrics());
        let state = Arc::new(AppState {
            metrics,
            remembered: Default::default(),
            cookie_secure: crate::auth::cookie::is_secure(&public_url),
            public_url: public_url.clone(),
            allowed_origins,
            cookie_name: crate::auth::cookie::name(&public_url),
            passwords: crate::auth::hashing::PasswordGate::new(
                config.throttle.password_workers,
                config.throttle.password_queue,
            )
            .context("cannot start the password-check threads")?,
            node: uuid::Uuid::new_v4().to_string(),
            config,
            store,
            hub: Hub::default(),
            nodes,
            jwt_key,
            push,
            pairings: Mutex::new(Default::default()),
            shutdown: drain,
        });
        presence::restore(&state).await?;
        crate::revocation::restore(&state).await?;
        let app = routes::router(state.clone());
        let max_connections = connections.max_connections;
        // A scraper needs a connection or two; the rest of the descriptors are the public's.
        let metrics_connections = conn::Settings {
            max_connections: METRICS_CONNECTIONS.min(max_connections),
            ..connections.clone()
        };
        let server = tokio::spawn(conn::serve(
            listener,
            app,
            connections,
            tls,
            shutdown.clone(),
            Some(draining),
        ));
        let metrics = match metrics_listener {
            Some(listener) => Some(serve_metrics(
                listener,
                state.clone(),
                metrics_connections,
                shutdown.clone(),
            )?),
            None => None,
        };
        let followers = match pending {
            Some(pending) => crate::nodes::run(state.clone(), pending, shutdown.clone()),
            None => Vec::new(),
        };
        let sweeper = tokio::spawn(sweep(state.clone(), shutdown));
        tracing::info!(%addr, %public_url, max_connections, "relay serving");
        Ok(Relay {
            addr,
            public_url,
            state,
            stop,
            server,
            sweeper,
            followers,
            metrics,
        })
    }

    /// The embedded relay's own user: ensure the account `name` exists (with no usable password:
    /// nobody logs in to it with a form) and log the terminal in as it, as a device login
    /// would. The terminal then talks to its relay over HTTP like any worker.
    pub async fn local_login(&self, name: &str) -> anyhow::Result<LocalLogin> {
        let name = name.to_owned();
        let lifetimes = self.state.config.lifetimes.clone();
        let (account, tokens) = self
            .state
            .store
            .write(move |c| {
                let now = store::now();
                let account = match accounts::credentials(c, &name)? {
                    Some((id, _)) => id,
                    None => accounts::add(c, &name, "!", now)?.expect("absent a moment ago"),
                };
                let family = uuid::Uuid::new_v4().to_string();
                let tokens = crate::routes::api::oauth::issue_pair(
                    c, account, &family, now, now, &lifetimes,
                )?;
                Ok((account, tokens))
            })
            .await?;
        Ok(LocalLogin { account, tokens })
    }

    /// A fresh one-time secret for the QR code: it logs whoever opens
    /// `…/code/<id>?pair=<secret>` in as `account`, once, within `ttl`.
    pub fn pairing_secret(&self, account: i64, ttl: std::time::Duration) -> String {
        self.state.pairings().issue(account, ttl, Instant::now())
    }

    /// Whether `secret` has not been used yet and has not expired.
    pub fn pairing_live(&self, secret: &str) -> bool {
        self.state.pairings().is_live(secret, Instant::now())
    }

    /// Where the public listener is bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL browsers use, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Where `/metrics` is served, with `metrics_listen`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    /// Stop accepting, tell every stream to reconnect (docs/protocol.md 5.6), let requests in
    /// progress finish within the grace period, and wait for the server to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.sweeper.abort();
        for task in &self.followers {
            task.abort();
        }
        self.server.await??;
        if let Some((_, metrics)) = self.metrics {
            metrics.await??;
        }
        drop(self.state);
        Ok(())
    }

    /// Serve until the server fails or Ctrl-C / SIGTERM arrives.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        let signal = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
        };
        tokio::pin!(signal);
        let mut relay = self;
        tokio::select! {
            result = &mut relay.server => return Ok(result??),
            _ = &mut signal => {}
        }
        tracing::info!("stopping the relay: streams are told to reconnect elsewhere");
        relay.stop().await
    }
}

/// `/metrics` on a listener of its own, until the relay stops.
/// Connections the `/metrics` listener keeps open at once.
const METRICS_CONNECTIONS: usize = 16;

/// The `/metrics` listener gets the same accept loop as the public one: header timeout, a
/// (small) connection cap, and a shutdown that a half-sent request cannot hold up.
fn serve_metrics(
    listener: TcpListener,
    state: Shared,
    settings: conn::Settings,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let addr = listener.local_addr()?;
    let app = routes::metrics_router(state);
    // Plain HTTP even when the public listener has TLS: this one is for a private network.
    let server = tokio::spawn(conn::serve(listener, app, settings, None, shutdown, None));
    tracing::info!(%addr, "metrics serving");
    Ok((addr, server))
}

/// The public URL when `--public-url` is not given: the address the relay listens on, over
/// HTTPS when it serves TLS itself (so the login cookie is `__Host-` and `Secure`).
fn default_public_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

async fn sweep(state: Shared, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.config.liveness.sweep_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        presence::sweep(&state).await;
        // A stripe of sessions at a time: one session held up in the database holds up only
        // the sessions that share its order, not the whole sweep's worth.
        for group in store::group_by_order(state.hub.idle()) {
            state
                .store
                .ordered(&group, |order| state.hub.evict_idle(order, &group))
                .await;
        }
        limits_sweep(&state).await;
    }
}

/// Renew the leases of this node's streams, and forget the throttles' spent buckets and the
/// streams whose node stopped renewing them. A failure (the database away) is logged: the
/// leases then run out, which frees places rather than holding them.
async fn limits_sweep(state: &Shared) {
    let node = state.node.clone();
    let lease = u64::try_from(state.stream_lease().as_millis()).unwrap_or(u64::MAX);
    let swept = state
        .store
        .write(move |c| {
            let now = store::now_ms();
            store::streams::renew(c, &node, now.saturating_add(lease))?;
            store::streams::prune(c, now)?;
            store::throttles::prune(c, now)
        })
        .await;
    if let Err(e) = swept {
        tracing::warn!(error = %e, "could not renew this node's stream leases");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_tls_the_default_public_url_is_https() {
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(default_public_url(addr, true), "https://127.0.0.1:8443");
        assert_eq!(default_public_url(addr, false), "http://127.0.0.1:8443");
        let v6: SocketAddr = "[::1]:8443".parse().unwrap();
        assert_eq!(default_public_url(v6, true), "https://[::1]:8443");
        assert!(crate::auth::cookie::is_secure(&default_public_url(
            addr, true
        )));
    }
}
