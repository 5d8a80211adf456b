//! The proxy that stands for an actor on another node.
//!
//! A proxy is a ractor *remote* actor cell (`ActorId::Remote { node_id, pid }`): ractor serializes
//! every message sent to it and hands the bytes to [`RemoteActor::handle_serialized`], which frames
//! them and queues them on the session's writer. That is the whole sending side of the hot path.
//!
//! A call's reply port stays on this node in the `call` module's table, under the ticket that the
//! message's metadata carries; the proxy takes the call on in the session's [`InFlightCalls`] so
//! that the session can fail it if it ends before the reply comes.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;

use ractor::message::SerializedMessage;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};

use crate::backpressure::PaceEntry;
use crate::call::{fail_unsent, register_foreign_call, CallTicket, InFlightCalls, NoReply};
use crate::net::{Lane, WriterClosed, WriterHandle};
use crate::node::exit::UNREACHABLE;
use crate::node::quota::Token;
use crate::protocol::hot_frames::{encode_call_frame, encode_cast_frame, Payload};

/// The message type of a proxy's `ActorRef`. Never sent: users reach proxies through an
/// `ActorCell` converted to their own message type, which ractor serializes.
#[derive(Debug)]
pub(crate) struct RemoteActorMessage;

impl ractor::Message for RemoteActorMessage {}

/// The proxy's handler.
#[derive(Debug)]
pub(crate) struct RemoteActor;

/// The sending end of a proxy: the peer actor's pid, and the session's writer and calls in flight.
/// A proxy is little more than this; a waiting proxy gets one when its session is up.
#[derive(Debug)]
pub(crate) struct ProxySender {
    /// The actor's pid on the peer.
    pub(crate) pid: u64,
    pub(crate) writer: WriterHandle,
    pub(crate) in_flight: std::sync::Arc<InFlightCalls>,
    /// Largest frame body sent.
    pub(crate) max_frame: u32,
    /// The proxy's place in its peer's and node's allowances (`with_max_proxies_per_peer`),
    /// given back when the proxy's state is dropped, however it ends.
    pub(crate) _quota: Token,
    /// The session's figures: casts and calls queued count there.
    pub(crate) stats: std::sync::Arc<crate::node::stats::LinkCounters>,
    /// Whether the peer takes messages with metadata (protocol 2.6 and later).
    pub(crate) carries_metadata: bool,
    /// Whether the peer takes traced messages (protocol 2.8 and later).
    #[cfg(feature = "trace-context")]
    pub(crate) carries_trace: bool,
}

impl ProxySender {
    /// The metadata that travels with a message: all of it to a peer that takes it, none to an
    /// older one (which would not know the frame).
    fn travelling<'a>(&self, metadata: Option<&'a [u8]>) -> Option<&'a [u8]> {
        if metadata.is_some() && !self.carries_metadata {
            tracing::debug!(
                pid = self.pid,
                "the peer speaks a protocol before 2.6: a message's metadata is not sent"
            );
            return None;
        }
        metadata
    }

    fn send_call(&self, ticket: CallTicket, payload: Payload<'_>) {
        let Some(call) = self.in_flight.take_on(ticket) else {
            return;
        };
        let (pid, max_frame) = (self.pid, self.max_frame);
        let queued = self
            .writer
            .push(Lane::Actor(pid), payload.fields.len(), |out| {
                encode_call_frame(pid, call, payload, max_frame, out)
            });
        match queued {
            Ok(Ok(())) => self.stats.call_out(),
            Ok(Err(err)) => {
                tracing::warn!(pid, %err, "cannot send a call to a remote actor");
                self.in_flight.fail(call, NoReply::Remote);
            }
            Err(WriterClosed) => self.in_flight.fail(call, NoReply::SessionEnded),
        }
    }
}

impl ProxySender {
    /// Waits until the session's writer has room for the next message, if it has none.
    ///
    /// Apart from [`send`](Self::send), which does not wait, so that the message is not held by
    /// the waiting future: a proxy's handler future is laid out, several times over, in the boxed
    /// loop of each proxy actor (ractor's layers keep their futures as arguments and as locals),
    /// and a message held across this wait made every proxy of a large cluster ~1 KiB larger.
    async fn room(&self) {
        if self.writer.is_congested() {
            // The peer does not keep up: take no more from the mailbox until the writer has made
            // room, so the outbound queue stays bounded (see `crate::backpressure`).
            self.writer.wait_for_room().await;
        }
    }

