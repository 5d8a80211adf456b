//! The reader task of an authenticated session: the receiving end of the hot path.
//!
//! One task owns the read half. It decodes each frame and acts on it at once: a cast goes straight
//! into the target actor's mailbox; a call too, with a byte reply port and a route back to this
//! task, whose typed answer the same task awaits (next to the socket, see [`DeliveredCalls`] and
//! `call::inbox`) and frames as the `Reply`; a reply completes the caller's ticket. Only control
//! messages go to the session actor.
//!
//! Every frame it hands on counts against the task's tokio coop budget, as a message taken from a
//! channel does: in a burst, the actors it delivers to get the worker every 128 messages or so,
//! instead of receiving the whole burst into their unbounded mailboxes before they first run
//! (which held most of a 100 MiB flood in the receiving node's memory).
//!
//! The reader stops reading (the peer's socket then fills, and its senders wait) while either of
//! two things the peer asked for has reached its bound:
//! - the peer's calls delivered here and not answered yet, at most
//!   `NodeServer::with_max_unanswered_calls` (1,024 by default). Each holds a message in an
//!   actor's mailbox and will make a reply. Reading resumes with the next answer; meanwhile the
//!   peer's silence is not held against it (the liveness task is told so).
//! - replies and control frames waiting to be written: the outbound queue's limit (see
//!   `net::frame_writer`). Every write the writer makes meanwhile counts as a sign of the peer's
//!   life (it read something); a peer that reads nothing at all is declared down after
//!   `down_after`, and the session ends.
//!
//! - control messages handed to the session actor and not handled yet: at most
//!   `NodeServer::with_max_queued_control_messages` (256 by default; see [`ControlQueue`]).
//!   Heartbeats never go to the session: the reader counts them as traffic and drops them.
//!
//! So what a peer can make this node hold for it is bounded, whether or not it reads.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures_util::stream::{FuturesUnordered, StreamExt};
use ractor::message::SerializedMessage;
use ractor::{ActorCell, ActorId, ActorRef, ActorStatus};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::liveness::ReceivedFrames;
use super::session::message::{NodeSessionMessage, SessionEvent};
use super::stats::LinkCounters;
use crate::call::{
    deliverable, Answering, DeliveredCalls, ForwarderInbox, InFlightCalls, ReplyTrace, Routed,
    UNTRACED,
};
use crate::error::SessionEnd;
use crate::net::{FrameReader, Lane, ReadError, WriterHandle};
use crate::protocol::fragment::{FragmentError, Reassembly, ReceiveError};
use crate::protocol::hot_frames::{encode_reply_frame, split_payload};
use crate::protocol::message::{CallFailure, ControlMessage, SessionMessage};

/// The bound of the control plane: the peer's control messages handed to the session actor and
/// not handled yet, each counted for the answers it asks for (see [`Self::weight`]). The reader
/// hands on no more while it is full, and reads nothing more from the
/// peer until the session has handled one (`NodeServer::with_max_queued_control_messages`), so a
/// peer cannot fill the session's mailbox, which ractor does not bound, with announcements the
/// session takes time over.
#[derive(Debug)]
pub(crate) struct ControlQueue {
    queued: AtomicUsize,
    max: usize,
    room: Notify,
    /// The most ever queued at once, for tests of the bound.
    #[cfg(test)]
    high_water: AtomicUsize,
}

impl ControlQueue {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            queued: AtomicUsize::new(0),
            max: max.max(1),
            room: Notify::new(),
            #[cfg(test)]
            high_water: AtomicUsize::new(0),
        })
    }

    fn is_full(&self) -> bool {
        self.queued.load(Ordering::Acquire) >= self.max
    }

    /// What `control` counts for: one, or one per answer it asks for. An `ActorsWanted` makes the
    /// session queue one answer per pid on the writer, where the reader cannot see them coming;
    /// counting them here keeps what one frame can make the session write within this bound
    /// (plus one message's worth), not 4,096 times it.
    pub(crate) fn weight(control: &ControlMessage) -> usize {
        match control {
            ControlMessage::ActorsWanted(pids) => pids.len().max(1),
            _ => 1,
        }
    }

    fn queued(&self, weight: usize) {
        let _now = self.queued.fetch_add(weight, Ordering::AcqRel) + weight;
        #[cfg(test)]
        self.high_water.fetch_max(_now, Ordering::Relaxed);
    }

    /// The session handled a control message of this [`weight`](Self::weight), whatever came
    /// of it.
    pub(crate) fn handled(&self, weight: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(weight))
            });
        // A permit is kept if the reader is not waiting yet, so no wake-up is lost.
        self.room.notify_one();
    }

    /// Waits until there is room (a spurious wake-up is possible; the caller checks again).
    async fn room(&self) {
        if self.is_full() {
            self.room.notified().await;
        }
    }

    /// The most control messages ever queued at once.
    #[cfg(test)]
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }
}

