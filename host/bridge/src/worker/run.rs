//! The worker loop: register, connect, serve the connection until it ends, decide what the end
//! means, and go round again — until the session is taken over or gone, or the terminal shuts
//! the bridge down. Commands from the handle are taken at every step (even while registering
//! or backing off), so publishing never waits for the network.

use std::future::Future;
use std::time::Duration;

use tether_protocol::api::Published;
use tether_protocol::{Event, Source, check_publish};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::backoff;
use super::inbound::{Inbound, Opener, Position};
use super::link::{Item, Link, socket_write};
use super::outbound::{MAX_BATCH, MAX_BATCH_BYTES, Outbound};
use super::register::{RegisterError, register};
use super::state::{StateSlot, Wanted};
use super::verdict::{QUICK_MOVE, Verdict, judge, move_at_once, refresh_after};
use super::{Command, Status, WorkerConfig};
use crate::api::ApiError;

const SHUT_DOWN: &str = "The bridge was shut down.";

/// The registration in use: the worker JWT and its epoch.
#[derive(Clone)]
struct Grant {
    jwt: String,
    epoch: u64,
    refresh_at: Instant,
}

/// Why a connection ended, and so what comes next.
#[derive(Debug)]
enum Hangup {
    /// The worker token is due for renewal: register again at once.
    Refresh,
    /// Connect again at once with the same token.
    Reconnect,
    /// The relay's node is stopping: connect again (through the proxy, to a node that is up)
    /// at once, unless it keeps happening (see [`move_at_once`]).
    Moved,
    /// Connect again after a backoff, with the same token.
    Retry(String),
    /// The token was refused: register again.
    Reregister(String),
    /// For good.
    Stop(String),
    Shutdown,
}

impl From<Verdict> for Hangup {
    fn from(verdict: Verdict) -> Hangup {
        match verdict {
            Verdict::Retry(e) => Hangup::Retry(e),
            Verdict::Reregister(e) => Hangup::Reregister(e),
            Verdict::Reconnect => Hangup::Reconnect,
            Verdict::Stop(reason) => Hangup::Stop(reason),
            // A refused stream (not a refused event) will be refused again however often we ask.
            Verdict::Refused(message) => {
                Hangup::Stop(format!("The relay refused this worker: {message}"))
            }
        }
    }
}

/// The answers to the HTTP calls a connection makes beside its stream.
enum Reply {
    Published(Result<Published, ApiError>),
    State(Result<(), ApiError>),
    Heartbeat(Result<(), ApiError>),
    Called(
        tether_protocol::push::Notify,
        Result<tether_protocol::push::Notified, ApiError>,
    ),
}

/// Calls (`…/worker/notify`) kept while offline: past this the oldest go, since a call that
/// waited that long is stale anyway.
const MAX_CALLS: usize = 16;

/// How long a stopping worker waits for the relay to hear it leave.
const GOODBYE: Duration = Duration::from_secs(2);

pub(crate) struct Worker {
    config: WorkerConfig,
    commands: mpsc::UnboundedReceiver<Command>,
    inbound: mpsc::UnboundedSender<Inbound>,
    status: watch::Sender<Status>,
    settled: watch::Sender<u64>,
    outbound: Outbound,
    state: StateSlot,
    cursor: Position,
    /// Opens what clients sealed; its counters outlive reconnects.
    opener: Opener,
    grant: Option<Grant>,
    /// Calls not yet sent, oldest first: one at a time, in order (a withdrawal after its call).
    calls: std::collections::VecDeque<tether_protocol::push::Notify>,
    /// The newest epoch the relay gave us: a `409` for an older one was our own doing.
    newest_epoch: u64,
}

impl Worker {
    pub(crate) fn new(
        config: WorkerConfig,
        commands: mpsc::UnboundedReceiver<Command>,
        inbound: mpsc::UnboundedSender<Inbound>,
        status: watch::Sender<Status>,
        settled: watch::Sender<u64>,
    ) -> Worker {
        let opener = Opener::new(&config.protection, &config.session.to_string());
        Worker {
            config,
            commands,
            inbound,
            status,
            settled,
            outbound: Outbound::new(MAX_BATCH, MAX_BATCH_BYTES),
            state: StateSlot::default(),
            cursor: Position::new(),
            opener,
            grant: None,
            calls: Default::default(),
            newest_epoch: 0,
        }
    }

    pub(crate) async fn run(mut self) {
        let reason = self.main().await;
        tracing::info!(session = %self.config.session, unsent = self.outbound.unsettled(), "bridge worker stopped: {reason}");
        self.status.send_replace(Status::Stopped {
            reason: reason.clone(),
        });
        let _ = self.inbound.send(Inbound::Stopped { reason });
    }