    /// Frames a message for the peer and queues it on the session's writer (after
    /// [`room`](Self::room)).
    fn send(&self, message: SerializedMessage) {
        // The sender's trace context comes off the metadata whoever the peer is; it travels only
        // to a peer that takes it.
        #[cfg(feature = "trace-context")]
        let (message, trace) = {
            let mut message = message;
            let trace = crate::trace::take_context(&mut message).filter(|_| self.carries_trace);
            (message, trace)
        };
        match message {
            SerializedMessage::Cast {
                variant,
                args,
                metadata,
            } => {
                let (pid, max_frame) = (self.pid, self.max_frame);
                let payload = Payload {
                    variant: &variant,
                    fields: &args,
                    metadata: self.travelling(metadata.as_deref()),
                    #[cfg(feature = "trace-context")]
                    trace,
                };
                let queued = self.writer.push(Lane::Actor(pid), args.len(), |out| {
                    encode_cast_frame(pid, payload, max_frame, out)
                });
                // A closed writer means the session is ending and this proxy with it.
                match queued {
                    Ok(Ok(())) => self.stats.cast_out(),
                    Ok(Err(err)) => tracing::warn!(
                        pid,
                        %err,
                        "cannot send a cast to a remote actor; it is dropped"
                    ),
                    Err(WriterClosed) => {}
                }
            }
            SerializedMessage::Call {
                variant,
                args,
                reply,
                metadata,
            } => {
                let payload = Payload {
                    variant: &variant,
                    fields: &args,
                    metadata: None,
                    #[cfg(feature = "trace-context")]
                    trace,
                };
                match metadata.as_deref().and_then(CallTicket::from_metadata) {
                    Some(ticket) => self.send_call(ticket, payload),
                    // Metadata of the message type's own (ractor's factory `Job` keeps its key
                    // there, in place of the derive's ticket), or a hand-written `Message` impl:
                    // the reply goes into the message's own port (see `call::placeholder`).
                    None => {
                        let payload = Payload {
                            metadata: self.travelling(metadata.as_deref()),
                            ..payload
                        };
                        self.send_call(register_foreign_call(reply), payload);
                    }
                }
            }
            SerializedMessage::CallReply(..) => {}
        }
    }
}

/// How a proxy ends when its actor has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyExit {
    /// The actor stopped (or the node was lost): the proxy stops with the same reason.
    Stopped(Option<String>),
    /// The actor failed: the proxy fails with the same error text.
    Failed(String),
}

/// What this node tells a proxy. It travels through the proxy's mailbox, so that it takes effect
/// after everything sent to the proxy before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyInstruction {
    /// End with the actor's exit (so that queued calls still reach the peer, or fail if the
    /// session is gone).
    End(ProxyExit),
    /// A waiting proxy: its session may be up, send what was kept.
    LookForSession,
    /// A waiting proxy: stop waiting; end with `UNREACHABLE` if no session came.
    StopWaiting,
}

/// The variant name that marks an instruction. No derived message has it (a variant's name is a
/// Rust identifier, without `::`), and what a peer sends goes only to actors of this node, never to
/// a proxy, so no message from a user or a peer is taken for one.
const INSTRUCTION_VARIANT: &str = "ractor_cluster::proxy_instruction";

impl ProxyInstruction {
    /// As a message: `metadata` is a kind byte (stop, fail, look, stop waiting), whether a text
    /// follows, and the text.
    fn into_message(self) -> SerializedMessage {
        let (kind, text) = match self {
            Self::End(ProxyExit::Stopped(reason)) => (0, reason),
            Self::End(ProxyExit::Failed(error)) => (1, Some(error)),
            Self::LookForSession => (2, None),
            Self::StopWaiting => (3, None),
        };
        let mut metadata = vec![kind, u8::from(text.is_some())];
        metadata.extend_from_slice(text.unwrap_or_default().as_bytes());
        SerializedMessage::Cast {
            variant: INSTRUCTION_VARIANT.to_owned(),
            args: Vec::new(),
            metadata: Some(metadata),
        }
    }