/// What the reader needs besides the read half.
pub(crate) struct ReaderContext {
    pub(crate) session: ActorRef<NodeSessionMessage>,
    pub(crate) writer: WriterHandle,
    pub(crate) in_flight: Arc<InFlightCalls>,
    /// Limit of inbound frames, and of the reply frames this task sends.
    pub(crate) max_frame: u32,
    /// The most calls of the peer that may be delivered to actors here and wait for their
    /// answers; the reader reads nothing more from the peer until one is answered. An HTTP/2
    /// server bounds the streams a client may open at once for the same reason.
    pub(crate) max_unanswered_calls: usize,
    /// Counts every frame received, for down detection (see `liveness`).
    pub(crate) received: Arc<ReceivedFrames>,
    /// Control messages handed to the session and not handled yet.
    pub(crate) control: Arc<ControlQueue>,
    /// The session's figures (see `stats`).
    pub(crate) stats: Arc<LinkCounters>,
    /// Whether replies go back traced, and whom traced replies come from.
    #[cfg(feature = "trace-context")]
    pub(crate) trace: super::traced::ReplyTracing,
}

/// Starts the reader, inside the current span (the session's); it tells the session why it
/// stopped.
pub(crate) fn spawn_reader(reader: FrameReader, context: ReaderContext) -> JoinHandle<()> {
    tokio::spawn(run(reader, context).in_current_span())
}

/// The reader's loop: a function returning an `async move` block rather than an `async fn`. An
/// `async fn` moves its arguments into locals of its own, and rustc does not lay the two out
/// over each other, so the task held the frame reader (672 bytes with its decoder) twice; the
/// block reads through what it captured, in place. Every session has one of these tasks.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
fn run(mut reader: FrameReader, context: ReaderContext) -> impl Future<Output = ()> + Send {
    async move {
        let mut replies = DeliveredCalls::default();
        // The typed answers of the calls delivered here, polled in this task instead of a task each
        // (see `call::typed_reply_port`).
        let mut inbox = ForwarderInbox::open();
        let mut forwarders = FuturesUnordered::new();
        let mut reassembly = Reassembly::default();
        let mut last_target = LastTarget::default();
        let reason = loop {
            let unread = context.writer.is_unpaced_over_limit();
            // A call is unanswered while it waits on its byte port or, once its typed answer came
            // back here, on that answer.
            let busy = replies.len() + forwarders.len() >= context.max_unanswered_calls
                || context.control.is_full();
            // Not listening for a reason of our own; when the peer does not read either, its
            // silence counts (unless the writer makes progress).
            context.received.set_not_listening(busy && !unread);
            // Biased, in this order: the answers to send before the next frame to read. A fair
            // select draws a random number on every turn (several turns a call); and the first
            // three branches cannot starve the socket, as each of them only finishes calls this
            // reader delivered, at most `max_unanswered_calls` of them.
            tokio::select! {
                biased;
                (call, outcome, trace) = replies.next(), if !replies.is_empty() => {
                    context.send_reply(call, outcome.as_deref().map_err(|f| *f), trace);
                }
                Some((call, outcome, trace)) = forwarders.next(), if !forwarders.is_empty() => {
                    let outcome: Result<Vec<u8>, CallFailure> = outcome;
                    context.send_reply(call, outcome.as_deref().map_err(|f| *f), trace);
                }
                Some(routed) = inbox.recv() => {
                    let mut routed = Some(routed);
                    // Every other one already here too, without a turn each.
                    while let Some(answer) = routed.take() {
                        if let Some(mut waiting) = context.take_answer(answer, &mut replies) {
                            // Most often the target answered in the same turn it decoded the call:
                            // the answer is ready now, and nothing needs waking for it.
                            let now = poll_fn(|cx| Poll::Ready(Pin::new(&mut waiting).poll(cx)));
                            match now.await {
                                Poll::Ready((call, outcome, trace)) => {
                                    let outcome = outcome.as_deref().map_err(|f| *f);
                                    context.send_reply(call, outcome, trace);
                                }
                                Poll::Pending => forwarders.push(waiting),
                            }
                        }
                        routed = inbox.try_recv();
                    }
                }
                () = context.control.room(), if context.control.is_full() => {}
                frame = reader.next_frame(context.max_frame), if !unread && !busy => match frame {
                    Ok(Some(body)) => {
                        context.received.frame_received();
                        context.stats.frame_in();
                        let mut handled = context.receive(
                            body,
                            &mut reassembly,
                            &inbox,
                            &mut last_target,
                            &mut replies,
                        );
                        // Then every frame the same read brought in, without a turn of this
                        // `select!` (and its polls of the other branches) for each, while the peer
                        // may be read.
                        while handled.is_ok()
                            && replies.len() + forwarders.len() < context.max_unanswered_calls
                            && !context.control.is_full()
                            && !context.writer.is_unpaced_over_limit()
                        {
                            match reader.buffered_frame(context.max_frame) {
                                Ok(Some(body)) => {
                                    // Each frame counts against this task's coop budget, as a
                                    // message taken from a channel would: the reader then hands the
                                    // worker to the actors it delivers to every so many messages,
                                    // instead of filling their (unbounded) mailboxes with a whole
                                    // burst first.
                                    tokio::task::coop::consume_budget().await;
                                    context.received.frame_received();
                                    context.stats.frame_in();
                                    handled = context.receive(
                                        body,
                                        &mut reassembly,
                                        &inbox,
                                        &mut last_target,
                                        &mut replies,
                                    );
                                }
                                Ok(None) => break,
                                Err(err) => {
                                    handled = Err(SessionEnd::PeerMisbehaved(
                                        ReadError::from(err).to_string(),
                                    ));
                                }
                            }
                        }
                        if let Err(reason) = handled {
                            break reason;
                        }
                    }
                    Ok(None) => {
                        break SessionEnd::EndedByPeer("the peer closed the connection".to_owned());
                    }
                    Err(err @ ReadError::Io(_)) => break SessionEnd::Io(err.to_string()),
                    Err(err @ ReadError::Frame(_)) => {
                        break SessionEnd::PeerMisbehaved(err.to_string())
                    }
                },
                () = context.writer.wait_for_unpaced_room(|| context.received.frame_received()),
                    if unread => {
                    if context.writer.is_closed() {
                        break SessionEnd::Io("cannot write to the peer".to_owned());
                    }
                }
            }
        };
        let _ = context
            .session
            .cast(NodeSessionMessage::internal(SessionEvent::ReaderEnded(
                reason,
            )));
    }
}

