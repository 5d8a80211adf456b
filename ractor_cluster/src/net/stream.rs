//! The transports a node talks over, and how each splits into a read half and a write half.

use std::fmt;
use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio_native_tls::{TlsAcceptor, TlsStream};

/// The read half of a connection, whatever transport carries it.
pub type BoxRead = Box<dyn tokio::io::AsyncRead + Unpin + Send + 'static>;

/// The write half of a connection, whatever transport carries it.
pub type BoxWrite = Box<dyn tokio::io::AsyncWrite + Unpin + Send + 'static>;

/// A bidirectional byte stream a node can run a session over.
///
/// Implemented for TCP streams, TLS streams over TCP, Unix domain sockets and in-memory
/// [`tokio::io::DuplexStream`]s. Implement it for your own transport (a QUIC stream, an SSH
/// channel, ...) to connect nodes over it: the node only needs to split it into a read half and a
/// write half that are driven independently.
///
/// The labels only appear in logs and diagnostics.
///
/// ```
/// use ractor_cluster::{BoxRead, BoxWrite, ClusterBidiStream};
///
/// /// An in-memory pipe with a name, e.g. for a test harness.
/// struct NamedPipe {
///     name: String,
///     pipe: tokio::io::DuplexStream,
/// }
///
/// impl ClusterBidiStream for NamedPipe {
///     fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
///         let (read, write) = tokio::io::split(self.pipe);
///         (Box::new(read), Box::new(write))
///     }
///
///     fn peer_label(&self) -> Option<String> {
///         Some(self.name.clone())
///     }
/// }
///
/// let (near, _far) = tokio::io::duplex(1024);
/// let stream: Box<dyn ClusterBidiStream> = Box::new(NamedPipe { name: "pipe-1".into(), pipe: near });
/// assert_eq!(stream.peer_label().as_deref(), Some("pipe-1"));
/// let (_read, _write) = stream.split();
/// ```
pub trait ClusterBidiStream: Send + 'static {
    /// Splits the stream into halves that can be used from different tasks.
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite);

    /// Describes the remote end for logs, if the transport knows it.
    fn peer_label(&self) -> Option<String> {
        None
    }

    /// Describes the local end for logs, if the transport knows it.
    fn local_label(&self) -> Option<String> {
        None
    }
}

impl ClusterBidiStream for TcpStream {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        // Owned halves need no lock between the reader and the writer.
        let (read, write) = (*self).into_split();
        (Box::new(read), Box::new(write))
    }

    fn peer_label(&self) -> Option<String> {
        self.peer_addr().ok().map(|addr| addr.to_string())
    }

    fn local_label(&self) -> Option<String> {
        self.local_addr().ok().map(|addr| addr.to_string())
    }
}

impl ClusterBidiStream for TlsStream<TcpStream> {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        // A TLS session has one state for both directions, so its halves share a lock.
        let (read, write) = tokio::io::split(*self);
        (Box::new(read), Box::new(write))
    }

    fn peer_label(&self) -> Option<String> {
        tcp_of_tls(self)
            .peer_addr()
            .ok()
            .map(|addr| addr.to_string())
    }

    fn local_label(&self) -> Option<String> {
        tcp_of_tls(self)
            .local_addr()
            .ok()
            .map(|addr| addr.to_string())
    }
}

impl ClusterBidiStream for tokio::io::DuplexStream {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (read, write) = tokio::io::split(*self);
        (Box::new(read), Box::new(write))
    }

    fn peer_label(&self) -> Option<String> {
        Some("in-memory duplex".to_owned())
    }

    fn local_label(&self) -> Option<String> {
        Some("in-memory duplex".to_owned())
    }
}

#[cfg(unix)]
impl ClusterBidiStream for tokio::net::UnixStream {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let (read, write) = (*self).into_split();
        (Box::new(read), Box::new(write))
    }

    fn peer_label(&self) -> Option<String> {
        self.peer_addr().ok().map(|addr| unix_label(&addr))
    }

    fn local_label(&self) -> Option<String> {
        self.local_addr().ok().map(|addr| unix_label(&addr))
    }
}

