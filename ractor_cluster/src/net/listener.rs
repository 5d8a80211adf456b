//! Accepting connections from other nodes.
//!
//! The accept loop never waits on a peer. A plain TCP connection is handed out as soon as it is
//! accepted; a TLS server handshake runs on its own task, bounded in time, and at most a fixed
//! number of them are pending at once, so a peer that connects and then says nothing costs one
//! slot for a bounded time and delays no one else.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_native_tls::TlsAcceptor;

use super::{IncomingEncryptionMode, NetworkStream};

/// After an accept error that is not about one connection (out of file descriptors, out of
/// memory), the loop waits this long before accepting again, rather than spinning on the error.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// How a listener treats the connections it accepts.
#[derive(Debug, Clone)]
pub(crate) struct AcceptOptions {
    /// Plain TCP, or TLS with this acceptor.
    pub(crate) encryption: IncomingEncryptionMode,
    /// How long a peer has to complete its TLS handshake before the connection is dropped.
    pub(crate) tls_handshake_timeout: Duration,
    /// How many TLS handshakes may be pending at once; connections beyond it are closed at once
    /// (logged), so that stalled peers cannot queue up without bound. At least 1.
    pub(crate) max_pending_tls: usize,
}

impl AcceptOptions {
    /// The default time a peer has to complete its TLS handshake.
    pub(crate) const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default number of TLS handshakes pending at once.
    pub(crate) const DEFAULT_MAX_PENDING_TLS: usize = 64;

    /// Options for `encryption`, with the default TLS limits.
    pub(crate) fn new(encryption: IncomingEncryptionMode) -> Self {
        Self {
            encryption,
            tls_handshake_timeout: Self::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            max_pending_tls: Self::DEFAULT_MAX_PENDING_TLS,
        }
    }
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
    /// or [stopped](ListenerHandle::stop), and pending TLS handshakes with it.
    pub(crate) fn spawn(
        self,
        options: AcceptOptions,
        on_stream: impl FnMut(NetworkStream) + Send + 'static,
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
    pub(crate) async fn run(
        self,
        options: AcceptOptions,
        mut on_stream: impl FnMut(NetworkStream),
    ) {
        // Dropped with this future, which aborts every handshake still running.
        let mut handshakes: JoinSet<Option<NetworkStream>> = JoinSet::new();
        loop {
            tokio::select! {
                Some(finished) = handshakes.join_next(), if !handshakes.is_empty() => {
                    match finished {
                        Ok(Some(stream)) => on_stream(stream),
                        // The task logged why the handshake failed.
                        Ok(None) => {}
                        Err(err) => tracing::error!(%err, "TLS handshake task failed"),
                    }
                }
                accepted = self.tcp.accept() => match accepted {
                    Ok((tcp, peer_addr)) => {
                        if let Some(stream) = self.admit(tcp, peer_addr, &options, &mut handshakes) {
                            on_stream(stream);
                        }
                    }
                    Err(err) => self.accept_failed(err).await,
                },
            }
        }
    }

    /// Prepares an accepted connection: ready at once in raw mode, or its TLS handshake started.
    fn admit(
        &self,
        tcp: TcpStream,
        peer_addr: SocketAddr,
        options: &AcceptOptions,
        handshakes: &mut JoinSet<Option<NetworkStream>>,
    ) -> Option<NetworkStream> {
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
            IncomingEncryptionMode::Raw => Some(NetworkStream::Raw {
                peer_addr,
                local_addr,
                stream: tcp,
            }),
            IncomingEncryptionMode::Tls(acceptor) => {
                if handshakes.len() >= options.max_pending_tls.max(1) {
                    tracing::warn!(
                        %peer_addr,
                        pending = handshakes.len(),
                        "closing connection: too many TLS handshakes pending"
                    );
                    return None;
                }
                handshakes.spawn(tls_handshake(
                    acceptor.clone(),
                    tcp,
                    peer_addr,
                    local_addr,
                    options.tls_handshake_timeout,
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

/// Runs a TLS server handshake, bounded by `timeout`. Failures are logged here, where the peer is
/// known, and yield `None`.
async fn tls_handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer_addr: SocketAddr,
    local_addr: SocketAddr,
    timeout: Duration,
) -> Option<NetworkStream> {
    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some(NetworkStream::TlsServer {
            peer_addr,
            local_addr,
            stream,
        }),
        Ok(Err(err)) => {
            tracing::warn!(%peer_addr, %err, "TLS handshake with an incoming peer failed");
            None
        }
        Err(_) => {
            tracing::warn!(%peer_addr, ?timeout, "incoming peer did not complete its TLS handshake in time");
            None
        }
    }
}

/// A running accept loop. Dropping it stops the loop.
#[derive(Debug)]
pub(crate) struct ListenerHandle {
    local_addr: SocketAddr,
    /// Always `Some` until [`stop`](Self::stop) takes it.
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
