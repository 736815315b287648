//! The throttles on guessing: failed logins per account and per address, device codes per
//! address, wrong user codes per account, bad pairing links per address. Each is a window of
//! `auth::rate_limit`'s rule whose hits live in the database (`store/throttles.rs`), so that
//! every node counts the same attempts.
//!
//! An attempt takes its places before it is decided (a burst is counted exactly as a sequence
//! is, and what is refused costs no work at all) and then, through its [`Reservation`], keeps
//! them (it failed), gives them back (it was not decided, the relay's fault) or is forgiven (it
//! succeeded). When the database cannot be reached the attempt is refused: a throttle that
//! cannot count does not let anyone through.

use crate::auth::rate_limit::Rule;
use crate::config::Throttle;
use crate::state::Shared;
use crate::store::{self, StoreError, throttles};

/// One thing counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Failed password logins per user name.
    LoginByAccount,
    /// Failed password logins per client address.
    LoginByAddress,
    /// Device codes requested per client address (every request counts).
    DeviceCodesByAddress,
    /// Wrong user codes entered per account.
    UserCodesByAccount,
    /// Wrong `?pair=` secrets per address, apart from logins so that bad links lock no one out
    /// of them.
    PairingByAddress,
}

impl Window {
    /// Its name in the database's bucket names.
    fn name(self) -> &'static str {
        match self {
            Window::LoginByAccount => "login-account",
            Window::LoginByAddress => "login-address",
            Window::DeviceCodesByAddress => "device-code-address",
            Window::UserCodesByAccount => "user-code-account",
            Window::PairingByAddress => "pairing-address",
        }
    }

    /// Its limit, as configured.
    pub fn rule(self, t: &Throttle) -> Rule {
        let limit = match self {
            Window::LoginByAccount => t.failures_per_account,
            Window::LoginByAddress | Window::PairingByAddress => t.failures_per_address,
            Window::DeviceCodesByAddress => t.device_codes_per_address,
            // A mistyped code is easier than a mistyped password; 2.6e10 codes are no easier
            // to guess for it.
            Window::UserCodesByAccount => t.failures_per_account.saturating_mul(2),
        };
        Rule::new(limit, t.window)
    }

    /// Whether success forgives the key's earlier failures (the account's owner got in) or
    /// only gives back its own place (an address is shared by many, so one success proves
    /// nothing about the rest).
    fn forgiven_by_success(self) -> bool {
        self == Window::LoginByAccount
    }
}

/// Why an attempt may not go ahead.
#[derive(Debug)]
pub enum Refused {
    /// A window is full: try again in this many seconds (at least one).
    Wait(u64),
    /// The database could not count the attempt.
    Store(StoreError),
}

/// The places an attempt holds. Dropping it keeps them, as [`Reservation::keep`] does, so
/// that an early return never forgives a failure.
#[must_use = "an attempt keeps its places unless it is forgiven or given back"]
pub struct Reservation {
    places: Vec<(Window, String, Rule)>,
    at: u64,
}

/// Take a place in every window for its key, or in none.
pub async fn reserve(state: &Shared, places: &[(Window, &str)]) -> Result<Reservation, Refused> {
    let at = store::now_ms();
    let places: Vec<(Window, String, Rule)> = places
        .iter()
        .map(|&(window, key)| {
            let bucket = throttles::bucket(window.name(), key);
            (window, bucket, window.rule(&state.config.throttle))
        })
        .collect();
    let buckets: Vec<(String, Rule)> = places.iter().map(|(_, b, r)| (b.clone(), *r)).collect();
    let taken = state
        .store
        .write(move |c| throttles::reserve(c, &as_refs(&buckets), at))
        .await;
    match taken {
        Ok(Ok(())) => Ok(Reservation { places, at }),
        Ok(Err(wait)) => {
            state.metrics.rate_limited.inc();
            Err(Refused::Wait(wait))
        }
        Err(e) => Err(Refused::Store(e)),
    }
}

impl Reservation {
    /// The attempt failed (or, for what counts every attempt, happened): it keeps its places.
    pub fn keep(self) {}

    /// The attempt succeeded: the account's failures are forgiven, the rest give back their
    /// place.
    pub async fn succeeded(self, state: &Shared) {
        let (forgiven, returned): (Vec<_>, Vec<_>) = self
            .places
            .into_iter()
            .partition(|(w, _, _)| w.forgiven_by_success());
        let at = self.at;
        let returned: Vec<(String, Rule)> = returned.into_iter().map(|(_, b, r)| (b, r)).collect();
        let forgiven: Vec<String> = forgiven.into_iter().map(|(_, b, _)| b).collect();
        let done = state
            .store
            .write(move |c| {
                for bucket in &forgiven {
                    throttles::clear(c, bucket)?;
                }
                throttles::release(c, &as_refs(&returned), at)
            })
            .await;
        if let Err(e) = done {
            // The places stay taken until they leave the window: stricter, never looser.
            tracing::warn!(error = %e, "could not forgive a throttled attempt");
        }
    }

    /// The attempt was not decided (the relay failed, not the visitor): it gives its places
    /// back.
    pub async fn undecided(self, state: &Shared) {
        let at = self.at;
        let returned: Vec<(String, Rule)> =
            self.places.into_iter().map(|(_, b, r)| (b, r)).collect();
        let done = state
            .store
            .write(move |c| throttles::release(c, &as_refs(&returned), at))
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not give back a throttled attempt's places");
        }
    }
}

fn as_refs(buckets: &[(String, Rule)]) -> Vec<(&str, Rule)> {
    buckets.iter().map(|(b, r)| (b.as_str(), *r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Window; 5] = [
        Window::LoginByAccount,
        Window::LoginByAddress,
        Window::DeviceCodesByAddress,
        Window::UserCodesByAccount,
        Window::PairingByAddress,
    ];

    #[test]
    fn every_window_has_a_bucket_of_its_own() {
        let names: std::collections::HashSet<_> = ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.len(), ALL.len());
        let buckets: std::collections::HashSet<_> = ALL
            .iter()
            .map(|w| throttles::bucket(w.name(), "10.0.0.1"))
            .collect();
        assert_eq!(
            buckets.len(),
            ALL.len(),
            "one key in two windows is two buckets"
        );
    }

    #[test]
    fn rules_follow_the_configuration() {
        let t = Throttle {
            failures_per_account: 5,
            failures_per_address: 20,
            device_codes_per_address: 30,
            ..Throttle::default()
        };
        let limits: Vec<u32> = ALL.iter().map(|w| w.rule(&t).limit).collect();
        assert_eq!(limits, [5, 20, 30, 10, 20]);
        let zero = Throttle {
            failures_per_account: 0,
            ..t
        };
        assert_eq!(
            Window::LoginByAccount.rule(&zero).limit,
            1,
            "a limit of zero would lock everyone out forever"
        );
    }

    #[test]
    fn only_the_account_is_forgiven_by_a_success() {
        let forgiven: Vec<_> = ALL.iter().filter(|w| w.forgiven_by_success()).collect();
        assert_eq!(forgiven, [&Window::LoginByAccount]);
    }
}
