//! Opening connections to other nodes, over TCP or TLS.
//!
//! Neither function bounds its own duration: the caller wraps it in `tokio::time::timeout` with
//! its configured connect timeout (dropping the future abandons the attempt and closes the socket).

use std::fmt;
use std::io;

use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_native_tls::{native_tls, TlsConnector};

use super::NetworkStream;

/// Connects over plain TCP, with `TCP_NODELAY` set.
pub(crate) async fn dial_tcp(addr: impl ToSocketAddrs) -> io::Result<NetworkStream> {
    let stream = connect_tcp(addr).await?;
    Ok(NetworkStream::Raw {
        peer_addr: stream.peer_addr()?,
        local_addr: stream.local_addr()?,
        stream,
    })
}

/// Connects over TCP, then runs a TLS client handshake that verifies the server as `domain`.
pub(crate) async fn dial_tls(
    addr: impl ToSocketAddrs,
    connector: &TlsConnector,
    domain: &str,
) -> Result<NetworkStream, DialError> {
    let stream = connect_tcp(addr).await.map_err(DialError::Connect)?;
    // Read the addresses before the stream disappears into the TLS session.
    let peer_addr = stream.peer_addr().map_err(DialError::Connect)?;
    let local_addr = stream.local_addr().map_err(DialError::Connect)?;
    let stream = connector
        .connect(domain, stream)
        .await
        .map_err(DialError::Tls)?;
    Ok(NetworkStream::TlsClient {
        peer_addr,
        local_addr,
        stream,
    })
}

async fn connect_tcp(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    // Frames are written whole by the writer task, which batches on its own; Nagle's algorithm
    // would only add latency to each small message.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Why a TLS connection attempt failed.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum DialError {
    /// The TCP connection could not be opened (refused, unreachable, name resolution failed...).
    Connect(io::Error),
    /// The TLS handshake failed: the peer's certificate was rejected, the peer is not speaking
    /// TLS, or the connection dropped during the handshake.
    Tls(native_tls::Error),
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::Connect(err) => write!(f, "cannot connect: {err}"),
            DialError::Tls(err) => write!(f, "TLS handshake failed: {err}"),
        }
    }
}

impl std::error::Error for DialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DialError::Connect(err) => Some(err),
            DialError::Tls(err) => Some(err),
        }
    }
}
