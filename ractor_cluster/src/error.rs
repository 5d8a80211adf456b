//! Error types shared by several layers, named for what failed. Each sits below its users, so that
//! they do not import one another to name a failure.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio_native_tls::native_tls;

use crate::protocol::codec;

/// Why a message, a field or a reply could not be encoded or decoded. The text is for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    reason: String,
}

impl FieldError {
    /// A failure described in words.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The payload names a variant that this build of the message type does not have.
    pub fn unknown_variant(name: &[u8]) -> Self {
        Self::new(format!(
            "unknown variant {:?} (is the sender running a newer version of this message type?)",
            String::from_utf8_lossy(name)
        ))
    }

    /// A cast payload named a variant that is a call here, or the reverse.
    pub fn wrong_kind(name: &[u8], expected: &'static str) -> Self {
        Self::new(format!(
            "variant {:?} arrived as a {} but is declared as the other kind",
            String::from_utf8_lossy(name),
            expected
        ))
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for FieldError {}

impl From<codec::CodecError> for FieldError {
    fn from(err: codec::CodecError) -> Self {
        Self::new(err.to_string())
    }
}

/// Why [`connect_and_wait`](crate::client_connect_and_wait) or [`connect_enc_and_wait`](crate::client_connect_enc_and_wait) did not give a ready session.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The session was not ready within the time given. The attempt goes on in the background:
    /// the session may still become ready, and is then reported to event subscribers.
    Timeout(Duration),
    /// The connection could not be opened: refused, unreachable, name resolution failed...
    Io(io::Error),
    /// The TLS handshake failed: the peer's certificate was rejected, or it does not speak TLS.
    Tls(native_tls::Error),
    /// The peer and this node could not authenticate each other: most likely their cookies
    /// differ (or they share a name, or speak incompatible protocol versions). Not retried.
    AuthenticationFailed(String),
    /// The connection opened but the session ended before it was ready (the peer closed it,
    /// broke the protocol, or did not finish the handshake in time), and why.
    SessionEnded(String),
    /// The node server is not running.
    ServerNotRunning,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "the session was not ready within {after:?}"),
            Self::Io(err) => write!(f, "cannot connect: {err}"),
            Self::Tls(err) => write!(f, "TLS handshake failed: {err}"),
            Self::AuthenticationFailed(reason) => write!(f, "authentication failed: {reason}"),
            Self::SessionEnded(reason) => {
                write!(f, "the session ended before it was ready: {reason}")
            }
            Self::ServerNotRunning => f.write_str("the node server is not running"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(err) => Some(err),
            Self::Tls(err) => Some(err),
            Self::Timeout(_)
            | Self::AuthenticationFailed(_)
            | Self::SessionEnded(_)
            | Self::ServerNotRunning => None,
        }
    }
}
