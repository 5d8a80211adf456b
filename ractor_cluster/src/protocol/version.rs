//! The protocol's version: which one this build speaks, and how two versions meet
//! (PROTOCOL.md, "Versioning").

use serde::{Deserialize, Serialize};

/// The version of the protocol this build speaks.
///
/// Compatibility rules (PROTOCOL.md, "Versioning"): two nodes talk only if their `major`s are equal
/// (rule V1). Within one major, a newer `minor` may only append variants at the end of an enum; it
/// never adds, removes or reorders fields (rule V2). Each side learns the other's version in the
/// handshake and sends only variants that the lower of the two minors defines (rule V4); a
/// variant tag the receiver does not know is therefore a protocol error of the sender (rule S1).
pub(crate) const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion {
    major: 2,
    minor: 10,
};

/// A protocol version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct ProtocolVersion {
    /// Changes when the layout of anything already defined changes. Must match to talk.
    pub(crate) major: u16,
    /// Changes when variants are appended. May differ between peers.
    pub(crate) minor: u16,
}

impl ProtocolVersion {
    /// Whether a node speaking `self` can talk to one speaking `other` (rule V1).
    pub(crate) fn is_compatible_with(self, other: ProtocolVersion) -> bool {
        self.major == other.major
    }

    /// The version both sides speak: the common major and the lower minor (rule V4).
    pub(crate) fn common_with(self, other: ProtocolVersion) -> ProtocolVersion {
        ProtocolVersion {
            major: self.major,
            minor: self.minor.min(other.minor),
        }
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
