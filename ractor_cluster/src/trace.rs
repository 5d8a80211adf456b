//! Traces that cross nodes (feature `trace-context`).
//!
//! ractor's `message_span_propogation` runs an actor's handler inside the span that was current
//! where the message was sent, but only inside one process: a message to a remote actor is
//! serialized and loses its span. With this feature, a cast or call built by
//! `#[derive(RactorClusterMessage)]` inside a sampled span carries that span's W3C trace context
//! (trace id, span id, flags: 25 bytes) to the peer, which delivers it inside a span whose
//! parent is that context, so one trace follows a request from node to node:
//!
//! ```text
//!  node A                          node B                              node C
//!  span "request"                  reader: span "ractor_cluster.deliver"
//!   └─ call B ── Traced frame ───►   (parent: A's "request"), decoded
//!                                    there and handed to the actor,
//!                                    whose handler runs inside it
//!                                     └─ user span, call C ── Traced ──► reader: span
//!                                                                        "ractor_cluster.deliver"
//!                                                                        (parent: B's user span)
//! ```
//!
//! Where the context comes from, and how a remote parent is given to a span, is the
//! [`Propagator`]'s business. With the `opentelemetry` feature, [`OpenTelemetry`] does it through
//! `tracing-opentelemetry` and is used unless another one was set; otherwise set one with
//! [`set_propagator`] (for another version of OpenTelemetry, say, in a few lines).
//!
//! What is traced, exactly:
//! - casts and calls of derived message types, sent while a span with a valid, sampled context
//!   is current, to a peer of protocol 2.8 or later. Anything else travels as before, with not
//!   one byte added; a message sent outside a sampled span carries nothing;
//! - the receiving node decodes a traced message in its session's reader (not in the actor) and
//!   hands it to the actor as a local message, which is how ractor's span propagation can carry
//!   the delivery span into the handler. That needs the target's message type registered
//!   (every non-generic derived type is; a generic one through
//!   [`register_message_type`](crate::node::register_message_type)); a message to an actor of
//!   another type is delivered as bytes, as without the feature, and its handler runs outside the
//!   trace;
//! - the reply to a call delivered inside a trace goes back inside it (to a peer of protocol 2.9
//!   or later): it carries the context of the delivery span, and the caller's node completes the
//!   call inside a span `ractor_cluster.reply` (fields `from`, `call`) whose remote parent is
//!   that one. So the trace shows where each reply came from and when it reached the caller:
//!
//! ```text
//!  node A                                         node B
//!  span "request" ── Traced call ──────────────►  "ractor_cluster.deliver" (handler runs here)
//!   └─ "ractor_cluster.reply" (from B) ◄── Traced reply, in the delivery span's context
//!      parent: B's "ractor_cluster.deliver"
//! ```
//!
//! A traced frame costs 26 bytes more than the same untraced one (PROTOCOL.md, "Trace context").

#[cfg(feature = "opentelemetry")]
mod otel;

#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use otel::OpenTelemetry;

use std::sync::{LazyLock, OnceLock};

use ractor::message::SerializedMessage;
use ractor::{ActorCell, Message};

use crate::protocol::message::TraceParent;

/// A W3C trace context (`traceparent`, version 00): the trace, the span a message was sent in,
/// and the trace flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace's id. All zeros is not valid.
    pub trace_id: [u8; 16],
    /// The span's id. All zeros is not valid.
    pub span_id: [u8; 8],
    /// The trace flags; bit 0 is *sampled*.
    pub flags: u8,
}

impl TraceContext {
    /// The sampled flag of the W3C trace flags.
    pub const SAMPLED: u8 = 0x01;

    /// A context of `trace_id`, `span_id` and `flags`.
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> Self {
        Self {
            trace_id,
            span_id,
            flags,
        }
    }

    /// Whether neither id is all zeros (W3C Trace Context, "traceparent").
    pub fn is_valid(&self) -> bool {
        self.trace_id != [0; 16] && self.span_id != [0; 8]
    }

    /// Whether the sampled flag is set.
    pub fn is_sampled(&self) -> bool {
        self.flags & Self::SAMPLED != 0
    }
}

impl From<TraceParent> for TraceContext {
    fn from(wire: TraceParent) -> Self {
        Self::new(wire.trace_id, wire.span_id, wire.flags)
    }
}

impl From<TraceContext> for TraceParent {
    fn from(context: TraceContext) -> Self {
        Self {
            trace_id: context.trace_id,
            span_id: context.span_id,
            flags: context.flags,
        }
    }
}

