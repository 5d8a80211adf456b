//! Delivering the message of a `Traced` frame inside a span whose parent is the sender's
//! (feature `trace-context`; see `crate::trace`).
//!
//! ractor runs a handler inside the span that was current where its message was *boxed*, and
//! only for a message sent as a typed, local one: a serialized message gets no span. So a traced
//! message is decoded here, in the session's reader, with the delivery span entered, and sent to
//! its target as a local message of its own type ([`names::typed_delivery`]), which needs that
//! type registered. Anything else is handed over as bytes, as an untraced message is.

use ractor::message::SerializedMessage;
use ractor::ActorCell;

use super::names;
use crate::protocol::message::TraceParent;
use crate::trace::{propagator, TraceContext};

/// How a session's reader hands the message of a `Traced` frame whose context is `parent` to its
/// target: [`deliver_traced`]. (A function of its own, so that its type is one and the same for
/// every frame.)
pub(crate) fn hand_over_traced(
    parent: TraceParent,
) -> impl Fn(&ActorCell, SerializedMessage) -> bool {
    move |cell: &ActorCell, message: SerializedMessage| deliver_traced(cell, message, parent)
}

/// Hands a traced message to its target inside a span whose parent is `parent`. `false` if the
/// target no longer takes messages. Without a propagator, for a context that is not valid
/// (PROTOCOL.md rule TC4), with the span disabled by the subscriber, or for a message type that
/// is not registered, the message is handed over as bytes, as an untraced one.
fn deliver_traced(cell: &ActorCell, message: SerializedMessage, parent: TraceParent) -> bool {
    let parent = TraceContext::from(parent);
    let Some(propagator) = propagator().filter(|_| parent.is_valid()) else {
        return cell.send_serialized(message).is_ok();
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
        return cell.send_serialized(message).is_ok();
    }
    propagator.set_parent(&span, parent);
    span.in_scope(|| match names::typed_delivery(cell) {
        Some(deliver) => deliver(cell, message),
        None => {
            tracing::debug!(
                actor = %cell.get_id(),
                "a traced message goes to an actor whose message type is not registered: its \
                 handler runs outside the trace"
            );
            cell.send_serialized(message).is_ok()
        }
    })
}