impl ReaderContext {
    /// Decodes one frame body and acts on it; a fragment is kept until its message is whole.
    fn receive(
        &self,
        body: &[u8],
        reassembly: &mut Reassembly,
        inbox: &ForwarderInbox,
        targets: &mut LastTarget,
        replies: &mut DeliveredCalls,
    ) -> Result<(), SessionEnd> {
        // PROTOCOL.md rules S1 and S5: the framing is intact but the peer broke the protocol.
        match reassembly.receive(body, self.max_frame) {
            Ok(Some(message)) => self.dispatch(message, inbox, targets, replies),
            Ok(None) => Ok(()),
            Err(ReceiveError::Malformed(err)) => Err(SessionEnd::PeerMisbehaved(format!(
                "the peer sent a malformed message: {err}"
            ))),
            Err(ReceiveError::Fragment(err)) => Err(SessionEnd::PeerMisbehaved(err.to_string())),
        }
    }

    fn dispatch(
        &self,
        message: SessionMessage,
        inbox: &ForwarderInbox,
        targets: &mut LastTarget,
        replies: &mut DeliveredCalls,
    ) -> Result<(), SessionEnd> {
        self.dispatch_with(message, inbox, targets, replies, as_bytes)
    }

    /// [`Self::dispatch`], handing casts and calls to their targets with `hand_over`.
    fn dispatch_with(
        &self,
        message: SessionMessage,
        inbox: &ForwarderInbox,
        targets: &mut LastTarget,
        replies: &mut DeliveredCalls,
        hand_over: impl Fn(&ActorCell, SerializedMessage) -> Option<ReplyTrace>,
    ) -> Result<(), SessionEnd> {
        match message {
            SessionMessage::Cast { to, args } => {
                self.stats.cast_in();
                self.deliver_cast(to, args, None, targets, hand_over);
            }
            SessionMessage::CastWithMetadata { to, args, metadata } => {
                self.stats.cast_in();
                self.deliver_cast(to, args, Some(metadata), targets, hand_over);
            }
            SessionMessage::Call { to, call, args } => {
                self.stats.call_in();
                // The route lets the target's answer come back to this task (see `call`).
                let key = replies.key();
                let route = inbox.delivery_metadata(key);
                self.deliver_call(to, call, args, route, key, targets, replies, hand_over);
            }
            SessionMessage::CallWithMetadata {
                to,
                call,
                args,
                metadata,
            } => {
                self.stats.call_in();
                // The message type's own metadata takes the route's place: the answer is then
                // forwarded by a task of its own, into the byte port.
                let key = replies.key();
                self.deliver_call(to, call, args, metadata, key, targets, replies, hand_over);
            }
            // The carried message is never `Traced` itself, so this goes one level deep.
            SessionMessage::Traced { context, message } => {
                // A reply comes back in the span its call was delivered in (2.9).
                #[cfg(feature = "trace-context")]
                if let crate::protocol::message::TracedMessage::Reply { call, outcome } = message {
                    self.stats.reply_in();
                    let span = super::traced::reply_span(context, call, &self.trace.peer);
                    let _entered = span.as_ref().map(tracing::Span::enter);
                    self.in_flight.complete(call, outcome);
                    return Ok(());
                }
                #[cfg(feature = "trace-context")]
                let hand_over = super::traced::hand_over_traced(context);
                // A node without the feature takes traced frames all the same (any 2.8 peer
                // may send them) and delivers them untraced.
                #[cfg(not(feature = "trace-context"))]
                let (hand_over, _) = (as_bytes, context);
                return self.dispatch_with(message.untraced(), inbox, targets, replies, hand_over);
            }
            SessionMessage::Reply { call, outcome } => {
                self.stats.reply_in();
                self.in_flight.complete(call, outcome);
            }
            SessionMessage::Fragment { .. } => {
                return Err(SessionEnd::PeerMisbehaved(
                    FragmentError::Nested.to_string(),
                ));
            }
            // Counted as traffic already (see `run`); nothing else to do, so it never waits on
            // the session.
            SessionMessage::Control(ControlMessage::Heartbeat) => {}
            // Probes are answered here, not by the session actor, so that the round trip they
            // measure is the link's and not the actor's mailbox.
            SessionMessage::Control(ControlMessage::Probe(number)) => {
                let mut frame = Vec::new();
                let answer = SessionMessage::Control(ControlMessage::ProbeAnswer(number));
                if answer.encode_frame(self.max_frame, &mut frame).is_ok() {
                    // A closed writer means the session is ending; the reader learns it next.
                    let _ = self.writer.send(frame);
                }
            }
            SessionMessage::Control(ControlMessage::ProbeAnswer(number)) => {
                let _ = self
                    .stats
                    .probe_answered(number, tokio::time::Instant::now());
            }
            SessionMessage::Control(control) => {
                self.control.queued(ControlQueue::weight(&control));
                self.session
                    .cast(NodeSessionMessage::internal(SessionEvent::Control(control)))
                    .map_err(|_| SessionEnd::EndedHere("the session actor stopped".to_owned()))?;
            }
        }
        Ok(())
    }

