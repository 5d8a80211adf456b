//! What each side of a handshake asks for the frames after it (PROTOCOL.md rule K1): sealed
//! records or plaintext. On the wire in `Hello::frames`; kept apart from the messages so that the
//! choice and how two answers combine read in one place.

use serde::{Deserialize, Serialize};

/// How the frames after the handshake travel (PROTOCOL.md rule K1).
///
/// Each side asks for one in its hello; the session is sealed if either side asks for it, so
/// plaintext needs both sides' consent, and a man in the middle cannot change either answer: the
/// proofs cover both hellos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum FrameProtection {
    /// Every frame in sealed records (PROTOCOL.md, "Records"). What a node asks by default.
    Sealed,
    /// Frames as they are: asked by a node whose transport already protects them (TLS), or that
    /// was told to trust its network.
    Plaintext,
}

impl FrameProtection {
    /// What a session between a side asking `self` and one asking `other` uses.
    pub(crate) fn agreed_with(self, other: FrameProtection) -> FrameProtection {
        if self == FrameProtection::Plaintext && other == FrameProtection::Plaintext {
            FrameProtection::Plaintext
        } else {
            FrameProtection::Sealed
        }
    }

    /// The byte the key schedule and the proofs take for this value: its wire tag.
    pub(crate) fn tag(self) -> u8 {
        match self {
            FrameProtection::Sealed => 0,
            FrameProtection::Plaintext => 1,
        }
    }
}