    /// Returns why the worker stopped.
    async fn main(&mut self) -> String {
        let mut failures = 0u32;
        // Connections in a row the relay ended with "reconnect" soon after they opened.
        let mut quick_moves = 0u32;
        loop {
            if self.grant.is_none() {
                let registering = register(
                    self.config.api.clone(),
                    self.config.tokens.clone(),
                    self.config.session.clone(),
                );
                match self.serving(registering).await {
                    None => return SHUT_DOWN.into(),
                    Some(Ok(grant)) => {
                        tracing::info!(session = %self.config.session, epoch = grant.worker_epoch, "registered as the session's worker");
                        self.newest_epoch = self.newest_epoch.max(grant.worker_epoch);
                        let lifetime = Duration::from_secs(grant.expires_in);
                        self.grant = Some(Grant {
                            jwt: grant.worker_jwt,
                            epoch: grant.worker_epoch,
                            refresh_at: Instant::now()
                                + refresh_after(lifetime, self.config.refresh_margin),
                        });
                    }
                    Some(Err(RegisterError::Fatal(reason))) => return reason,
                    Some(Err(RegisterError::Retry(error))) => {
                        failures += 1;
                        if !self.back_off(failures, error).await {
                            return SHUT_DOWN.into();
                        }
                        continue;
                    }
                }
            }
            let grant = self.grant.clone().expect("registered above");
            if Instant::now() >= grant.refresh_at {
                // Due (or expired) while we were reconnecting: renew before using it.
                self.grant = None;
                continue;
            }
            let opening = Link::open(
                self.config.transport,
                self.config.api.clone(),
                grant.jwt.clone(),
                self.config.session.clone(),
                self.cursor.last_seq(),
            );
            let opened = Instant::now();
            let end = match self.serving(opening).await {
                None => Hangup::Shutdown,
                Some(Ok(link)) => {
                    failures = 0;
                    self.set_status(Status::Online);
                    self.connected(link, &grant).await
                }
                Some(Err(e)) => Hangup::from(judge(&e, grant.epoch, self.newest_epoch)),
            };
            tracing::debug!(?end, "connection ended");
            // Whatever was in flight on that connection will get no answer: it goes again.
            self.outbound.retry();
            self.state.failed();
            match end {
                Hangup::Refresh => self.grant = None,
                Hangup::Reconnect => {}
                Hangup::Moved => {
                    let lasted = opened.elapsed();
                    let at_once = move_at_once(lasted, quick_moves);
                    quick_moves = if lasted < QUICK_MOVE {
                        quick_moves + 1
                    } else {
                        0
                    };
                    if at_once {
                        tracing::info!("the relay node is stopping: reconnecting at once");
                    } else {
                        failures += 1;
                        let error = "the relay keeps asking to reconnect".to_owned();
                        if !self.back_off(failures, error).await {
                            return SHUT_DOWN.into();
                        }
                    }
                }
                Hangup::Reregister(error) => {
                    // Never reuse a refused token. The first time at once: the usual cause is a
                    // token that expired while the machine slept.
                    self.grant = None;
                    failures += 1;
                    if failures > 1 && !self.back_off(failures, error).await {
                        return SHUT_DOWN.into();
                    }
                }
                Hangup::Retry(error) => {
                    failures += 1;
                    if !self.back_off(failures, error).await {
                        return SHUT_DOWN.into();
                    }
                }
                Hangup::Stop(reason) => return reason,
                Hangup::Shutdown => return SHUT_DOWN.into(),
            }
        }
    }

