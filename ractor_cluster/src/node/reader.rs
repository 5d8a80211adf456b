//! The reader task of an authenticated session: the receiving end of the hot path.
//!
//! One task owns the read half. It decodes each frame and acts on it at once: a cast goes straight
//! into the target actor's mailbox; a call too, with a byte reply port whose answer the same task
//! awaits (in a [`FuturesUnordered`] polled next to the socket) and frames as the `Reply`; a reply
//! completes the caller's ticket. Only control messages go to the session actor.
//!
//! The reader stops reading (the peer's socket then fills, and its senders wait) while either of
//! two things the peer asked for has reached its bound:
//! - the peer's calls delivered here and not answered yet: [`MAX_UNANSWERED_CALLS`]. Each holds a
//!   message in an actor's mailbox and will make a reply. Reading resumes with the next answer;
//!   meanwhile the peer's silence is not held against it (the liveness task is told so).
//! - replies and control frames waiting to be written: the outbound queue's limit (see
//!   `net::frame_writer`). Every write the writer makes meanwhile counts as a sign of the peer's
//!   life (it read something); a peer that reads nothing at all is declared down after
//!   `down_after`, and the session ends.
//!
//! So what a peer can make this node hold for it is bounded, whether or not it reads.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};
use ractor::concurrency::{OneshotReceiver, OneshotSender};
use ractor::message::SerializedMessage;
use ractor::{ActorCell, ActorId, ActorRef, ActorStatus};
use tokio::task::JoinHandle;

use super::liveness::ReceivedFrames;
use super::session::{NodeSessionMessage, SessionEvent};
use crate::net::{FrameReader, Lane, ReadError, WriterHandle};
use crate::protocol::fragment::{FragmentError, Reassembly};
use crate::protocol::message::{encode_reply_frame, CallFailure, ReplyOutcome, SessionMessage};
use crate::remote_actor::InFlightCalls;
use crate::reply::{self, CallTicket, ForwarderInbox};

/// The most calls of a peer that may be delivered to actors here and wait for their answers; the
/// reader reads nothing more from the peer until one is answered. An HTTP/2 server bounds the
/// streams a client may open at once for the same reason.
pub(crate) const MAX_UNANSWERED_CALLS: usize = 1024;

/// What the reader needs besides the read half.
pub(crate) struct ReaderContext {
    pub(crate) session: ActorRef<NodeSessionMessage>,
    pub(crate) writer: WriterHandle,
    pub(crate) in_flight: Arc<InFlightCalls>,
    /// Limit of inbound frames, and of the reply frames this task sends.
    pub(crate) max_frame: u32,
    /// Counts every frame received, for down detection (see `liveness`).
    pub(crate) received: Arc<ReceivedFrames>,
}

/// Starts the reader; it tells the session why it stopped.
pub(crate) fn spawn_reader(reader: FrameReader, context: ReaderContext) -> JoinHandle<()> {
    tokio::spawn(run(reader, context))
}

async fn run(mut reader: FrameReader, context: ReaderContext) {
    let mut replies = FuturesUnordered::new();
    // The typed-reply forwarders of the calls delivered here, polled in this task instead of a
    // task each (see `reply::typed_reply_port`).
    let mut inbox = ForwarderInbox::open();
    let route = inbox.route_metadata();
    let mut forwarders = FuturesUnordered::new();
    let mut reassembly = Reassembly::default();
    let mut last_target = LastTarget::default();
    let reason = loop {
        let unread = context.writer.is_unpaced_over_limit();
        let busy = replies.len() >= MAX_UNANSWERED_CALLS;
        // Not listening for a reason of our own; when the peer does not read either, its silence
        // counts (unless the writer makes progress).
        context.received.set_not_listening(busy && !unread);
        tokio::select! {
            frame = reader.next_frame(context.max_frame), if !unread && !busy => match frame {
                Ok(Some(body)) => {
                    context.received.frame_received();
                    let handled =
                        context.receive(body, &mut reassembly, &route, &mut last_target, &mut replies);
                    // Then every frame the same read brought in, without a turn of this `select!`
                    // (and its polls of the other branches) for each, while the peer may be read.
                    let handled = handled.and_then(|()| loop {
                        if replies.len() >= MAX_UNANSWERED_CALLS
                            || context.writer.is_unpaced_over_limit()
                        {
                            break Ok(());
                        }
                        match reader.buffered_frame(context.max_frame) {
                            Ok(Some(body)) => {
                                context.received.frame_received();
                                context.receive(
                                    body,
                                    &mut reassembly,
                                    &route,
                                    &mut last_target,
                                    &mut replies,
                                )?;
                            }
                            Ok(None) => break Ok(()),
                            Err(err) => break Err(ReadError::from(err).to_string()),
                        }
                    });
                    if let Err(reason) = handled {
                        break reason;
                    }
                }
                Ok(None) => break "the peer closed the connection".to_owned(),
                Err(err) => break err.to_string(),
            },
            () = context.writer.wait_for_unpaced_room(|| context.received.frame_received()),
                if unread => {
                if context.writer.is_closed() {
                    break "cannot write to the peer".to_owned();
                }
            }
            Some(forwarder) = inbox.recv() => forwarders.push(forwarder),
            Some(()) = forwarders.next(), if !forwarders.is_empty() => {}
            Some((call, outcome)) = replies.next(), if !replies.is_empty() => {
                let outcome: Result<Vec<u8>, CallFailure> = outcome;
                context.send_reply(call, outcome.as_deref().map_err(|f| *f));
            }
        }
    };
    let _ = context
        .session
        .cast(NodeSessionMessage::internal(SessionEvent::ReaderEnded(
            reason,
        )));
}

