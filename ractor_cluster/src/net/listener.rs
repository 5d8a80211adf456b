//! Accepting connections from other nodes.
//!
//! The accept loop never waits on a peer. Every connection it accepts first takes a slot among
//! those waiting to authenticate ([`PendingGate`]: bounded in total and per source address) or is
//! closed at once; the slot and its deadline (accept time + the handshake timeout, one deadline
//! for TLS and authentication together) travel with the connection until it has authenticated.
//! A plain TCP connection is then handed out at once; a TLS server handshake runs on its own task,
//! bounded by that deadline. So a peer that connects and then says nothing costs one slot for a
//! bounded time and delays no one else.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_native_tls::TlsAcceptor;

use super::pending::{PendingGate, PendingSlot};
use super::{IncomingEncryptionMode, NetworkStream};

/// After an accept error that is not about one connection (out of file descriptors, out of
/// memory), the loop waits this long before accepting again, rather than spinning on the error.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// How a listener treats the connections it accepts.
#[derive(Debug, Clone)]
pub(crate) struct AcceptOptions {
    /// Plain TCP, or TLS with this acceptor.
    pub(crate) encryption: IncomingEncryptionMode,
    /// How long a peer has, from the moment it is accepted, to complete its TLS handshake (if
    /// any) and to authenticate.
    pub(crate) handshake_timeout: Duration,
    /// How many accepted connections may wait to authenticate at once, TLS handshakes included;
    /// connections beyond it are closed at once (logged). At least 1.
    pub(crate) max_pending: usize,
    /// How many of them may come from one IP address. At least 1.
    pub(crate) max_pending_per_address: usize,
}

/// Defaults for the tests of this layer; the node sets every field from its builder.
#[cfg(test)]
impl AcceptOptions {
    /// The default time a peer has to complete its TLS handshake and authenticate.
    pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default number of connections waiting to authenticate at once.
    pub(crate) const DEFAULT_MAX_PENDING: usize = 64;
    /// The default number of them from one address.
    pub(crate) const DEFAULT_MAX_PENDING_PER_ADDRESS: usize = 32;

    /// Options for `encryption`, with the default limits.
    pub(crate) fn new(encryption: IncomingEncryptionMode) -> Self {
        Self {
            encryption,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            max_pending: Self::DEFAULT_MAX_PENDING,
            max_pending_per_address: Self::DEFAULT_MAX_PENDING_PER_ADDRESS,
        }
    }
}

/// A connection ready for a session, with its place among those waiting to authenticate.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: NetworkStream,
    /// Given back once the peer has authenticated (or failed to); carries the deadline.
    pub(crate) slot: PendingSlot,
}

/// A bound TCP listener, not yet accepting.
#[derive(Debug)]
pub(crate) struct Listener {
    tcp: TcpListener,
    local_addr: SocketAddr,
}

