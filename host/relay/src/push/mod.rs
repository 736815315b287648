//! Web Push from the relay to the browsers its accounts subscribed (RFC 8030 delivery, RFC 8291
//! `aes128gcm` encryption by `web-push-native`, RFC 8292 VAPID signed by `jwt-simple`).
//!
//! The relay only routes: a worker asks for its person to be called (`…/worker/notify`) with
//! the text sealed under the session key, and the relay hands that envelope, unread, to every
//! device of the session's owner that wants that kind. Each push is sent by the node that was
//! asked, retried on `429`/`5xx` with backoff and `Retry-After`, and a subscription whose push
//! service answers `404`/`410` is forgotten. What a push service is, and so where the relay may
//! send requests at all, is [`endpoint`]'s rule: endpoints come from browsers.
//!
//! The rules are pure and tested on their own: [`endpoint::Services::check`],
//! [`subscribe::check`], [`deliver::verdict`], [`deliver::retry_after`], [`deliver::backoff`].

pub mod deliver;
pub mod endpoint;
pub mod subscribe;
pub mod vapid;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tether_protocol::push::{PushKind, PushMessage};
use tokio::sync::{Semaphore, oneshot};

use crate::state::Shared;
use crate::store::push::Subscription;
use deliver::{Attempt, Sender, Target, Verdict};

/// Push messages being delivered at once by one node, waiting to retry included: past this a
/// new one is dropped (and counted) rather than queued without bound.
pub const MAX_IN_FLIGHT: usize = 1024;

/// The relay's pushing: which services it calls, how it signs, how much is in flight.
pub struct Push {
    /// The push services endpoints may point to.
    pub services: endpoint::Services,
    /// Sends and signs.
    pub sender: Sender,
    in_flight: Arc<Semaphore>,
    lanes: Lanes,
}

/// One lane per subscription on this node: a message to a device is delivered after the one
/// sent before it to that device has been delivered or given up, so that a withdrawal never
/// overtakes its call, even while the call waits out a retry. Devices do not wait for each
/// other.
#[derive(Default)]
struct Lanes {
    last: Mutex<Newest>,
}

/// The last number given, and per subscription the newest message's number and what says
/// it is done.
#[derive(Default)]
struct Newest {
    numbered: u64,
    by_subscription: HashMap<i64, (u64, oneshot::Receiver<()>)>,
}

/// A message's place in its lane.
struct Place {
    subscription: i64,
    number: u64,
    done: oneshot::Sender<()>,
}

impl Lanes {
    /// Take the next place in `subscription`'s lane: what to wait for first, and the place.
    fn join(&self, subscription: i64) -> (Option<oneshot::Receiver<()>>, Place) {
        let (done, finished) = oneshot::channel();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.numbered += 1;
        let number = last.numbered;
        let before = last
            .by_subscription
            .insert(subscription, (number, finished))
            .map(|(_, r)| r);
        (
            before,
            Place {
                subscription,
                number,
                done,
            },
        )
    }

    /// The message at `place` is delivered or given up: the next may go, and an empty lane is
    /// forgotten.
    fn leave(&self, place: Place) {
        let _ = place.done.send(());
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last
            .by_subscription
            .get(&place.subscription)
            .is_some_and(|(n, _)| *n == place.number)
        {
            last.by_subscription.remove(&place.subscription);
        }
    }
}

impl Push {
    /// Pushing to `services`, signed as `vapid`.
    pub fn new(services: endpoint::Services, vapid: vapid::Vapid) -> Result<Push, String> {
        Ok(Push {
            services,
            sender: Sender::new(Arc::new(vapid))?,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            lanes: Lanes::default(),
        })
    }
}

/// How soon the push service should wake the device (RFC 8030 §5.3): a person is waited for
/// at once; the rest can wait for the device's next window.
fn urgency(message: &PushMessage) -> &'static str {
    match (message.close, message.kind) {
        (true, _) => "normal",
        (false, PushKind::Permission | PushKind::Question) => "high",
        (false, PushKind::Done | PushKind::Offline) => "normal",
    }
}

/// The tag of the relay's own call: one per session, a later one replaces it.
pub const OFFLINE_TAG: &str = "offline";