/// A Unix socket's path, or a placeholder for the unnamed sockets of a `socketpair`.
#[cfg(unix)]
fn unix_label(addr: &tokio::net::unix::SocketAddr) -> String {
    match addr.as_pathname() {
        Some(path) => format!("unix:{}", path.display()),
        None => "unix:(unnamed)".to_owned(),
    }
}

/// A user transport's label, or a placeholder when it gave none.
fn external_label(label: Option<&str>) -> String {
    label.unwrap_or("external transport").to_owned()
}

/// The TCP stream under a TLS session.
fn tcp_of_tls(stream: &TlsStream<TcpStream>) -> &TcpStream {
    stream.get_ref().get_ref().get_ref()
}

/// A connection between two nodes, as a session receives it.
///
/// The listener produces [`NetworkStream::Raw`] or [`NetworkStream::TlsServer`] depending on its
/// [`IncomingEncryptionMode`]; dialing produces [`NetworkStream::Raw`] or
/// [`NetworkStream::TlsClient`]; a user-supplied [`ClusterBidiStream`] becomes
/// [`NetworkStream::External`].
///
/// ```
/// use ractor_cluster::NetworkStream;
///
/// fn describe(stream: &NetworkStream) -> String {
///     match stream {
///         NetworkStream::Raw { peer_addr, .. } => format!("tcp from {peer_addr}"),
///         NetworkStream::TlsServer { peer_addr, .. } => format!("tls (accepted) from {peer_addr}"),
///         NetworkStream::TlsClient { peer_addr, .. } => format!("tls (dialed) to {peer_addr}"),
///         NetworkStream::External { .. } => format!("external: {}", stream.peer_label()),
///     }
/// }
/// ```
pub enum NetworkStream {
    /// Plain TCP, accepted or dialed.
    Raw {
        /// The remote address.
        peer_addr: SocketAddr,
        /// The local address.
        local_addr: SocketAddr,
        /// The connection.
        stream: TcpStream,
    },
    /// TLS over TCP, accepted by our listener (we are the TLS server).
    TlsServer {
        /// The remote address.
        peer_addr: SocketAddr,
        /// The local address.
        local_addr: SocketAddr,
        /// The connection, handshake completed.
        stream: TlsStream<TcpStream>,
    },
    /// TLS over TCP, dialed by us (we are the TLS client).
    TlsClient {
        /// The remote address.
        peer_addr: SocketAddr,
        /// The local address.
        local_addr: SocketAddr,
        /// The connection, handshake completed.
        stream: TlsStream<TcpStream>,
    },
    /// A transport supplied by the user through [`ClusterBidiStream`], already split.
    External {
        /// Describes the remote end for logs, if known.
        peer_label: Option<String>,
        /// Describes the local end for logs, if known.
        local_label: Option<String>,
        /// The read half.
        reader: BoxRead,
        /// The write half.
        writer: BoxWrite,
    },
}

impl NetworkStream {
    /// Wraps a user-supplied transport, recording its labels before splitting it.
    pub(crate) fn from_bidi(stream: Box<dyn ClusterBidiStream>) -> Self {
        let peer_label = stream.peer_label();
        let local_label = stream.local_label();
        let (reader, writer) = stream.split();
        NetworkStream::External {
            peer_label,
            local_label,
            reader,
            writer,
        }
    }

