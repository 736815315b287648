//! Revoked logins, for the credentials that outlive the check made when they were presented:
//! open streams (authorised once, when they opened) and worker JWTs (stateless, valid for
//! minutes). Each revocation is broadcast to the open streams, which end, and remembered for as
//! long as a worker JWT minted before it could still be presented: that is all the memory it
//! needs, so it stays small however long the relay runs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::state::Shared;
use crate::store::{self, oauth};

/// A login, as a stream or a worker token remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Login {
    /// A device login of the CLI: its OAuth token family.
    Family(uuid::Uuid),
    /// A browser login: the stored hash of its cookie.
    Browser([u8; 32]),
}

/// Revocations in flight to streams. A stream that falls this far behind checks the
/// remembered set instead, so a burst of logouts cannot make one slip past.
const CHANNEL: usize = 64;

/// Slack on top of the worker JWT lifetime: a `/bridge` that authenticated just before the
/// revocation can sign its token a moment after it.
const MARGIN: Duration = Duration::from_secs(60);

/// Revoked logins: ends their streams now and refuses their tokens until they expire.
pub struct Revocations {
    sender: broadcast::Sender<Login>,
    /// Each revoked login with the moment it can be forgotten.
    recent: Mutex<HashMap<Login, Instant>>,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations {
            sender: broadcast::channel(CHANNEL).0,
            recent: Mutex::new(HashMap::new()),
        }
    }
}

impl Revocations {
    fn recent(&self) -> std::sync::MutexGuard<'_, HashMap<Login, Instant>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `login` was revoked: end its streams, refuse its worker tokens for `keep`.
    pub fn revoke(&self, login: Login, keep: Duration) {
        let now = Instant::now();
        {
            let mut recent = self.recent();
            recent.retain(|_, until| *until > now);
            recent.insert(login, now + keep + MARGIN);
        }
        // No receivers is fine: no stream of anyone's is open.
        let _ = self.sender.send(login);
    }

    /// Whether `login` was revoked recently enough that a token of it may still be around.
    pub fn is_revoked(&self, login: &Login) -> bool {
        self.recent()
            .get(login)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Watch for the revocation of `login`. Subscribe before the final [`Self::is_revoked`]
    /// check, so that a revocation between the two is seen by one or the other.
    pub fn watch(&self, login: Login) -> Watch {
        Watch {
            login,
            receiver: self.sender.subscribe(),
        }
    }
}

/// One stream's watch on its login.
pub struct Watch {
    login: Login,
    receiver: broadcast::Receiver<Login>,
}

impl Watch {
    /// Resolves when the watched login is revoked (never, if it is not).
    pub async fn revoked(&mut self, revocations: &Revocations) {
        loop {
            match self.receiver.recv().await {
                Ok(login) if login == self.login => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if revocations.is_revoked(&self.login) {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

/// How long a revoked family's worker JWTs may still be presented.
pub fn keep(state: &Shared) -> Duration {
    state.config.lifetimes.worker_jwt
}

/// A family was revoked in the database (under the writer connection or just after): tell
/// its streams and refuse its worker tokens.
pub fn family_revoked(state: &Shared, family: &str) {
    match uuid::Uuid::parse_str(family) {
        Ok(family) => state
            .hub
            .revocations
            .revoke(Login::Family(family), keep(state)),
        // Families are UUIDs the relay wrote; a damaged row has no stream to end.
        Err(_) => tracing::warn!("a revoked token family is not a UUID"),
    }
}

/// At start: remember the families revoked within a worker JWT lifetime, so that a restart
/// does not bring their worker tokens back.
pub async fn restore(state: &Shared) -> store::StoreResult<()> {
    let keep = keep(state);
    let now = store::now();
    let since = now.saturating_sub((keep + MARGIN).as_secs());
    let rows = state
        .store
        .write(move |c| oauth::revoked_since(c, since))
        .await?;
    let wall = Instant::now();
    let mut recent = state.hub.revocations.recent();
    for (family, revoked_at) in rows {
        let Ok(family) = uuid::Uuid::parse_str(&family) else {
            continue;
        };
        let left = (revoked_at + (keep + MARGIN).as_secs()).saturating_sub(now);
        recent.insert(Login::Family(family), wall + Duration::from_secs(left));
    }
    Ok(())
}