    /// The instruction `message` carries, if it is one.
    fn read(message: &SerializedMessage) -> Option<Self> {
        let SerializedMessage::Cast {
            variant, metadata, ..
        } = message
        else {
            return None;
        };
        if variant != INSTRUCTION_VARIANT {
            return None;
        }
        let (kind, rest) = metadata.as_deref()?.split_first()?;
        let (has_text, text) = rest.split_first()?;
        let text = (*has_text == 1).then(|| String::from_utf8_lossy(text).into_owned());
        match kind {
            0 => Some(Self::End(ProxyExit::Stopped(text))),
            1 => Some(Self::End(ProxyExit::Failed(text.unwrap_or_default()))),
            2 => Some(Self::LookForSession),
            3 => Some(Self::StopWaiting),
            _ => None,
        }
    }
}

/// Sends `instruction` to `proxy`; `false` if the proxy no longer takes messages.
pub(crate) fn instruct(proxy: &ActorCell, instruction: ProxyInstruction) -> bool {
    proxy.send_serialized(instruction.into_message()).is_ok()
}

/// Tells `proxy` to end with `exit` once it has sent what is queued before this instruction.
pub(crate) fn end_proxy(proxy: &ActorCell, exit: ProxyExit) {
    if !instruct(proxy, ProxyInstruction::End(exit)) {
        // Already ending.
        proxy.stop(None);
    }
}

/// Ends the proxy `myself` as `exit` says. `Err` is the failure to end with.
fn end_as(
    myself: &ActorRef<RemoteActorMessage>,
    exit: ProxyExit,
) -> Result<(), ActorProcessingErr> {
    match exit {
        ProxyExit::Stopped(reason) => {
            myself.stop(reason);
            Ok(())
        }
        ProxyExit::Failed(error) => Err(error.into()),
    }
}

/// A proxy's state: what it needs to send, and how far behind `paced_cast` it is.
#[derive(Debug)]
pub(crate) struct ProxyState {
    args: ProxySender,
    pace: PaceEntry,
}

impl Actor for RemoteActor {
    type Msg = RemoteActorMessage;
    type State = ProxyState;
    type Arguments = ProxySender;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ProxySender,
    ) -> Result<Self::State, ActorProcessingErr> {
        let probe = args.writer.probe();
        crate::backpressure::register(myself.get_id().node(), probe.clone());
        Ok(ProxyState {
            args,
            pace: PaceEntry::file(myself.get_id(), probe),
        })
    }

    // Not an `async fn`, which would keep the message twice (as its argument and as its local)
    // across the wait for room: the block holds what it captured, once.
    #[allow(clippy::manual_async_fn)] // on purpose, as said above
    fn handle_serialized(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SerializedMessage,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        async move {
            match ProxyInstruction::read(&message) {
                None => {
                    let cast = match &message {
                        SerializedMessage::Cast { args, .. } => Some(args.len()),
                        _ => None,
                    };
                    state.args.room().await;
                    state.args.send(message);
                    if let Some(bytes) = cast {
                        state.pace.pace().taken(bytes);
                    }
                }
                Some(ProxyInstruction::End(exit)) => end_as(&myself, exit)?,
                // For waiting proxies only.
                Some(ProxyInstruction::LookForSession | ProxyInstruction::StopWaiting) => {}
            }
            Ok(())
        }
    }
}

/// The session a [`WaitingProxy`] waits for, handed over by `references` once it is up.
#[derive(Debug, Default)]
pub(crate) struct PendingLink {
    args: Mutex<Option<ProxySender>>,
}

impl PendingLink {
    /// Hands the proxy what it needs to send. The proxy picks it up with the next message it
    /// handles (`references` sends it one to make sure).
    pub(crate) fn fill(&self, args: ProxySender) {
        *self
            .args
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(args);
    }

