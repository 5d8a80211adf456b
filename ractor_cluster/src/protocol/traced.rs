//! The frame of a message sent inside a trace (protocol 2.8; PROTOCOL.md, "Trace context"): the
//! sender's W3C trace context, and the cast or call it carries, or (2.9) the reply to a call
//! that was delivered inside a trace.

use serde::{Deserialize, Serialize};

use super::codec::payload;
use super::reply::ReplyOutcome;

/// The minor version from which a peer takes
/// [`SessionMessage::Traced`](super::message::SessionMessage::Traced).
#[cfg(feature = "trace-context")]
pub(crate) const TRACED_MINOR: u16 = 8;

/// The minor version from which a peer takes [`TracedMessage::Reply`].
#[cfg(feature = "trace-context")]
pub(crate) const TRACED_REPLY_MINOR: u16 = 9;

/// The W3C trace context (`traceparent` version 00) of the span a message was sent in: 25 bytes
/// on the wire, in the order of the `traceparent` header. The receiver checks nothing but the
/// length: a context that is not valid (a zero trace or span id) starts no trace there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct TraceParent {
    /// The trace's id.
    pub(crate) trace_id: [u8; 16],
    /// The sending span's id: the parent of the span the message is delivered in.
    pub(crate) span_id: [u8; 8],
    /// The W3C trace flags (bit 0: sampled).
    pub(crate) flags: u8,
}

/// The messages a `SessionMessage::Traced` carries: the casts, calls and (from 2.9) replies of
/// `SessionMessage`, field for field. Variant order is the wire format (rule V2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TracedMessage {
    /// As `SessionMessage::Cast`.
    Cast {
        /// As in `SessionMessage::Cast`.
        to: u64,
        /// As in `SessionMessage::Cast`.
        #[serde(with = "payload")]
        args: Vec<u8>,
    },
    /// As `SessionMessage::Call`.
    Call {
        /// As in `SessionMessage::Call`.
        to: u64,
        /// As in `SessionMessage::Call`.
        call: u64,
        /// As in `SessionMessage::Call`.
        #[serde(with = "payload")]
        args: Vec<u8>,
    },
    /// As `SessionMessage::CastWithMetadata`.
    CastWithMetadata {
        /// As in `SessionMessage::CastWithMetadata`.
        to: u64,
        /// As in `SessionMessage::CastWithMetadata`.
        #[serde(with = "payload")]
        args: Vec<u8>,
        /// As in `SessionMessage::CastWithMetadata`.
        #[serde(with = "payload")]
        metadata: Vec<u8>,
    },
    /// As `SessionMessage::CallWithMetadata`.
    CallWithMetadata {
        /// As in `SessionMessage::CallWithMetadata`.
        to: u64,
        /// As in `SessionMessage::CallWithMetadata`.
        call: u64,
        /// As in `SessionMessage::CallWithMetadata`.
        #[serde(with = "payload")]
        args: Vec<u8>,
        /// As in `SessionMessage::CallWithMetadata`.
        #[serde(with = "payload")]
        metadata: Vec<u8>,
    },
    /// As `SessionMessage::Reply`, from 2.9: the answer to a call that was delivered inside a
    /// trace, sent inside the span it was delivered in (PROTOCOL.md, rule TC5).
    Reply {
        /// As in `SessionMessage::Reply`.
        call: u64,
        /// As in `SessionMessage::Reply`.
        outcome: ReplyOutcome,
    },
}