/// Reads the current trace context where a message is sent, and gives a received message's
/// span its remote parent.
pub trait Propagator: Send + Sync + 'static {
    /// The context of the span current on this thread, if a message sent now should carry one.
    /// Called each time a derived message is serialized (for a remote actor), on the sender's
    /// thread: return `None` quickly when there is nothing to carry.
    fn current(&self) -> Option<TraceContext>;

    /// Makes `parent` the parent of `span`, the span a received message is delivered in, before
    /// the span is first entered.
    fn set_parent(&self, span: &tracing::Span, parent: TraceContext);
}

/// [`set_propagator`] was called before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagatorAlreadySet;

impl std::fmt::Display for PropagatorAlreadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a trace propagator was set already")
    }
}

impl std::error::Error for PropagatorAlreadySet {}

static PROPAGATOR: OnceLock<Box<dyn Propagator>> = OnceLock::new();

/// Sets the process's [`Propagator`], once. Without one, [`OpenTelemetry`] is used when the
/// `opentelemetry` feature is on, and no context travels otherwise.
pub fn set_propagator(propagator: impl Propagator) -> Result<(), PropagatorAlreadySet> {
    PROPAGATOR
        .set(Box::new(propagator))
        .map_err(|_| PropagatorAlreadySet)
}

/// The propagator in use, if any.
pub(crate) fn propagator() -> Option<&'static dyn Propagator> {
    if let Some(set) = PROPAGATOR.get() {
        return Some(set.as_ref());
    }
    #[cfg(feature = "opentelemetry")]
    return Some(&OpenTelemetry);
    #[cfg(not(feature = "opentelemetry"))]
    None
}

/// The context a message sent now carries: the propagator's, if valid and sampled.
pub(crate) fn current() -> Option<TraceContext> {
    propagator()?
        .current()
        .filter(|context| context.is_valid() && context.is_sampled())
}

// ---------------------------------------------------------------------------------------------
// From the sender's thread to its proxy: a suffix on the message's metadata
//
// ractor serializes a message for a remote actor on the sender's thread, where its span is
// current, but hands the proxy no span; the metadata is the one thing that goes from there to
// the proxy. The context rides at its end, followed by a key of this process and a marker, so
// that metadata a peer chose (delivered as it came) is never taken for it; the proxy takes it
// off before anything else reads the metadata.

/// The last byte of metadata that carries a context.
const MARKER: u8 = 0x7C;
/// Bytes of the suffix: the context, the process key, the marker.
const SUFFIX_LEN: usize = 25 + 8 + 1;
/// A random number of this process (see above).
static PROCESS_KEY: LazyLock<[u8; 8]> = LazyLock::new(rand::random);

/// `metadata` with the current context at its end, if there is one to carry; `None` stays
/// `None` then.
pub(crate) fn with_current_context(metadata: Option<Vec<u8>>) -> Option<Vec<u8>> {
    match current() {
        Some(context) => Some(with_context(metadata, context)),
        None => metadata,
    }
}

/// `metadata` with `context` at its end.
pub(crate) fn with_context(metadata: Option<Vec<u8>>, context: TraceContext) -> Vec<u8> {
    let mut metadata = metadata.unwrap_or_default();
    metadata.reserve(SUFFIX_LEN);
    metadata.extend_from_slice(&context.trace_id);
    metadata.extend_from_slice(&context.span_id);
    metadata.push(context.flags);
    metadata.extend_from_slice(&*PROCESS_KEY);
    metadata.push(MARKER);
    metadata
}

/// Splits `metadata` into what it was before [`with_current_context`] and the context, if it
/// carries one.
fn split(metadata: &[u8]) -> Option<(&[u8], TraceParent)> {
    let (&marker, rest) = metadata.split_last()?;
    if marker != MARKER {
        return None;
    }
    let (rest, key) = rest.split_last_chunk::<8>()?;
    if key != &*PROCESS_KEY {
        return None;
    }
    let (flags, before) = rest.split_last()?;
    let (before, span_id) = before.split_last_chunk::<8>()?;
    let (before, trace_id) = before.split_last_chunk::<16>()?;
    let context = TraceParent {
        trace_id: *trace_id,
        span_id: *span_id,
        flags: *flags,
    };
    Some((before, context))
}

/// `metadata` without the context it may carry.
pub(crate) fn without_context(metadata: &[u8]) -> &[u8] {
    split(metadata).map_or(metadata, |(before, _)| before)
}

