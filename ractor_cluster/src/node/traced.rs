//! Delivering the message of a `Traced` frame inside a span whose parent is the sender's
//! (feature `trace-context`; see `crate::trace`).
//!
//! ractor runs a handler inside the span that was current where its message was *boxed*, and
//! only for a message sent as a typed, local one: a serialized message gets no span. So a traced
//! message is decoded here, in the session's reader, with the delivery span entered, and sent to
//! its target as a local message of its own type ([`names::typed_delivery`]), which needs that
//! type registered. Anything else is handed over as bytes, as an untraced message is.
//!
//! A call delivered so goes back traced too (2.9): its reply carries the context of the span it
//! was delivered in, and the caller's reader completes the call inside a span
//! (`ractor_cluster.reply`) whose remote parent is that one, so that the trace shows where, and
//! when, each reply came from.

use ractor::message::SerializedMessage;
use ractor::ActorCell;

use super::names;
use crate::call::ReplyTrace;
use crate::protocol::message::TraceParent;
use crate::trace::{propagator, TraceContext};

/// What a session's reader knows of traced replies.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplyTracing {
    /// Whether the peer takes traced replies (protocol 2.9 and later): a reply goes back
    /// untraced to an older one, which would not know the frame.
    pub(crate) peer_takes: bool,
    /// The peer's name, recorded on the span a traced reply from it is received in.
    pub(crate) peer: String,
}

/// The span in which the reply to call `call`, traced by `from` with `parent`, is handed to its
/// caller: `ractor_cluster.reply`, a child of the span the call was delivered in on `from`.
/// `None` without a propagator, for a context that is not valid (rule TC4), or if the subscriber
/// records no such span.
pub(crate) fn reply_span(parent: TraceParent, call: u64, from: &str) -> Option<tracing::Span> {
    let parent = TraceContext::from(parent);
    let propagator = propagator().filter(|_| parent.is_valid())?;
    let span = tracing::info_span!(
        target: "ractor_cluster::trace",
        "ractor_cluster.reply",
        from,
        call,
    );
    if span.is_disabled() {
        return None;
    }
    propagator.set_parent(&span, parent);
    Some(span)
}

/// How a session's reader hands the message of a `Traced` frame whose context is `parent` to its
/// target: [`deliver_traced`]. (A function of its own, so that its type is one and the same for
/// every frame.)
pub(crate) fn hand_over_traced(
    parent: TraceParent,
) -> impl Fn(&ActorCell, SerializedMessage) -> Option<ReplyTrace> {
    move |cell: &ActorCell, message: SerializedMessage| deliver_traced(cell, message, parent)
}

/// Hands a traced message to its target inside a span whose parent is `parent`. `None` if the
/// target no longer takes messages; otherwise, for a call, the context of that span, which its
/// reply goes back in. Without a propagator, for a context that is not valid (PROTOCOL.md rule
/// TC4), or with the span disabled by the subscriber, the message is handed over as bytes, as an
/// untraced one, and so is one whose type is not registered (but inside the span).
fn deliver_traced(
    cell: &ActorCell,
    message: SerializedMessage,
    parent: TraceParent,
) -> Option<ReplyTrace> {
    let untraced = |message| cell.send_serialized(message).is_ok().then_some(None);
    let parent = TraceContext::from(parent);
    let Some(propagator) = propagator().filter(|_| parent.is_valid()) else {
        return untraced(message);
    };
    let (kind, variant) = match &message {
        SerializedMessage::Cast { variant, .. } => ("cast", variant.as_str()),
        SerializedMessage::Call { variant, .. } => ("call", variant.as_str()),
        SerializedMessage::CallReply(..) => ("reply", ""),
    };
    let span = tracing::info_span!(
        target: "ractor_cluster::trace",
        "ractor_cluster.deliver",
        actor = %cell.get_id(),
        kind,
        variant,
    );
    if span.is_disabled() {
        return untraced(message);
    }
    propagator.set_parent(&span, parent);
    let is_call = kind == "call";
    span.in_scope(|| {
        // Read while the span is current: the propagator's context of the span itself.
        let reply_trace = if is_call {
            crate::trace::current().map(TraceParent::from)
        } else {
            None
        };
        let delivered = match names::typed_delivery(cell) {
            Some(deliver) => deliver(cell, message),
            None => {
                tracing::debug!(
                    actor = %cell.get_id(),
                    "a traced message goes to an actor whose message type is not registered: \
                     its handler runs outside the trace"
                );
                cell.send_serialized(message).is_ok()
            }
        };
        delivered.then_some(reply_trace)
    })
}
