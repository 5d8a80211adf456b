//! The answer to a call on the wire: its outcome, and why a call may get no value.

use serde::{Deserialize, Serialize};

use super::codec::payload;

/// What became of a `Call`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ReplyOutcome {
    /// The reply value, encoded by the derive macro.
    Value(#[serde(with = "payload")] Vec<u8>),
    /// There is no reply, and why.
    Failed(CallFailure),
}

/// Why a `Call` got no reply value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CallFailure {
    /// No actor with the target pid is alive on the receiving node.
    TargetGone,
    /// The target got the call but dropped the reply port without answering.
    ReplyDropped,
    /// The receiving node could not decode the call's `args` for the target's message type.
    Undecodable,
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallFailure::TargetGone => "the target actor is gone",
            CallFailure::ReplyDropped => "the target dropped the reply port",
            CallFailure::Undecodable => "the remote node could not decode the call",
        })
    }
}