    fn take(&self) -> Option<ProxySender> {
        self.args
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// At most this many messages wait in a [`WaitingProxy`]; later ones are refused (casts dropped,
/// calls failed) until the session is up.
const WAITING_MAX_MESSAGES: usize = 1024;
/// At most this many payload bytes wait in a [`WaitingProxy`].
const WAITING_MAX_BYTES: usize = 4 << 20;

/// The proxy of an actor on a node this node has no session with yet (a reference to it arrived
/// from a third node, see `references`). It keeps what is sent to it, in order and bounded, until
/// the session is up, then sends it and behaves as a [`RemoteActor`]. If no session comes in time,
/// it stops with [`UNREACHABLE`] and the calls it kept fail.
#[derive(Debug)]
pub(crate) struct WaitingProxy;

/// The state of a [`WaitingProxy`].
#[derive(Debug)]
pub(crate) struct WaitingState {
    link: std::sync::Arc<PendingLink>,
    linked: Option<ProxySender>,
    kept: VecDeque<SerializedMessage>,
    kept_bytes: usize,
}

fn payload_len(message: &SerializedMessage) -> usize {
    match message {
        SerializedMessage::Cast { args, .. } | SerializedMessage::Call { args, .. } => args.len(),
        SerializedMessage::CallReply(_, args) => args.len(),
    }
}

impl Actor for WaitingProxy {
    type Msg = RemoteActorMessage;
    type State = WaitingState;
    type Arguments = std::sync::Arc<PendingLink>;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        link: std::sync::Arc<PendingLink>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(WaitingState {
            link,
            linked: None,
            kept: VecDeque::new(),
            kept_bytes: 0,
        })
    }

    async fn handle_serialized(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SerializedMessage,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let instruction = ProxyInstruction::read(&message);
        if let Some(ProxyInstruction::End(exit)) = instruction {
            return end_as(&myself, exit);
        }
        if state.linked.is_none() {
            if let Some(args) = state.link.take() {
                crate::backpressure::register(myself.get_id().node(), args.writer.probe());
                for kept in std::mem::take(&mut state.kept) {
                    args.room().await;
                    args.send(kept);
                }
                state.kept_bytes = 0;
                state.linked = Some(args);
            }
        }
        match (instruction, &state.linked) {
            (Some(ProxyInstruction::StopWaiting), None) => {
                myself.stop(Some(UNREACHABLE.to_owned()));
            }
            (Some(_), _) => {}
            (_, Some(args)) => {
                args.room().await;
                args.send(message);
            }
            (_, None) => {
                let len = payload_len(&message);
                if state.kept.len() < WAITING_MAX_MESSAGES
                    && state.kept_bytes + len <= WAITING_MAX_BYTES
                {
                    state.kept_bytes += len;
                    state.kept.push_back(message);
                } else {
                    tracing::warn!(
                        actor = %myself.get_id(),
                        "a message to an actor whose node is not connected yet is refused: too \
                         many are waiting"
                    );
                    fail_unsent(message, NoReply::SessionEnded);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The calls kept here were never sent: their callers learn now that no reply will come.
        for kept in std::mem::take(&mut state.kept) {
            fail_unsent(kept, NoReply::SessionEnded);
        }
        // A call that reached the mailbox behind the instruction to stop is dropped with it, and
        // no session sweeps for it (none took this proxy in): once the proxy is gone, its caller
        // learns at once instead of at its timeout.
        crate::call::fail_calls_dropped_with(vec![myself.get_cell()]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_round_trip() {
        for instruction in [
            ProxyInstruction::End(ProxyExit::Stopped(None)),
            ProxyInstruction::End(ProxyExit::Stopped(Some(
                crate::node::exit::NODE_LOST.to_owned(),
            ))),
            ProxyInstruction::End(ProxyExit::Failed("boom".to_owned())),
            ProxyInstruction::LookForSession,
            ProxyInstruction::StopWaiting,
        ] {
            let message = instruction.clone().into_message();
            assert_eq!(ProxyInstruction::read(&message), Some(instruction));
        }
        let user = SerializedMessage::Cast {
            variant: String::new(),
            args: vec![1],
            metadata: None,
        };
        assert_eq!(ProxyInstruction::read(&user), None);
    }

    #[tokio::test]
    async fn a_proxy_handler_holds_the_message_once() {
        // A proxy's handler future is laid out several times over in the proxy actor's loop
        // (ractor's layers), once per remote actor: as an `async fn` awaiting an `async fn send`,
        // it held the message three times (656 bytes in a test build, for a 96-byte message);
        // now the message once and the wait for room (336).
        // Any actor lends the handler its reference: the handler is only measured, not run.
        let (idle, _) = Actor::spawn(None, crate::testing::IdleRemotable, ())
            .await
            .unwrap();
        let myself: ActorRef<RemoteActorMessage> = idle.get_cell().into();
        let (args, _far) = sender(false);
        let probe = args.writer.probe();
        let mut state = ProxyState {
            args,
            pace: PaceEntry::file(myself.get_id(), probe),
        };
        let message = SerializedMessage::Cast {
            variant: "Ping".to_owned(),
            args: vec![1],
            metadata: None,
        };
        let handler = RemoteActor.handle_serialized(myself.clone(), message, &mut state);
        let size = std::mem::size_of_val(&handler);
        let once = std::mem::size_of::<SerializedMessage>();
        assert!(
            size < 4 * once,
            "the handler takes {size} bytes, a message {once}"
        );
        drop(handler);
        idle.stop(None);
    }

    /// A proxy's sender over an in-memory pipe, for a peer that does or does not take traced
    /// frames (without the feature, never), and the pipe's far end.
    #[cfg_attr(not(feature = "trace-context"), allow(unused_variables))]
    fn sender(carries_trace: bool) -> (ProxySender, tokio::io::DuplexStream) {
        let (near, far) = tokio::io::duplex(1 << 16);
        let (writer, _task) = crate::net::spawn_writer(Box::new(near));
        let allowance = crate::node::quota::Allowance::new(1);
        let sender = ProxySender {
            pid: 42,
            writer,
            in_flight: std::sync::Arc::default(),
            max_frame: u32::MAX,
            _quota: crate::node::quota::take(&allowance, None).unwrap(),
            stats: std::sync::Arc::default(),
            carries_metadata: true,
            #[cfg(feature = "trace-context")]
            carries_trace,
        };
        (sender, far)
    }

    /// The first frame's body that arrives at `far`.
    #[cfg(feature = "trace-context")]
    async fn first_frame(far: &mut tokio::io::DuplexStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut header = [0; 4];
        let read = async {
            far.read_exact(&mut header).await.unwrap();
            let mut body = vec![0; u32::from_le_bytes(header) as usize];
            far.read_exact(&mut body).await.unwrap();
            body
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), read)
            .await
            .expect("a frame")
    }

    #[cfg(feature = "trace-context")]
    #[tokio::test]
    async fn a_traced_cast_goes_traced_to_a_2_8_peer_and_plain_to_an_older_one() {
        use crate::protocol::message::{SessionMessage, TracedMessage};
        use crate::trace::{with_context, TraceContext};

        let context = TraceContext::new([7; 16], [9; 8], TraceContext::SAMPLED);
        let cast = || SerializedMessage::Cast {
            variant: "Ping".to_owned(),
            args: vec![1, 2],
            metadata: Some(with_context(None, context)),
        };
        let untraced = SerializedMessage::Cast {
            variant: "Ping".to_owned(),
            args: vec![1, 2],
            metadata: None,
        };

        // The plain frame, as a build without the feature sends it.
        let (plain, mut far) = sender(false);
        plain.send(untraced);
        let expected = first_frame(&mut far).await;

        // To a peer before 2.8: the context comes off, and the frame is the plain one.
        let (older, mut far) = sender(false);
        older.send(cast());
        assert_eq!(first_frame(&mut far).await, expected);

        // To a 2.8 peer: the same cast inside a `Traced` frame, 26 bytes longer.
        let (current, mut far) = sender(true);
        current.send(cast());
        let body = first_frame(&mut far).await;
        assert_eq!(body.len(), expected.len() + 26);
        let SessionMessage::Traced {
            context: sent,
            message: TracedMessage::Cast { to: 42, args },
        } = SessionMessage::decode(&body).unwrap()
        else {
            panic!("not a traced cast")
        };
        assert_eq!(TraceContext::from(sent), context);
        let SessionMessage::Cast {
            args: plain_args, ..
        } = SessionMessage::decode(&expected).unwrap()
        else {
            panic!("not a cast")
        };
        assert_eq!(args, plain_args);
    }
}
