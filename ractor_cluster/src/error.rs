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

/// Why a session ended, named for who is at fault. Event subscribers get it with
/// [`node_session_ended`](crate::node::NodeEventSubscription::node_session_ended), and a
/// [`ConnectError`] for a session that ended before it was ready gives it as its
/// [`source`](std::error::Error::source). Its text is the reason the session was stopped with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The peer broke the protocol after authenticating: a malformed or oversized frame or
    /// message. Its fault; this node dials it again if it had dialed it.
    PeerMisbehaved(String),
    /// The handshake did not complete: refused, broken off, malformed, or too slow.
    HandshakeFailed {
        /// What went wrong.
        reason: String,
        /// The two nodes cannot authenticate each other, however often they try (different
        /// cookies, the same name, incompatible protocol versions): a first connection is not
        /// retried. A peer that this node is dialing again after losing it is still dialed again,
        /// with the backoff: whoever answers at its address can send a refusal.
        authentication: bool,
    },
    /// Reading from or writing to the connection failed.
    Io(String),
    /// The peer sent nothing at all, not even a heartbeat, for this long, and was declared down.
    PeerSilent(Duration),
    /// Another node, which watched the peer, heard nothing from it for its `down_after` and said
    /// so (PROTOCOL.md, "Heartbeats and silence"), and the peer sent this node nothing either
    /// within one heartbeat interval of a probe (a peer older than protocol 2.5, which answers no
    /// probe, is not asked): this node ends its session with the peer as if it had found it
    /// silent itself. Holds the reporting node's name.
    ReportedSilent(String),
    /// The peer closed the connection, or said it was leaving and why.
    EndedByPeer(String),
    /// This node ended the session: the user disconnected the peer, the node stopped, another
    /// session to the same peer was kept instead, or the session's own actor failed.
    EndedHere(String),
}

/// Ends the reason a node gives a peer for closing a session because another session between the
/// two is kept instead (a duplicate refused, or an established one replaced): the peer then knows
/// that this node is alive and connected to it through the other session, and does not mark it
/// down while that session is being admitted on its side.
pub(crate) const ANOTHER_SESSION_KEPT: &str = "(another session is kept)";

impl SessionEnd {
    /// Whether the peer closed the session because it keeps another session with this node
    /// instead (both dialed at once, or a duplicate): the peer is alive and connected.
    pub(crate) fn peer_kept_another_session(&self) -> bool {
        matches!(self, Self::EndedByPeer(reason)
            if reason.ends_with(ANOTHER_SESSION_KEPT))
    }

    /// Whether the two nodes cannot authenticate each other (see
    /// [`HandshakeFailed`](Self::HandshakeFailed)).
    pub fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            Self::HandshakeFailed {
                authentication: true,
                ..
            }
        )
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerMisbehaved(reason)
            | Self::HandshakeFailed { reason, .. }
            | Self::Io(reason)
            | Self::EndedByPeer(reason)
            | Self::EndedHere(reason) => f.write_str(reason),
            Self::PeerSilent(silence) => write!(
                f,
                "no traffic from the peer for {:.1} s: declared down",
                silence.as_secs_f64()
            ),
            Self::ReportedSilent(reporter) => write!(
                f,
                "{reporter} heard nothing from the peer for its down_after: declared down"
            ),
        }
    }
}

impl std::error::Error for SessionEnd {}

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
    /// differ (or they share a name, or speak incompatible protocol versions). Not retried. The
    /// [`SessionEnd`] says what the handshake found.
    AuthenticationFailed(SessionEnd),
    /// The connection opened but the session ended before it was ready (the peer closed it,
    /// broke the protocol, or did not finish the handshake in time), and why.
    SessionEnded(SessionEnd),
    /// The node server is not running.
    ServerNotRunning,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "the session was not ready within {after:?}"),
            Self::Io(err) => write!(f, "cannot connect: {err}"),
            Self::Tls(err) => write!(f, "TLS handshake failed: {err}"),
            // The reason is the source, as the API guidelines (C-GOOD-ERR) want it.
            Self::AuthenticationFailed(_) => f.write_str("authentication failed"),
            Self::SessionEnded(_) => f.write_str("the session ended before it was ready"),
            Self::ServerNotRunning => f.write_str("the node server is not running"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(err) => Some(err),
            Self::Tls(err) => Some(err),
            Self::AuthenticationFailed(end) | Self::SessionEnded(end) => Some(end),
            Self::Timeout(_) | Self::ServerNotRunning => None,
        }
    }
}