    /// The remote socket address, for transports that have one.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            NetworkStream::Raw { peer_addr, .. }
            | NetworkStream::TlsServer { peer_addr, .. }
            | NetworkStream::TlsClient { peer_addr, .. } => Some(*peer_addr),
            NetworkStream::External { .. } => None,
        }
    }

    /// The local socket address, for transports that have one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            NetworkStream::Raw { local_addr, .. }
            | NetworkStream::TlsServer { local_addr, .. }
            | NetworkStream::TlsClient { local_addr, .. } => Some(*local_addr),
            NetworkStream::External { .. } => None,
        }
    }

    /// Describes the remote end for logs: its address, or the external transport's label.
    pub fn peer_label(&self) -> String {
        match self {
            NetworkStream::Raw { peer_addr, .. }
            | NetworkStream::TlsServer { peer_addr, .. }
            | NetworkStream::TlsClient { peer_addr, .. } => peer_addr.to_string(),
            NetworkStream::External { peer_label, .. } => external_label(peer_label.as_deref()),
        }
    }

    /// Describes the local end for logs: its address, or the external transport's label.
    pub fn local_label(&self) -> String {
        match self {
            NetworkStream::Raw { local_addr, .. }
            | NetworkStream::TlsServer { local_addr, .. }
            | NetworkStream::TlsClient { local_addr, .. } => local_addr.to_string(),
            NetworkStream::External { local_label, .. } => external_label(local_label.as_deref()),
        }
    }

    /// Whether the connection is encrypted with TLS by this crate.
    ///
    /// An [`External`](NetworkStream::External) transport may well be encrypted by its own means;
    /// this crate cannot tell, and reports `false`.
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            NetworkStream::TlsServer { .. } | NetworkStream::TlsClient { .. }
        )
    }

    /// Splits the connection into halves that can be driven from different tasks.
    pub fn split(self) -> (BoxRead, BoxWrite) {
        match self {
            NetworkStream::Raw { stream, .. } => Box::new(stream).split(),
            NetworkStream::TlsServer { stream, .. } | NetworkStream::TlsClient { stream, .. } => {
                Box::new(stream).split()
            }
            NetworkStream::External { reader, writer, .. } => (reader, writer),
        }
    }
}

impl fmt::Debug for NetworkStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The streams themselves are opaque (and the boxed halves have no Debug); the addresses
        // and labels are what a reader of the log needs.
        match self {
            NetworkStream::Raw {
                peer_addr,
                local_addr,
                ..
            } => f
                .debug_struct("Raw")
                .field("peer_addr", peer_addr)
                .field("local_addr", local_addr)
                .finish_non_exhaustive(),
            NetworkStream::TlsServer {
                peer_addr,
                local_addr,
                ..
            } => f
                .debug_struct("TlsServer")
                .field("peer_addr", peer_addr)
                .field("local_addr", local_addr)
                .finish_non_exhaustive(),
            NetworkStream::TlsClient {
                peer_addr,
                local_addr,
                ..
            } => f
                .debug_struct("TlsClient")
                .field("peer_addr", peer_addr)
                .field("local_addr", local_addr)
                .finish_non_exhaustive(),
            NetworkStream::External {
                peer_label,
                local_label,
                ..
            } => f
                .debug_struct("External")
                .field("peer_label", peer_label)
                .field("local_label", local_label)
                .finish_non_exhaustive(),
        }
    }
}

/// Whether a node's listener expects plain TCP or TLS from connecting peers.
///
/// ```no_run
/// use ractor_cluster::IncomingEncryptionMode;
/// use tokio_native_tls::native_tls;
///
/// # fn load() -> Result<(), Box<dyn std::error::Error>> {
/// let cert_pem = std::fs::read("node.crt")?;
/// let key_pem = std::fs::read("node.key")?; // PKCS#8
/// let identity = native_tls::Identity::from_pkcs8(&cert_pem, &key_pem)?;
/// let acceptor = native_tls::TlsAcceptor::new(identity)?;
/// let mode = IncomingEncryptionMode::Tls(acceptor.into());
/// # let _ = mode;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub enum IncomingEncryptionMode {
    /// Accept plain TCP connections.
    Raw,
    /// Run a TLS server handshake on every accepted connection with this acceptor.
    Tls(TlsAcceptor),
}

impl fmt::Debug for IncomingEncryptionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IncomingEncryptionMode::Raw => f.write_str("Raw"),
            // The acceptor holds the private key: never print more than its presence.
            IncomingEncryptionMode::Tls(_) => f.write_str("Tls(..)"),
        }
    }
}
