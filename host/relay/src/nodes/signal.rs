//! Redis pub/sub between nodes: each commit announced on one channel, every node listening.
//! Messages are hints, the database being the truth: a lost one costs a reader the poll
//! interval, a malformed one is ignored, and with Redis down the nodes go on through the poll
//! alone, reconnecting every second.

use std::time::Duration;

use futures::StreamExt;
use tether_protocol::SessionId;
use tokio::sync::{mpsc, watch};

use crate::state::Shared;

/// The channel every node announces on and listens to.
pub const CHANNEL: &str = "tether:relay:changes";

/// How long connecting or a publish may take before Redis counts as down.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How long to wait before connecting again.
const RETRY: Duration = Duration::from_secs(1);

/// Announcements sent in one round trip, at most.
const BATCH: usize = 64;

/// Longer messages are not ours.
const MAX_MESSAGE: usize = 256;

/// `v1 <session> <sent: Unix ms>`. Only the session is news: what changed is read from the
/// database.
pub fn encode(session: &SessionId, sent_ms: u64) -> String {
    format!("v1 {session} {sent_ms}")
}

/// What [`encode`] wrote, and when it was sent; `None` for anything else.
pub fn decode(message: &[u8]) -> Option<(SessionId, u64)> {
    if message.len() > MAX_MESSAGE {
        return None;
    }
    let text = std::str::from_utf8(message).ok()?;
    let mut parts = text.split(' ');
    if parts.next()? != "v1" {
        return None;
    }
    let session: SessionId = parts.next()?.parse().ok()?;
    let sent_ms = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((session, sent_ms))
}

async fn connect(client: &redis::Client) -> Result<redis::aio::MultiplexedConnection, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())
}

/// Publish what this node commits, in batches, until the relay stops. With Redis down, what is
/// queued is dropped: the other nodes' poll brings it.
pub async fn announce(
    client: redis::Client,
    mut changes: mpsc::Receiver<SessionId>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn = None;
    let mut healthy = true;
    let mut retry_at = tokio::time::Instant::now();
    loop {
        let first = tokio::select! {
            change = changes.recv() => match change {
                Some(change) => change,
                None => return,
            },
            _ = shutdown.changed() => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match changes.try_recv() {
                Ok(change) => batch.push(change),
                Err(_) => break,
            }
        }
        if conn.is_none() && tokio::time::Instant::now() >= retry_at {
            match connect(&client).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    retry_at = tokio::time::Instant::now() + RETRY;
                    if std::mem::replace(&mut healthy, false) {
                        tracing::warn!(
                            "cannot reach Redis ({e}); other nodes learn of this one's commits from the database"
                        );
                    }
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let sent = crate::store::now_ms();
        let mut pipe = redis::pipe();
        batch.sort_unstable();
        batch.dedup();
        for session in &batch {
            pipe.cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(encode(session, sent))
                .ignore();
        }
        match pipe.query_async::<()>(c).await {
            Ok(()) if !healthy => {
                tracing::info!("Redis reachable again");
                healthy = true;
            }
            Ok(()) => {}
            Err(e) => {
                conn = None;
                retry_at = tokio::time::Instant::now() + RETRY;
                if std::mem::replace(&mut healthy, false) {
                    tracing::warn!(
                        "publishing to Redis failed ({e}); other nodes learn of this one's commits from the database"
                    );
                }
            }
        }
    }
}

async fn subscribe(client: &redis::Client) -> Result<redis::aio::PubSub, String> {
    let mut pubsub = tokio::time::timeout(TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(TIMEOUT, pubsub.subscribe(CHANNEL))
        .await
        .map_err(|_| "subscribing timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(pubsub)
}

/// Move the hub with what the other nodes announce, until the relay stops; reconnect when the
/// connection drops.
pub async fn listen(client: redis::Client, state: Shared, mut shutdown: watch::Receiver<bool>) {
    let mut healthy = true;
    loop {
        let subscribed = tokio::select! {
            s = subscribe(&client) => s,
            _ = shutdown.changed() => return,
        };
        match subscribed {
            Ok(mut pubsub) => {
                state.nodes.set_listening(true);
                if !std::mem::replace(&mut healthy, true) {
                    tracing::info!("listening to the other nodes on Redis again");
                }
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => heard(&state, message.get_payload_bytes()),
                            None => break,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
                healthy = false;
                state.nodes.set_listening(false);
                tracing::warn!(
                    "lost the connection to Redis; following the other nodes through the database until it is back"
                );
            }
            Err(e) => {
                if std::mem::replace(&mut healthy, false) {
                    tracing::warn!(
                        "cannot listen on Redis ({e}); following the other nodes through the database"
                    );
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn heard(state: &Shared, message: &[u8]) {
    let decoded = decode(message);
    if let Some((_, sent_ms)) = &decoded {
        // A clock behind the sender's reads as no lag rather than a negative one.
        let lag_ms = crate::store::now_ms().saturating_sub(*sent_ms);
        state.metrics.redis_lag.observe(lag_ms as f64 / 1000.0);
    }
    match decoded {
        // Only sessions someone here reads are worth a query.
        Some((session, _)) if state.hub.get(&session).is_some() => state.nodes.recheck(session),
        Some(_) => {}
        None => tracing::debug!("ignored a message on {CHANNEL} that is not a relay's"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_protocol::RelayKind;

    #[test]
    fn announcements_round_trip_and_anything_else_is_ignored() {
        let session = SessionId::new(RelayKind::Staging);
        let text = encode(&session, 1_700_000_000_123);
        assert_eq!(
            decode(text.as_bytes()),
            Some((session.clone(), 1_700_000_000_123))
        );
        for hostile in [
            String::new(),
            "v2 x".into(),
            format!("v1 {session}"),
            format!("v1 {session} 5 extra"),
            format!("v1 {session} -1"),
            "v1 not-a-session 5".into(),
            format!("v1 {session} 5\u{1b}[2J"),
            format!("v1 {session} {}", "9".repeat(300)),
        ] {
            assert_eq!(decode(hostile.as_bytes()), None, "{hostile:?}");
        }
        assert_eq!(decode(&[0xff, 0xfe]), None);
    }
}