impl Listener {
    /// Binds `addr`. With port 0 the system picks a free port: see [`local_addr`](Self::local_addr).
    pub(crate) async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let tcp = TcpListener::bind(addr).await?;
        let local_addr = tcp.local_addr()?;
        Ok(Self { tcp, local_addr })
    }

    /// The address actually bound, with the real port when port 0 was asked for.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs the accept loop on its own task, calling `on_stream` with each connection ready for a
    /// session (after its TLS handshake, in TLS mode). The loop stops when the handle is dropped
    /// or stopped (`ListenerHandle::stop`, tests only), and pending TLS handshakes with it.
    pub(crate) fn spawn(
        self,
        options: AcceptOptions,
        on_stream: impl FnMut(Accepted) + Send + 'static,
    ) -> ListenerHandle {
        let local_addr = self.local_addr;
        let task = tokio::spawn(self.run(options, on_stream));
        ListenerHandle {
            local_addr,
            task: Some(task),
        }
    }

    /// The accept loop. It never returns: it ends when the future is dropped, which also aborts
    /// the TLS handshakes still pending. `on_stream` is called from this future only, one
    /// connection at a time; it should hand the stream off (e.g. send it to an actor), not await.
    pub(crate) async fn run(self, options: AcceptOptions, mut on_stream: impl FnMut(Accepted)) {
        let gate = PendingGate::new(options.max_pending, options.max_pending_per_address);
        // Dropped with this future, which aborts every handshake still running.
        let mut handshakes: JoinSet<Option<Accepted>> = JoinSet::new();
        loop {
            tokio::select! {
                Some(finished) = handshakes.join_next(), if !handshakes.is_empty() => {
                    match finished {
                        Ok(Some(accepted)) => on_stream(accepted),
                        // The task logged why the handshake failed.
                        Ok(None) => {}
                        Err(err) => tracing::error!(%err, "TLS handshake task failed"),
                    }
                }
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, peer_addr)) => {
                        let accepted = self.admit(tcp, peer_addr, &options, &gate, &mut handshakes);
                        if let Some(accepted) = accepted {
                            on_stream(accepted);
                        }
                    }
                    Err(err) => self.accept_failed(err).await,
                },
            }
        }
    }

    /// Prepares an accepted connection: gives it a slot among those waiting to authenticate (or
    /// closes it), then hands it out at once in raw mode, or starts its TLS handshake.
    fn admit(
        &self,
        tcp: TcpStream,
        peer_addr: SocketAddr,
        options: &AcceptOptions,
        gate: &std::sync::Arc<PendingGate>,
        handshakes: &mut JoinSet<Option<Accepted>>,
    ) -> Option<Accepted> {
        let deadline = tokio::time::Instant::now() + options.handshake_timeout;
        let slot = match gate.try_enter(peer_addr.ip(), deadline) {
            Ok(slot) => slot,
            Err(full) => {
                // Dropping the socket closes it before the peer can make the node hold anything.
                tracing::warn!(%peer_addr, reason = %full, "closing an incoming connection");
                return None;
            }
        };
        // Frames are batched by the writer task; Nagle's algorithm would only add latency.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%peer_addr, %err, "dropping accepted connection: cannot set TCP_NODELAY");
            return None;
        }
        let local_addr = match tcp.local_addr() {
            Ok(addr) => addr,
            Err(err) => {
                tracing::debug!(%peer_addr, %err, "dropping accepted connection: no local address");
                return None;
            }
        };
        match &options.encryption {
            IncomingEncryptionMode::Raw => Some(Accepted {
                stream: NetworkStream::Raw {
                    peer_addr,
                    local_addr,
                    stream: tcp,
                },
                slot,
            }),
            IncomingEncryptionMode::Tls(acceptor) => {
                handshakes.spawn(tls_handshake(
                    acceptor.clone(),
                    tcp,
                    peer_addr,
                    local_addr,
                    slot,
                ));
                None
            }
        }
    }

    /// Logs an accept error, and pauses when it is not about a single connection.
    async fn accept_failed(&self, err: io::Error) {
        use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
        match err.kind() {
            // The connection died before we took it; the next one is unaffected.
            ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted => {
                tracing::debug!(local_addr = %self.local_addr, %err, "accept failed");
            }
            // Out of file descriptors, buffers or memory: retrying at once would spin.
            _ => {
                tracing::warn!(
                    local_addr = %self.local_addr,
                    %err,
                    "accept failed, pausing before the next attempt"
                );
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
}

/// Runs a TLS server handshake, bounded by the slot's deadline. Failures are logged here, where
/// the peer is known, and yield `None`.
async fn tls_handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer_addr: SocketAddr,
    local_addr: SocketAddr,
    slot: PendingSlot,
) -> Option<Accepted> {
    match tokio::time::timeout_at(slot.deadline(), acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(Accepted {
            stream: NetworkStream::TlsServer {
                peer_addr,
                local_addr,
                stream,
            },
            slot,
        }),
        Ok(Err(err)) => {
            tracing::warn!(%peer_addr, %err, "TLS handshake with an incoming peer failed");
            None
        }
        Err(_) => {
            tracing::warn!(%peer_addr, "incoming peer did not complete its TLS handshake in time");
            None
        }
    }
}

/// A running accept loop. Dropping it stops the loop.
#[derive(Debug)]
pub(crate) struct ListenerHandle {
    local_addr: SocketAddr,
    /// Always `Some` until `stop` (tests only) takes it.
    task: Option<JoinHandle<()>>,
}

impl ListenerHandle {
    /// The address the listener is bound to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, and returns once the listening socket is closed (so its port is free).
    /// The node stops its listener by dropping the handle; tests wait for the port.
    /// Connections already handed out are not affected; pending TLS handshakes are abandoned.
    #[cfg(test)]
    pub(crate) async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The aborted loop can only end cancelled, which is what was asked for.
            let _ = task.await;
        }
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