/// Takes the context off `message`'s metadata (which becomes `None` if nothing else was in it).
pub(crate) fn take_context(message: &mut SerializedMessage) -> Option<TraceParent> {
    let metadata = match message {
        SerializedMessage::Cast { metadata, .. } | SerializedMessage::Call { metadata, .. } => {
            metadata
        }
        SerializedMessage::CallReply(..) => return None,
    };
    let bytes = metadata.as_mut()?;
    let (before, context) = split(bytes)?;
    let kept = before.len();
    if kept == 0 {
        *metadata = None;
    } else {
        bytes.truncate(kept);
    }
    Some(context)
}

// ---------------------------------------------------------------------------------------------
// On the receiving node (see `node/traced.rs`)

/// Decodes a serialized message as one message type and sends it to an actor, as
/// [`deliver_decoded_as`] does; a registered message type has one (`node::names`).
pub(crate) type DeliverDecoded = fn(&ActorCell, SerializedMessage) -> bool;

/// Decodes `message` as an `M` here, and sends it to `cell` as a local message: ractor then
/// runs the handler inside the span current now. A message that does not decode is dropped, as
/// the actor would drop it, and counts as delivered (a call's caller then learns that its reply
/// port was dropped); `false` if the actor takes no more messages.
pub(crate) fn deliver_decoded_as<M: Message>(cell: &ActorCell, message: SerializedMessage) -> bool {
    // A hand-written `deserialize` of a registered type could panic: this runs in a session's
    // reader, which must survive it (ractor catches it too when the actor decodes).
    let decoded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| M::deserialize(message)));
    match decoded {
        Ok(Ok(typed)) => cell.send_message(typed).is_ok(),
        Ok(Err(_)) => true,
        Err(_) => {
            tracing::warn!(
                message_type = std::any::type_name::<M>(),
                "dropping a remote message whose decoder panicked"
            );
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_rides_at_the_end_of_the_metadata_and_comes_off_whole() {
        let context = TraceParent {
            trace_id: [1; 16],
            span_id: [2; 8],
            flags: 1,
        };
        let mut suffixed = vec![0xC7, 9, 9];
        suffixed.extend_from_slice(&context.trace_id);
        suffixed.extend_from_slice(&context.span_id);
        suffixed.push(context.flags);
        suffixed.extend_from_slice(&*PROCESS_KEY);
        suffixed.push(MARKER);
        assert_eq!(split(&suffixed), Some((&[0xC7, 9, 9][..], context)));
        assert_eq!(without_context(&suffixed), [0xC7, 9, 9]);

        let mut call = SerializedMessage::Call {
            variant: "V".to_owned(),
            args: Vec::new(),
            reply: ractor::concurrency::oneshot().0.into(),
            metadata: Some(suffixed.clone()),
        };
        assert_eq!(take_context(&mut call), Some(context));
        let SerializedMessage::Call { metadata, .. } = &call else {
            unreachable!()
        };
        assert_eq!(metadata.as_deref(), Some(&[0xC7, 9, 9][..]));

        // A cast whose metadata was only the context has none left.
        let mut cast = SerializedMessage::Cast {
            variant: String::new(),
            args: Vec::new(),
            metadata: Some(suffixed[3..].to_vec()),
        };
        assert_eq!(take_context(&mut cast), Some(context));
        assert!(matches!(
            cast,
            SerializedMessage::Cast { metadata: None, .. }
        ));
    }

    #[test]
    fn metadata_of_another_process_or_too_short_carries_no_context() {
        let mut foreign = vec![5; 25];
        foreign.extend_from_slice(&[0; 8]);
        foreign.push(MARKER);
        if foreign[25..33] != *PROCESS_KEY {
            assert_eq!(split(&foreign), None);
            assert_eq!(without_context(&foreign), &foreign[..]);
        }
        for len in 0..SUFFIX_LEN {
            let mut short = vec![3; len];
            if let Some(last) = short.last_mut() {
                *last = MARKER;
            }
            assert_eq!(split(&short), None, "{len} bytes");
        }
    }

    #[test]
    fn a_message_sent_outside_any_sampled_span_carries_nothing() {
        // No subscriber, so no span is current and nothing is sampled: the metadata is as it
        // was, and a cast's stays `None` (its frame is then byte for byte an untraced one).
        assert_eq!(with_current_context(None), None);
        assert_eq!(with_current_context(Some(vec![1, 2])), Some(vec![1, 2]));
    }
}