    /// Serve one open connection until it ends.
    async fn connected(&mut self, mut link: Link, grant: &Grant) -> Hangup {
        let epoch = grant.epoch;
        let idle = self.config.idle_timeout;
        // Every call on this connection is aborted with it (dropping the set): an answer for an
        // old epoch must never be mistaken for one on the next connection.
        let mut requests: JoinSet<Reply> = JoinSet::new();
        let mut heartbeat = tokio::time::interval_at(
            Instant::now() + self.config.heartbeat,
            self.config.heartbeat,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let refresh = tokio::time::sleep_until(grant.refresh_at);
        tokio::pin!(refresh);
        let mut heard = Instant::now();
        let mut publishing = false;
        let mut putting = false;
        let mut calling = false;
        loop {
            // A call is best effort and goes beside the events: one at a time, so that a
            // withdrawal never overtakes the call it withdraws.
            if !calling && let Some(call) = self.calls.pop_front() {
                calling = true;
                let (api, jwt, session) = self.call_parts(grant);
                requests.spawn(async move {
                    let result = api.notify(&jwt, &session, &call).await;
                    Reply::Called(call, result)
                });
            }
            // A state whose events are settled goes first, so that the events after it wait
            // for it (the batch below) rather than racing it to the relay.
            if !putting
                && let Some(Wanted { state, details, .. }) =
                    self.state.next(self.outbound.settled())
            {
                putting = true;
                let (api, jwt, session) = self.call_parts(grant);
                requests.spawn(async move {
                    Reply::State(api.put_state(&jwt, &session, epoch, state, details).await)
                });
            }
            // Events wait while a state they follow is on its way (see `holds_events`): the
            // relay stores what arrives first first.
            if !publishing
                && !self.state.holds_events()
                && let Some(batch) = self.outbound.next_batch_before(self.state.boundary())
            {
                publishing = true;
                match &mut link {
                    Link::Sse(_) => {
                        let (api, jwt, session) = self.call_parts(grant);
                        requests.spawn(async move {
                            Reply::Published(api.publish(&jwt, &session, epoch, &batch).await)
                        });
                    }
                    Link::Ws(ws) => {
                        if let Err(e) = ws.send(socket_write(epoch, batch)).await {
                            return self.ended_by(&e, epoch);
                        }
                    }
                }
            }
            let silence = tokio::time::sleep_until(heard + idle);
            tokio::select! {
                item = link.next() => {
                    heard = Instant::now();
                    match item {
                        Ok(Item::Event(event)) => self.deliver(event),
                        Ok(Item::Keepalive) => {}
                        Ok(Item::Moving) => return Hangup::Moved,
                        Ok(Item::Ack(published)) => {
                            publishing = false;
                            if let Some(end) = self.published(Ok(published), epoch) {
                                return end;
                            }
                        }
                        Ok(Item::Refused(e)) => {
                            publishing = false;
                            if let Some(end) = self.published(Err(e), epoch) {
                                return end;
                            }
                        }
                        Err(e) => return self.ended_by(&e, epoch),
                    }
                }
                Some(joined) = requests.join_next(), if !requests.is_empty() => {
                    let Ok(reply) = joined else {
                        return Hangup::Retry("a relay call failed unexpectedly".into());
                    };
                    let end = match reply {
                        Reply::Published(result) => {
                            publishing = false;
                            self.published(result, epoch)
                        }
                        Reply::State(result) => {
                            putting = false;
                            self.state_put(result, epoch)
                        }
                        Reply::Heartbeat(result) => self.heartbeat_answered(result, epoch),
                        Reply::Called(call, result) => {
                            calling = false;
                            match result {
                                Ok(n) if n.looking => {
                                    let _ = self.inbound.send(Inbound::Held {
                                        kind: call.kind,
                                        tag: call.tag,
                                    });
                                }
                                Ok(n) => tracing::debug!(devices = n.devices, "called the session's person"),
                                // Not worth a reconnect: the stream says soon enough whether
                                // the token or the relay is gone.
                                Err(e) => tracing::info!("a call to the session's person failed: {e}"),
                            }
                            None
                        }
                    };
                    if let Some(end) = end {
                        return end;
                    }
                }
                command = self.commands.recv() => {
                    if !self.apply(command) {
                        let (api, jwt, session) = self.call_parts(grant);
                        let calls = std::mem::take(&mut self.calls);
                        let last_words = async {
                            // What is on its way lands first, so that a withdrawal queued
                            // behind its call does not overtake it; then the queued calls (the
                            // withdrawals of what the person was told, which must not outlive
                            // the terminal), then the goodbye, so that going offline calls
                            // nobody: the terminal quit on purpose.
                            while requests.join_next().await.is_some() {}
                            for call in calls {
                                if let Err(e) = api.notify(&jwt, &session, &call).await {
                                    tracing::debug!("a last call did not reach the relay: {e}");
                                }
                            }
                            api.heartbeat(&jwt, &session, epoch, true).await
                        };
                        match tokio::time::timeout(GOODBYE, last_words).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::debug!("the relay did not hear the worker leave: {e}"),
                            Err(_) => tracing::debug!("the relay did not answer the worker leaving"),
                        }
                        link.close().await;
                        return Hangup::Shutdown;
                    }
                }
                _ = heartbeat.tick() => {
                    let (api, jwt, session) = self.call_parts(grant);
                    requests.spawn(async move {
                        Reply::Heartbeat(api.heartbeat(&jwt, &session, epoch, false).await)
                    });
                }
                _ = &mut refresh => return Hangup::Refresh,
                _ = silence => {
                    return Hangup::Retry(format!("the relay sent nothing for {} s", idle.as_secs()));
                }
            }
        }
    }

