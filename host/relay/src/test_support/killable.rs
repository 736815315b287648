//! A relay node that can die the way a killed process does: it runs on a Tokio runtime of its
//! own, and killing it drops that runtime at once, every task with it (the accept loop, each
//! connection, each upgraded WebSocket, the sweeper). Sockets close without a close frame or a
//! "reconnect", responses stop mid-way, nothing is drained; only what the database committed
//! survives. It can also stop as SIGTERM has it; either way, starting it again brings a new
//! process-like node up on the same address.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::relay::test_config;
use super::server::blocking;
use crate::nodes::NodesConfig;
use crate::store::Location;
use crate::{Relay, RelayConfig};

/// One node of a relay on a shared database, killable.
pub struct KillableNode {
    /// Where it listens (the same after [`KillableNode::start_again`]).
    pub addr: SocketAddr,
    /// Its public URL.
    pub url: String,
    store: Location,
    nodes: NodesConfig,
    tweak: fn(&mut RelayConfig),
    /// The runtime and the relay on it; `None` while dead.
    running: Option<(Runtime, Relay)>,
}

impl KillableNode {
    /// A node on `store` with [`test_config`] changed by `tweak`, following the others as
    /// `nodes` says, on a free loopback port.
    pub async fn start(
        store: Location,
        nodes: NodesConfig,
        tweak: fn(&mut RelayConfig),
    ) -> KillableNode {
        let mut node = KillableNode {
            addr: "127.0.0.1:0".parse().expect("an address"),
            url: String::new(),
            store,
            nodes,
            tweak,
            running: None,
        };
        let (runtime, relay) = node.boot().expect("the node starts");
        node.addr = relay.addr();
        node.url = relay.public_url().to_owned();
        node.running = Some((runtime, relay));
        node
    }

    /// Whether it is running.
    pub fn alive(&self) -> bool {
        self.running.is_some()
    }

    /// Die at once, as SIGKILL would have it.
    pub fn kill(&mut self) {
        let Some((runtime, relay)) = self.running.take() else {
            return;
        };
        // Off the caller's runtime: dropping one runtime (and the database pool its tasks hold)
        // may block, which an async context forbids.
        blocking(move || {
            runtime.shutdown_background();
            drop(relay);
        });
    }

    /// Stop as SIGTERM has it: the listener closed, every stream told to move, requests in
    /// progress finished.
    pub fn stop(&mut self) {
        let Some((runtime, relay)) = self.running.take() else {
            return;
        };
        blocking(move || {
            runtime.block_on(relay.stop()).expect("the node stops");
            drop(runtime);
        });
    }

    /// Start again on the same address and database, as a restarted service would.
    pub async fn start_again(&mut self) {
        assert!(self.running.is_none(), "kill it first");
        let mut last = None;
        // The port may take a moment to be free again.
        for _ in 0..100 {
            match self.boot() {
                Ok(running) => {
                    self.running = Some(running);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot listen on {} again: {last:?}", self.addr);
    }

    fn boot(&self) -> anyhow::Result<(Runtime, Relay)> {
        let mut config = test_config(self.store.clone());
        config.nodes = self.nodes.clone();
        (self.tweak)(&mut config);
        let addr = self.addr;
        blocking(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let relay = runtime.block_on(Relay::start(config, addr))?;
            Ok((runtime, relay))
        })
    }
}

impl Drop for KillableNode {
    fn drop(&mut self) {
        self.kill();
    }
}
