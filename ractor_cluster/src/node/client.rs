//! Connecting a node to another: open a connection and hand it to the [`NodeServer`](super::NodeServer),
//! which runs the session. These functions return once the connection is handed over; the
//! handshake continues in the session, and its outcome is reported to event subscribers.

use std::fmt;
use std::io;

use ractor::{ActorRef, MessagingErr};
use tokio::net::ToSocketAddrs;
use tokio_native_tls::TlsConnector;

use super::{NodeServerMessage, ServerEvent};
use crate::net::{dial_tcp, dial_tls, ClusterBidiStream, DialError};

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
    node_server.cast(NodeServerMessage::ConnectionOpened {
        stream: Box::new(stream),
        is_server: false,
    })?;
    Ok(())
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
    node_server.cast(NodeServerMessage::internal(ServerEvent::UseTlsConnector(
        encryption_settings,
    )))?;
    node_server.cast(NodeServerMessage::ConnectionOpened {
        stream: Box::new(stream),
        is_server: false,
    })?;
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