/// Call the people whose terminals in `sessions` went silent without a goodbye (kind
/// `offline`, no text: the relay holds no session key). In the background: the sweep goes on.
pub fn offline(state: &Shared, sessions: Vec<tether_protocol::SessionId>) {
    if sessions.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        for id in sessions {
            let session = id.to_string();
            let found = state.store.read(move |c| {
                let Some(silent) = crate::store::push::silent(c, &session)? else {
                    return Ok(None);
                };
                let subscriptions = crate::store::push::list(c, silent.account)?;
                Ok(Some((silent.title, subscriptions)))
            });
            match found.await {
                Ok(Some((title, subscriptions))) => {
                    let message = PushMessage {
                        v: 1,
                        session: id.to_string(),
                        title,
                        kind: PushKind::Offline,
                        tag: OFFLINE_TAG.to_owned(),
                        sealed: None,
                        close: false,
                    };
                    send(&state, &message, subscriptions);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("could not call about an offline terminal: {e}"),
            }
        }
    });
}

/// Send `message` to each of `subscriptions` that wants its kind, each on a task of its own
/// and after what was sent to that device before ([`Lanes`]); how many were sent off. A withdrawal goes to every device that could have shown the call.
pub fn send(state: &Shared, message: &PushMessage, subscriptions: Vec<Subscription>) -> usize {
    let push = &state.push;
    let body: Arc<[u8]> = serde_json::to_vec(message).expect("serialises").into();
    let urgency = urgency(message);
    let mut sent = 0;
    for s in subscriptions
        .into_iter()
        .filter(|s| s.kinds.contains(&message.kind))
    {
        let target = match subscribe::target(&push.services, s.id, &s.endpoint, &s.p256dh, &s.auth)
        {
            Ok(target) => target,
            Err(e) => {
                tracing::warn!(device = %s.device, "not pushing to a stored subscription: {e}");
                state.metrics.push("refused");
                continue;
            }
        };
        let Ok(permit) = push.in_flight.clone().try_acquire_owned() else {
            tracing::warn!(
                "too many push messages in flight: one for {} dropped",
                s.device
            );
            state.metrics.push("dropped");
            continue;
        };
        let (before, place) = push.lanes.join(s.id);
        let (state, body) = (state.clone(), body.clone());
        tokio::spawn(async move {
            if let Some(before) = before {
                // Its sender dropped (a panicked delivery) counts as done too.
                let _ = before.await;
            }
            deliver(&state, &target, &body, urgency).await;
            state.push.lanes.leave(place);
            drop(permit);
        });
        sent += 1;
    }
    sent
}

/// Deliver one message to one browser, retrying what the rules say may be retried.
async fn deliver(state: &Shared, target: &Target, body: &[u8], urgency: &str) {
    let sender = &state.push.sender;
    for attempt in 0..deliver::ATTEMPTS {
        let (wait, why) = match sender.attempt(target, body, urgency).await {
            Attempt::Answered(status, retry_after) => match deliver::verdict(status) {
                Verdict::Delivered => {
                    state.metrics.push("delivered");
                    return;
                }
                Verdict::Gone => {
                    forget(state, target).await;
                    state.metrics.push("gone");
                    return;
                }
                Verdict::Refused => {
                    tracing::warn!(endpoint = %target.endpoint.host().unwrap_or(""), status, "the push service refused a message");
                    state.metrics.push("refused");
                    return;
                }
                Verdict::Retry => {
                    match deliver::retry_after(retry_after.as_deref(), SystemTime::now()) {
                        Ok(asked) => (asked, format!("{status}")),
                        Err(too_long) => {
                            tracing::warn!(
                                status,
                                "the push service asks to wait {too_long:?}: giving the message up"
                            );
                            state.metrics.push("given_up");
                            return;
                        }
                    }
                }
            },
            Attempt::Failed(e) => (None, e),
        };
        if attempt + 1 == deliver::ATTEMPTS {
            tracing::warn!(
                "a push message was given up after {} attempts: {why}",
                deliver::ATTEMPTS
            );
            break;
        }
        state.metrics.push("retried");
        tokio::time::sleep(wait.unwrap_or_else(|| deliver::backoff(attempt))).await;
    }
    state.metrics.push("given_up");
}

async fn forget(state: &Shared, target: &Target) {
    let (id, endpoint) = (target.id, target.stored.clone());
    match state
        .store
        .write(move |c| crate::store::push::forget(c, id, &endpoint))
        .await
    {
        Ok(_) => tracing::info!("a push subscription is gone (404/410): forgotten"),
        Err(e) => tracing::warn!("cannot forget a gone push subscription: {e}"),
    }
}
