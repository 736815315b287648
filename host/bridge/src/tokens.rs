//! The account's access token, kept valid for the worker: refreshed shortly before it expires
//! or when the relay refuses it, one refresh at a time.
//!
//! Refresh tokens rotate, and presenting a spent one revokes the whole login (decisions.md), so
//! two concurrent refreshes would log the user out. Every refresh therefore happens under one
//! lock, and a caller that was refused re-checks under the lock whether someone else already
//! refreshed. Every new set of credentials is published on a `watch` channel for the CLI to
//! save: after a refresh, the file on disk holds the only refresh token that still works.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use crate::api::{Api, ApiError};
use crate::login::{Credentials, unix_now};

/// Refresh this long before the access token expires, by default.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(60);

/// The account's credentials, shared by the worker and the CLI, handing out an access token that
/// is still valid. Clones share one lock and one set of credentials.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    margin: Duration,
    current: Mutex<Credentials>,
    changes: watch::Sender<Credentials>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &*self.inner.changes.borrow())
            .finish()
    }
}

/// Whether an access token expiring at `expires_at` must be refreshed at `now` (Unix seconds).
fn needs_refresh(expires_at: u64, now: u64, margin: Duration) -> bool {
    now.saturating_add(margin.as_secs()) >= expires_at
}

impl TokenSource {
    /// Tokens from `credentials`, refreshed through `api` (the relay they belong to).
    pub fn new(api: Api, credentials: Credentials) -> TokenSource {
        Self::with_margin(api, credentials, DEFAULT_MARGIN)
    }

    /// As [`TokenSource::new`], refreshing `margin` before expiry.
    pub fn with_margin(api: Api, credentials: Credentials, margin: Duration) -> TokenSource {
        let (changes, _) = watch::channel(credentials.clone());
        TokenSource {
            inner: Arc::new(Inner {
                api,
                margin,
                current: Mutex::new(credentials),
                changes,
            }),
        }
    }

    /// The credentials as they are now, and every later change: the CLI saves each one.
    pub fn subscribe(&self) -> watch::Receiver<Credentials> {
        self.inner.changes.subscribe()
    }

    /// The latest credentials.
    pub fn credentials(&self) -> Credentials {
        self.inner.changes.borrow().clone()
    }

    /// An access token that is not about to expire, refreshing first if needed.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        let mut current = self.inner.current.lock().await;
        if needs_refresh(current.access_expires_at, unix_now(), self.inner.margin) {
            self.refresh_locked(&mut current).await?;
        }
        Ok(current.access_token.clone())
    }

    /// The relay refused `rejected` (`401`): refresh, unless another caller already replaced it.
    pub async fn refresh_rejected(&self, rejected: &str) -> Result<String, ApiError> {
        let mut current = self.inner.current.lock().await;
        if current.access_token == rejected {
            self.refresh_locked(&mut current).await?;
        }
        Ok(current.access_token.clone())
    }

    /// The trusted device token, if this login enrolled one.
    pub fn device_token(&self) -> Option<String> {
        self.inner.changes.borrow().device_token.clone()
    }

    async fn refresh_locked(&self, current: &mut Credentials) -> Result<(), ApiError> {
        let tokens = self.inner.api.refresh(&current.refresh_token).await?;
        *current = current.refreshed(&tokens, unix_now());
        self.inner.changes.send_replace(current.clone());
        tracing::debug!("access token refreshed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_within_the_margin_of_expiry() {
        let m = Duration::from_secs(60);
        assert!(!needs_refresh(1000, 900, m));
        assert!(needs_refresh(1000, 940, m));
        assert!(needs_refresh(1000, 2000, m));
        assert!(needs_refresh(1000, 1000, Duration::ZERO));
        assert!(!needs_refresh(1000, 999, Duration::ZERO));
    }
}