    /// Delivers a cast to the local actor `to`, with the metadata it came with, or drops it with a
    /// reason.
    fn deliver_cast(
        &self,
        to: u64,
        args: Vec<u8>,
        metadata: Option<Vec<u8>>,
        targets: &mut LastTarget,
        hand_over: impl Fn(&ActorCell, SerializedMessage) -> Option<ReplyTrace>,
    ) {
        match targets.get(to) {
            Some(cell) => {
                let (variant, args) = match split_payload(args) {
                    Ok(parts) => parts,
                    Err(err) => {
                        tracing::debug!(pid = to, %err, "dropping a cast without a variant name");
                        return;
                    }
                };
                let message = SerializedMessage::Cast {
                    variant,
                    args,
                    metadata,
                };
                if hand_over(cell, message).is_none() {
                    tracing::debug!(pid = to, "dropping a cast: the target is stopping");
                }
            }
            None => tracing::debug!(
                pid = to,
                "dropping a cast to an actor that is not announced"
            ),
        }
    }

    /// Puts a peer's call into its target's mailbox, and waits for its answer in `replies`.
    #[allow(clippy::too_many_arguments)] // each is one thing the call needs; a struct adds nothing
    fn deliver_call(
        &self,
        to: u64,
        call: u64,
        args: Vec<u8>,
        metadata: Vec<u8>,
        key: u64,
        targets: &mut LastTarget,
        replies: &mut DeliveredCalls,
        hand_over: impl Fn(&ActorCell, SerializedMessage) -> Option<ReplyTrace>,
    ) {
        let Some(cell) = targets.get(to) else {
            self.send_reply(call, Err(CallFailure::TargetGone), UNTRACED);
            return;
        };
        let Ok((variant, args)) = split_payload(args) else {
            self.send_reply(call, Err(CallFailure::Undecodable), UNTRACED);
            return;
        };
        let (message, delivered) = deliverable(call, variant, args, metadata);
        match hand_over(cell, message) {
            Some(trace) => {
                if let Some((call, outcome, trace)) = replies.push(key, delivered.traced(trace)) {
                    self.send_reply(call, outcome.as_deref().map_err(|f| *f), trace);
                }
            }
            None => self.send_reply(call, Err(CallFailure::TargetGone), UNTRACED),
        }
    }

