//! Connecting a node to another: open a connection and hand it to the [`NodeServer`](super::NodeServer),
//! which runs the session. [`connect`] and its siblings return once the connection is handed
//! over; the handshake continues in the session, and its outcome is reported to event
//! subscribers. [`connect_and_wait`] and [`connect_enc_and_wait`] return once the session is ready
//! (or could not be), with a typed error.
//!
//! A node remembers the address of a peer it dialed (except over an external transport) and dials
//! it again if the session is lost; see [`ReconnectPolicy`](super::ReconnectPolicy).

use std::fmt;
use std::io;
use std::time::Duration;

use ractor::{ActorRef, MessagingErr};
use tokio::net::ToSocketAddrs;
use tokio_native_tls::TlsConnector;

use super::events::NodeServerSessionInformation;
use super::reconnect::DialTarget;
use super::server::message::{NodeServerMessage, ServerEvent};
use crate::net::{dial_tcp, dial_tls, ClusterBidiStream, DialError, NetworkStream};

pub use crate::error::ConnectError;

/// Why a connection could not be opened or handed to the node server.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientConnectErr {
    /// The TCP connection could not be opened.
    Socket(io::Error),
    /// The node server is not running.
    Messaging(MessagingErr<NodeServerMessage>),
    /// The TLS handshake failed (the `native_tls` error is the source of this `io::Error`).
    Encryption(io::Error),
}

impl fmt::Display for ClientConnectErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket(err) => write!(f, "cannot connect: {err}"),
            Self::Messaging(_) => f.write_str("the node server is not running"),
            Self::Encryption(err) => write!(f, "TLS handshake failed: {err}"),
        }
    }
}

impl std::error::Error for ClientConnectErr {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Socket(err) | Self::Encryption(err) => Some(err),
            Self::Messaging(err) => Some(err),
        }
    }
}

impl From<io::Error> for ClientConnectErr {
    fn from(err: io::Error) -> Self {
        Self::Socket(err)
    }
}

impl From<MessagingErr<NodeServerMessage>> for ClientConnectErr {
    fn from(err: MessagingErr<NodeServerMessage>) -> Self {
        Self::Messaging(err)
    }
}

/// Connects `node_server` to the node listening at `address`, over plain TCP.
pub async fn connect<T: ToSocketAddrs>(
    node_server: &ActorRef<NodeServerMessage>,
    address: T,
) -> Result<(), ClientConnectErr> {
    let stream = dial_tcp(address).await?;
    let target = tcp_target(&stream);
    node_server.cast(NodeServerMessage::internal(ServerEvent::Open {
        stream,
        target,
        waiter: None,
    }))?;
    Ok(())
}

/// Where to dial a peer reached over plain TCP again: the address the dial reached.
fn tcp_target(stream: &NetworkStream) -> Option<DialTarget> {
    stream.peer_addr().map(|addr| DialTarget {
        addr: addr.to_string(),
        tls: None,
    })
}

/// Connects `node_server` to the node listening at `address`, over TLS, checking the server's
/// certificate against `domain`. In transitive mode the node then reaches the peers it learns
/// about with the same connector.
pub async fn connect_enc<T: ToSocketAddrs>(
    node_server: &ActorRef<NodeServerMessage>,
    address: T,
    encryption_settings: TlsConnector,
    domain: &str,
) -> Result<(), ClientConnectErr> {
    let stream = dial_tls(address, &encryption_settings, domain)
        .await
        .map_err(|err| match err {
            DialError::Connect(err) => ClientConnectErr::Socket(err),
            DialError::Tls(err) => ClientConnectErr::Encryption(io::Error::other(err)),
        })?;
    let target = stream.peer_addr().map(|addr| DialTarget {
        addr: addr.to_string(),
        tls: Some((encryption_settings.clone(), domain.to_owned())),
    });
    node_server.cast(NodeServerMessage::internal(ServerEvent::UseTlsConnector(
        encryption_settings,
    )))?;
    node_server.cast(NodeServerMessage::internal(ServerEvent::Open {
        stream,
        target,
        waiter: None,
    }))?;
    Ok(())
}