impl ReaderContext {
    /// Decodes one frame body and acts on it; a fragment is kept until its message is whole.
    fn receive(
        &self,
        body: &[u8],
        reassembly: &mut Reassembly,
        route: &[u8],
        targets: &mut LastTarget,
        replies: &mut FuturesUnordered<PendingReply>,
    ) -> Result<(), String> {
        // PROTOCOL.md rule S1: the framing is intact but the peer broke the protocol.
        let malformed = |err| format!("the peer sent a malformed message: {err}");
        match SessionMessage::decode(body).map_err(malformed)? {
            SessionMessage::Fragment { more, chunk } => {
                let whole = reassembly
                    .push(more, &chunk, self.max_frame)
                    .map_err(|err| err.to_string())?;
                match whole {
                    None => Ok(()),
                    Some(body) => match SessionMessage::decode(&body).map_err(malformed)? {
                        SessionMessage::Fragment { .. } => Err(FragmentError::Nested.to_string()),
                        message => self.dispatch(message, route, targets, replies),
                    },
                }
            }
            message => self.dispatch(message, route, targets, replies),
        }
    }

    fn dispatch(
        &self,
        message: SessionMessage,
        route: &[u8],
        targets: &mut LastTarget,
        replies: &mut FuturesUnordered<PendingReply>,
    ) -> Result<(), String> {
        match message {
            SessionMessage::Cast { to, args } => match targets.get(to) {
                Some(cell) => {
                    let message = SerializedMessage::Cast {
                        variant: String::new(),
                        args,
                        metadata: None,
                    };
                    if cell.send_serialized(message).is_err() {
                        tracing::debug!(pid = to, "dropping a cast: the target is stopping");
                    }
                }
                None => tracing::debug!(
                    pid = to,
                    "dropping a cast to an actor that is not announced"
                ),
            },
            SessionMessage::Call { to, call, args } => {
                let Some(cell) = targets.get(to) else {
                    self.send_reply(call, Err(CallFailure::TargetGone));
                    return Ok(());
                };
                let (tx, rx): (OneshotSender<Vec<u8>>, OneshotReceiver<Vec<u8>>) =
                    ractor::concurrency::oneshot();
                let message = SerializedMessage::Call {
                    variant: String::new(),
                    args,
                    reply: tx.into(),
                    metadata: Some(route.to_vec()),
                };
                if cell.send_serialized(message).is_err() {
                    self.send_reply(call, Err(CallFailure::TargetGone));
                } else {
                    replies.push(PendingReply { call, rx });
                }
            }
            SessionMessage::Reply { call, outcome } => {
                // Only a call this session sent may be completed by this peer.
                if self.in_flight.remove(call) {
                    let ticket = CallTicket::from_wire(call);
                    match outcome {
                        ReplyOutcome::Value(bytes) => reply::complete_call(ticket, Ok(&bytes)),
                        ReplyOutcome::Failed(failure) => {
                            tracing::debug!(%failure, "a remote call failed");
                            reply::complete_call(ticket, Err(reply::CallFailure::Remote));
                        }
                    }
                } else {
                    tracing::debug!(call, "ignoring a reply to no call pending on this session");
                }
            }
            SessionMessage::Fragment { .. } => {
                return Err(FragmentError::Nested.to_string());
            }
            SessionMessage::Control(control) => {
                self.session
                    .cast(NodeSessionMessage::internal(SessionEvent::Control(control)))
                    .map_err(|_| "the session actor stopped".to_owned())?;
            }
        }
        Ok(())
    }

    fn send_reply(&self, call: u64, outcome: Result<&[u8], CallFailure>) {
        let size = outcome.map_or(0, <[u8]>::len);
        let max_frame = self.max_frame;
        let queued = self.writer.push(Lane::Reply, size, |out| {
            encode_reply_frame(call, outcome, max_frame, out)
        });
        // A closed writer means the session is ending; the caller's side fails the call then.
        if let Ok(Err(err)) = queued {
            tracing::warn!(%err, "cannot send a reply to a remote caller; it gets an error");
            let _ = self.writer.push(Lane::Reply, 0, |out| {
                encode_reply_frame(call, Err(CallFailure::Undecodable), max_frame, out)
            });
        }
    }
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

/// A delivered call waiting for the target's answer.
pub(crate) struct PendingReply {
    call: u64,
    rx: OneshotReceiver<Vec<u8>>,
}

impl Future for PendingReply {
    type Output = (u64, Result<Vec<u8>, CallFailure>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let call = self.call;
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|answer| (call, answer.map_err(|_| CallFailure::ReplyDropped)))
    }
}