    /// The peer's call whose typed answer `routed` is, taken out of `replies`: its answer is
    /// waited for as it is, no longer through its byte port.
    fn take_answer(&self, routed: Routed, replies: &mut DeliveredCalls) -> Option<Answering> {
        match routed.take() {
            Ok((key, answer)) => match replies.take_over(key) {
                Some((call, trace)) => Some(answer.for_call(call, trace)),
                None => {
                    tracing::debug!(key, "an answer to no call waiting here is dropped");
                    None
                }
            },
            // A route without a key (not one this reader makes): the answer goes into its port.
            Err(routed) => {
                tokio::spawn(routed);
                None
            }
        }
    }

    /// Sends the reply to the peer's `call`: inside the trace context `trace`, if it has one and
    /// the peer takes traced replies (2.9); zero bytes more otherwise.
    fn send_reply(&self, call: u64, outcome: Result<&[u8], CallFailure>, trace: ReplyTrace) {
        let size = outcome.map_or(0, <[u8]>::len);
        let max_frame = self.max_frame;
        #[cfg(feature = "trace-context")]
        let trace = trace.filter(|_| self.trace.peer_takes);
        let queued = self.writer.push(Lane::Reply, size, |out| {
            #[cfg(feature = "trace-context")]
            if let Some(context) = trace {
                return crate::protocol::hot_frames::encode_traced_reply_frame(
                    call, outcome, context, max_frame, out,
                );
            }
            // Without the feature, no reply is traced.
            let _ = trace;
            encode_reply_frame(call, outcome, max_frame, out)
        });
        if queued.is_ok() {
            self.stats.reply_out();
        }
        // A closed writer means the session is ending; the caller's side fails the call then.
        if let Ok(Err(err)) = queued {
            tracing::warn!(%err, "cannot send a reply to a remote caller; it gets an error");
            let _ = self.writer.push(Lane::Reply, 0, |out| {
                encode_reply_frame(call, Err(CallFailure::Undecodable), max_frame, out)
            });
        }
    }
}

/// Hands a message to its target as bytes, for the target's task to decode: how every message
/// is delivered but a traced one (see `crate::trace`). `None` if the target takes no more;
/// otherwise a call's reply goes back untraced.
fn as_bytes(cell: &ActorCell, message: SerializedMessage) -> Option<ReplyTrace> {
    cell.send_serialized(message).is_ok().then_some(UNTRACED)
}

/// The local actor a peer may address: alive and announced (its messages support remoting).
fn target(pid: u64) -> Option<ActorCell> {
    ractor::registry::where_is_pid(ActorId::Local(pid)).filter(ActorCell::supports_remoting)
}

/// The actor the previous frame went to. Messages come in runs to one actor, and looking a pid up
/// in ractor's registry (a concurrent map hashed with SipHash) took 6.6 % of the receiving node's
/// time under a flood of small casts (benches/README.md). The cached cell answers as the registry
/// would for as long as its actor is not stopping (ractor unregisters a pid only when its actor
/// stops); holding it keeps at most one stopped actor's cell alive until the next lookup.
#[derive(Default)]
struct LastTarget(Option<(u64, ActorCell)>);

impl LastTarget {
    /// [`target`]`(pid)`, from the cache when it holds `pid`.
    fn get(&mut self, pid: u64) -> Option<&ActorCell> {
        let cached = matches!(
            &self.0,
            Some((last, cell)) if *last == pid && cell.get_status() < ActorStatus::Draining
        );
        if !cached {
            self.0 = target(pid).map(|cell| (pid, cell));
        }
        self.0.as_ref().map(|(_, cell)| cell)
    }
}

#[cfg(test)]
#[path = "tests/reader.rs"]
mod tests;
