//! A TCP load balancer in front of several relay nodes, as nginx's `upstream` block is: each
//! new connection goes to a node that accepts it, trying the next when one refuses (nginx's
//! `proxy_next_upstream error`), and stays there until either side closes. Bytes are copied,
//! never read, so SSE, WebSockets and keep-alive behave exactly as through a real proxy.
//!
//! In front of a database it is the outage the tests cause: [`TcpProxy::cut`] resets every
//! connection and refuses new ones, as a stopped server does, until [`TcpProxy::restore`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which node a new connection tries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first node that accepts, in the order given: everything lands on the first node
    /// while it is up (a primary with standbys), so a test knows where a stream is.
    InOrder,
    /// Each connection starts one node further along (nginx's default round robin).
    RoundRobin,
}

/// The balancer, listening on a loopback port until dropped.
pub struct TcpProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Connections sent to each node so far, in the order the nodes were given.
    sent: Arc<Vec<AtomicUsize>>,
    /// Whether the upstreams are cut off.
    down: tokio::sync::watch::Sender<bool>,
    accept: JoinHandle<()>,
}

/// How long the proxy waits for a node to accept before trying the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl TcpProxy {
    /// Balance over `nodes` as `pick` says.
    pub async fn start(nodes: Vec<SocketAddr>, pick: Pick) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let sent: Arc<Vec<AtomicUsize>> = Arc::new(nodes.iter().map(|_| 0.into()).collect());
        let counts = Arc::clone(&sent);
        let (down, cut) = tokio::sync::watch::channel(false);
        let accept = tokio::spawn(async move {
            let next = AtomicUsize::new(0);
            while let Ok((client, _)) = listener.accept().await {
                if *cut.borrow() {
                    drop(client); // Refused, as by a server that is not there.
                    continue;
                }
                let mut cut = cut.clone();
                let first = match pick {
                    Pick::InOrder => 0,
                    Pick::RoundRobin => next.fetch_add(1, Ordering::Relaxed),
                };
                let nodes = nodes.clone();
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let Some((index, upstream)) = connect(&nodes, first).await else {
                        return; // No node up: the client sees its connection closed.
                    };
                    counts[index].fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        () = relay_bytes(client, upstream) => {}
                        _ = cut.wait_for(|down| *down) => {} // Dropped: both sides reset.
                    }
                });
            }
        });
        TcpProxy {
            addr,
            sent,
            down,
            accept,
        }
    }

    /// Close every connection and refuse new ones, as a stopped server would.
    pub fn cut(&self) {
        self.down.send_replace(true);
    }

    /// Connect again after [`TcpProxy::cut`].
    pub fn restore(&self) {
        self.down.send_replace(false);
    }

    /// The proxy's URL, as clients are given it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections went to each node (in the order given to [`TcpProxy::start`]).
    pub fn sent(&self) -> Vec<usize> {
        self.sent
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The first node from `first` on (wrapping) that accepts a connection.
async fn connect(nodes: &[SocketAddr], first: usize) -> Option<(usize, TcpStream)> {
    for step in 0..nodes.len() {
        let index = (first + step) % nodes.len();
        if let Ok(Ok(tcp)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(nodes[index])).await
        {
            let _ = tcp.set_nodelay(true);
            return Some((index, tcp));
        }
    }
    None
}

/// Copy both ways until either side is done, then close both (a node that dies closes its
/// clients' connections, as a real proxy does).
async fn relay_bytes(mut client: TcpStream, mut upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}