    fn call_parts(&self, grant: &Grant) -> (crate::api::Api, String, tether_protocol::SessionId) {
        (
            self.config.api.clone(),
            grant.jwt.clone(),
            self.config.session.clone(),
        )
    }

    /// The connection failed with `err` on a request that carried `epoch`.
    fn ended_by(&self, err: &ApiError, epoch: u64) -> Hangup {
        Hangup::from(judge(err, epoch, self.newest_epoch))
    }

    /// A batch was answered.
    fn published(&mut self, result: Result<Published, ApiError>, epoch: u64) -> Option<Hangup> {
        match result {
            Ok(published) => {
                let ids: Vec<&str> = published.events.iter().map(|e| e.id.as_str()).collect();
                if !self.outbound.acked(&ids) {
                    return Some(Hangup::Retry(
                        "the relay acknowledged other events than those sent".into(),
                    ));
                }
                self.note_settled();
                None
            }
            Err(e) => match judge(&e, epoch, self.newest_epoch) {
                Verdict::Refused(message) => {
                    if let Some(dropped) = self.outbound.refused() {
                        tracing::warn!(id = %dropped.id, kind = %dropped.kind, "the relay refused an event; dropping it: {message}");
                        self.note_settled();
                    }
                    None
                }
                verdict => {
                    self.outbound.retry();
                    Some(Hangup::from(verdict))
                }
            },
        }
    }

    fn state_put(&mut self, result: Result<(), ApiError>, epoch: u64) -> Option<Hangup> {
        let Err(e) = result else {
            self.state.done();
            return None;
        };
        match judge(&e, epoch, self.newest_epoch) {
            Verdict::Refused(message) => {
                tracing::warn!("the relay refused the worker state; dropping it: {message}");
                self.state.done();
                None
            }
            verdict => {
                self.state.failed();
                Some(Hangup::from(verdict))
            }
        }
    }

    /// A failed heartbeat matters only when it says the token or the session is done for; a
    /// network failure is left to the stream, which notices on its own.
    fn heartbeat_answered(&mut self, result: Result<(), ApiError>, epoch: u64) -> Option<Hangup> {
        let Err(e) = result else { return None };
        match judge(&e, epoch, self.newest_epoch) {
            Verdict::Retry(_) | Verdict::Refused(_) => {
                tracing::debug!("heartbeat failed: {e}");
                None
            }
            verdict => Some(Hangup::from(verdict)),
        }
    }

    fn deliver(&mut self, event: Event) {
        if self.cursor.accept(&event) {
            tracing::debug!(seq = event.seq, kind = %event.kind, "event for the terminal");
            for item in self.opener.open(event) {
                let _ = self.inbound.send(item);
            }
        }
    }

    /// Take a command from the handle. `false` means stop.
    fn apply(&mut self, command: Option<Command>) -> bool {
        match command {
            Some(Command::Publish(event)) => {
                match check_publish(Source::Worker, &event) {
                    Ok(()) => self.outbound.push(event),
                    Err(refusal) => {
                        tracing::warn!(kind = %event.kind, "not publishing an event the relay would refuse: {refusal}");
                        self.outbound.push_skipped(event);
                        self.note_settled();
                    }
                }
                true
            }
            Some(Command::SetState(state, details)) => {
                self.state.set(Wanted {
                    state,
                    details,
                    after: self.outbound.pushed(),
                });
                true
            }
            Some(Command::Notify(call)) => {
                if self.calls.len() == MAX_CALLS {
                    self.calls.pop_front();
                }
                self.calls.push_back(call);
                true
            }
            Some(Command::Rekey(key)) => {
                self.opener.rekey(&key);
                true
            }
            Some(Command::Shutdown) | None => false,
        }
    }

    /// Run `work` while still taking commands; `None` if told to stop meanwhile.
    async fn serving<F: Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                command = self.commands.recv() => {
                    if !self.apply(command) {
                        return None;
                    }
                }
            }
        }
    }

    /// Report the failure and wait before attempt `attempt`; `false` if told to stop meanwhile.
    async fn back_off(&mut self, attempt: u32, error: String) -> bool {
        let delay = backoff::delay(
            self.config.backoff_initial,
            self.config.backoff_max,
            attempt,
            backoff::jitter(),
        );
        tracing::info!(attempt, ?delay, "relay connection failed: {error}");
        self.set_status(Status::Reconnecting { attempt, error });
        self.serving(tokio::time::sleep(delay)).await.is_some()
    }

    fn set_status(&self, status: Status) {
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    fn note_settled(&self) {
        let settled = self.outbound.settled();
        self.settled.send_if_modified(|n| {
            let changed = *n != settled;
            *n = settled;
            changed
        });
    }
}
