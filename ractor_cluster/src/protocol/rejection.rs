//! Why a node ends a handshake: the reason it sends in `HandshakeMessage::Rejected`, and the
//! bounded free text that reason may carry. Part of the handshake's wire format
//! (`protocol::message`): the order of `Rejection`'s variants is the format.

use serde::{Deserialize, Serialize};

use super::version::ProtocolVersion;

/// The most bytes of free text a [`Rejection`] carries.
pub(crate) const MAX_REJECTION_TEXT: usize = 256;

/// Why a node ends a handshake. Sent in `HandshakeMessage::Rejected` so that both sides can log
/// the same reason.
///
/// The tag and layout of `IncompatibleVersion` (variant 0) are frozen like the `Hello` prefix
/// (rule V5): it is the one answer that must be understood across major versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Rejection {
    /// The sender speaks `ours`, whose major differs from the receiver's.
    IncompatibleVersion {
        /// The rejecting node's version.
        ours: ProtocolVersion,
    },
    /// The receiver's proof did not check: most likely the cookies differ.
    BadProof,
    /// The receiver has the same name as the sender: it connected to itself, or two nodes share a
    /// name.
    ConnectionToSelf,
    /// The receiver broke the handshake (a message out of order, malformed bytes, ...).
    ProtocolViolation(RejectionText),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::IncompatibleVersion { ours } => {
                write!(
                    f,
                    "incompatible protocol version (the rejecting node speaks {ours})"
                )
            }
            Rejection::BadProof => f.write_str("bad proof (do the cookies match?)"),
            Rejection::ConnectionToSelf => f.write_str("connection to self (same node name)"),
            Rejection::ProtocolViolation(text) => {
                write!(f, "protocol violation: {}", text.as_str())
            }
        }
    }
}

/// Free text of at most [`MAX_REJECTION_TEXT`] bytes.
///
/// Building one truncates (at a character boundary); decoding a longer one fails (rule H9), so a
/// peer cannot make us log an unbounded string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub(crate) struct RejectionText(
    // Visible to the protocol's tests, which build an over-long one to check that it is refused.
    pub(super) String,
);

impl RejectionText {
    /// `text`, cut to at most [`MAX_REJECTION_TEXT`] bytes.
    pub(crate) fn truncating(text: &str) -> Self {
        let mut end = text.len().min(MAX_REJECTION_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Self(text.get(..end).unwrap_or_default().to_owned())
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RejectionText {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        // PROTOCOL.md rule H9.
        if text.len() <= MAX_REJECTION_TEXT {
            Ok(Self(text))
        } else {
            Err(format!(
                "rejection text of {} bytes exceeds {MAX_REJECTION_TEXT}",
                text.len()
            ))
        }
    }
}