/// Connects `node_server` to another node over a transport of your own; this node acts as the
/// client of the handshake.
pub async fn connect_external(
    node_server: &ActorRef<NodeServerMessage>,
    stream: Box<dyn ClusterBidiStream>,
) -> Result<(), ClientConnectErr> {
    node_server.cast(NodeServerMessage::ConnectionOpenedExternal {
        stream,
        is_server: false,
    })?;
    Ok(())
}

/// Connects `node_server` to the node listening at `address` over plain TCP, and waits until the
/// session is ready (authenticated, and the initial exchange of actors and groups done both ways),
/// for at most `timeout`.
///
/// If this node is already connected to that peer, the existing session is returned. Once
/// connected, the peer is dialed again if the session is lost, as with [`connect`].
///
/// ```no_run
/// # async fn run(node: ractor::ActorRef<ractor_cluster::NodeServerMessage>) {
/// use std::time::Duration;
/// use ractor_cluster::node::client::ConnectError;
///
/// match ractor_cluster::client_connect_and_wait(&node, "10.0.0.7:4697", Duration::from_secs(5)).await {
///     Ok(session) => println!("connected to {:?}", session.peer_name),
///     Err(ConnectError::AuthenticationFailed(reason)) => eprintln!("check the cookie: {reason}"),
///     Err(err) => eprintln!("cannot connect: {err}"),
/// }
/// # }
/// ```
pub async fn connect_and_wait<T: ToSocketAddrs>(
    node_server: &ActorRef<NodeServerMessage>,
    address: T,
    timeout: Duration,
) -> Result<NodeServerSessionInformation, ConnectError> {
    let attempt = async {
        let stream = dial_tcp(address).await.map_err(ConnectError::Io)?;
        let target = tcp_target(&stream);
        open_and_wait(node_server, stream, target).await
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(ConnectError::Timeout(timeout)))
}

/// [`connect_and_wait`] over TLS, checking the server's certificate against `domain`; see
/// [`connect_enc`] for how transitive peers are then dialed.
pub async fn connect_enc_and_wait<T: ToSocketAddrs>(
    node_server: &ActorRef<NodeServerMessage>,
    address: T,
    encryption_settings: TlsConnector,
    domain: &str,
    timeout: Duration,
) -> Result<NodeServerSessionInformation, ConnectError> {
    let attempt = async {
        let stream = dial_tls(address, &encryption_settings, domain)
            .await
            .map_err(|err| match err {
                DialError::Connect(err) => ConnectError::Io(err),
                DialError::Tls(err) => ConnectError::Tls(err),
            })?;
        let target = stream.peer_addr().map(|addr| DialTarget {
            addr: addr.to_string(),
            tls: Some((encryption_settings.clone(), domain.to_owned())),
        });
        node_server
            .cast(NodeServerMessage::internal(ServerEvent::UseTlsConnector(
                encryption_settings.clone(),
            )))
            .map_err(|_| ConnectError::ServerNotRunning)?;
        open_and_wait(node_server, stream, target).await
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(ConnectError::Timeout(timeout)))
}

async fn open_and_wait(
    node_server: &ActorRef<NodeServerMessage>,
    stream: NetworkStream,
    target: Option<DialTarget>,
) -> Result<NodeServerSessionInformation, ConnectError> {
    let (waiter, answer) = ractor::concurrency::oneshot();
    node_server
        .cast(NodeServerMessage::internal(ServerEvent::Open {
            stream,
            target,
            waiter: Some(waiter),
        }))
        .map_err(|_| ConnectError::ServerNotRunning)?;
    // The server dropping the waiter unanswered means it stopped.
    answer.await.unwrap_or(Err(ConnectError::ServerNotRunning))
}
