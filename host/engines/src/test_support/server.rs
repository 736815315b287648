//! The scripted server: HTTP/1.1 on 127.0.0.1, one task per connection, keep-alive, one
//! scripted [`Reply`] per request. It counts the connections clients open and close, because
//! "dropping the stream aborts the request" is only true if the socket really goes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::reply::{End, Framing, Reply, head};
use super::request::{Recorded, parse_head};

/// What a request beyond the script gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// A 500 saying so: a test that scripts each reply learns of a request it did not expect.
    Fail,
    /// The last reply again: a test that only cares about the answer, not the count.
    RepeatLast,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    repeat_last: bool,
    requests: Mutex<Vec<Recorded>>,
    closed: Mutex<usize>,
    connections: Mutex<usize>,
    changed: Notify,
}

impl Shared {
    fn next_reply(&self) -> Reply {
        let mut script = self.script.lock().unwrap();
        let next = if self.repeat_last && script.len() == 1 {
            script.front().cloned()
        } else {
            script.pop_front()
        };
        next.unwrap_or_else(|| {
            Reply::text(
                500,
                "text/plain",
                "the test server has no reply scripted for this",
            )
            .framing(Framing::Close)
        })
    }
}

/// The requests a [`Server`] received, readable from any thread.
#[derive(Clone)]
pub(crate) struct Log(Arc<Shared>);

impl Log {
    /// Every request received so far, in order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.0.requests.lock().unwrap().clone()
    }
}

/// A running scripted server; dropping it stops listening.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Listens on 127.0.0.1 (a free port) and plays `script`, one reply per request, in order.
    /// A request beyond the script gets a 500 saying so.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Server {
        Server::start_with(script, Exhausted::Fail).await
    }

    /// As [`Server::start`], with `exhausted` saying what a request beyond the script gets.
    pub async fn start_with(
        script: impl IntoIterator<Item = Reply>,
        exhausted: Exhausted,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into_iter().collect()),
            repeat_last: exhausted == Exhausted::RepeatLast,
            ..Default::default()
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                *s.connections.lock().unwrap() += 1;
                tokio::spawn(serve(socket, s.clone()));
            }
        });
        Server { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log().requests()
    }

    /// A handle on the requests that outlives no runtime: for a server run on a thread.
    pub(crate) fn log(&self) -> Log {
        Log(self.shared.clone())
    }

    /// How many connections clients opened.
    pub fn connections(&self) -> usize {
        *self.shared.connections.lock().unwrap()
    }

    /// How many times a client closed a connection the server was holding.
    pub fn closed(&self) -> usize {
        *self.shared.closed.lock().unwrap()
    }

    /// Waits until clients have closed `n` connections; false if `within` passes first.
    pub async fn wait_closed(&self, n: usize, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            loop {
                let notified = self.shared.changed.notified();
                if self.closed() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}

async fn serve(mut socket: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut socket, &mut buffer).await else {
            client_closed(&shared);
            return;
        };
        shared.requests.lock().unwrap().push(request);
        let reply = shared.next_reply();
        if write_reply(&mut socket, &reply).await.is_err() {
            client_closed(&shared);
            return;
        }
        match (reply.end, reply.framing) {
            (End::Abort, _) => return, // dropped: the client sees the body cut off
            (End::Hang, _) => {
                // Send nothing more; report when the client gives up on the connection.
                let mut sink = [0u8; 1024];
                loop {
                    match socket.read(&mut sink).await {
                        Ok(0) | Err(_) => {
                            client_closed(&shared);
                            return;
                        }
                        Ok(_) => {}
                    }
                }
            }
            (End::Complete, Framing::Close) => {
                let _ = socket.shutdown().await;
                return;
            }
            (End::Complete, _) => {} // keep-alive: wait for the next request
        }
    }
}

fn client_closed(shared: &Shared) {
    *shared.closed.lock().unwrap() += 1;
    shared.changed.notify_waiters();
}

/// Reads one request (headers, then a `content-length` body). `None` when the client closed.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Recorded> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        read_more(socket, buffer).await?;
    };
    let head = parse_head(&String::from_utf8_lossy(&buffer[..head_end]))?;
    buffer.drain(..head_end + 4);
    let length = head.content_length();
    while buffer.len() < length {
        read_more(socket, buffer).await?;
    }
    let body: Vec<u8> = buffer.drain(..length).collect();
    Some(head.with_body(&body))
}

/// Appends what the socket has next; `None` when it is closed.
async fn read_more(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// Waits `delay`, watching the socket: a client that closes it meanwhile ends the reply.
async fn pause(socket: &mut TcpStream, delay: Duration) -> std::io::Result<()> {
    if delay.is_zero() {
        return Ok(());
    }
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    let mut sink = [0u8; 1024];
    loop {
        tokio::select! {
            _ = &mut sleep => return Ok(()),
            read = socket.read(&mut sink) => match read {
                Ok(0) | Err(_) => return Err(std::io::ErrorKind::ConnectionAborted.into()),
                Ok(_) => {}
            },
        }
    }
}

async fn write_reply(socket: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    pause(socket, reply.before).await?;
    socket.write_all(head(reply).as_bytes()).await?;
    socket.flush().await?;
    for (delay, bytes) in &reply.parts {
        pause(socket, *delay).await?;
        if reply.framing == Framing::Chunked {
            if bytes.is_empty() {
                continue; // an empty chunk would end the body
            }
            socket
                .write_all(format!("{:x}\r\n", bytes.len()).as_bytes())
                .await?;
            socket.write_all(bytes).await?;
            socket.write_all(b"\r\n").await?;
        } else {
            socket.write_all(bytes).await?;
        }
        socket.flush().await?;
    }
    if reply.end == End::Complete && reply.framing == Framing::Chunked {
        socket.write_all(b"0\r\n\r\n").await?;
        socket.flush().await?;
    }
    Ok(())
}

/// An address where nothing listens: bound, then released.
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
