//! The proxy that stands for an actor on another node.
//!
//! A proxy is a ractor *remote* actor cell (`ActorId::Remote { node_id, pid }`): ractor serializes
//! every message sent to it and hands the bytes to [`RemoteActor::handle_serialized`], which frames
//! them and queues them on the session's writer. That is the whole sending side of the hot path.
//!
//! A call's reply port stays on this node in `reply`'s table, under the ticket that the message's
//! metadata carries; the proxy records the ticket in the session's [`InFlightCalls`] so that the
//! session can fail it if it ends before the reply comes.

use std::collections::HashSet;
use std::sync::Mutex;

use ractor::message::SerializedMessage;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::net::{Lane, WriterClosed, WriterHandle};
use crate::protocol::message::{encode_call_frame, encode_cast_frame};
use crate::reply::{self, CallFailure, CallTicket};

/// The calls sent on one session and not answered yet.
#[derive(Debug, Default)]
pub(crate) struct InFlightCalls {
    inner: Mutex<InFlightInner>,
}

#[derive(Debug, Default)]
struct InFlightInner {
    calls: HashSet<u64>,
    /// Set when the session ends: no call may be added after its tickets were failed.
    closed: bool,
}

impl InFlightCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, InFlightInner> {
        // The set stays consistent even if a holder panicked.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a call; `false` if the session has already ended.
    pub(crate) fn insert(&self, call: u64) -> bool {
        let mut inner = self.lock();
        !inner.closed && inner.calls.insert(call)
    }

    /// Takes a call out; `false` if it was not pending here.
    pub(crate) fn remove(&self, call: u64) -> bool {
        self.lock().calls.remove(&call)
    }

    /// Ends the session's bookkeeping and fails every pending call, so that no caller waits for
    /// a reply that cannot come.
    pub(crate) fn close_and_fail_all(&self) {
        let calls = {
            let mut inner = self.lock();
            inner.closed = true;
            std::mem::take(&mut inner.calls)
        };
        for call in calls {
            reply::complete_call(CallTicket::from_wire(call), Err(CallFailure::SessionEnded));
        }
    }
}

/// The message type of a proxy's `ActorRef`. Never sent: users reach proxies through an
/// `ActorCell` converted to their own message type, which ractor serializes.
#[derive(Debug)]
pub(crate) struct RemoteActorMessage;

impl ractor::Message for RemoteActorMessage {}

/// The proxy's handler.
#[derive(Debug)]
pub(crate) struct RemoteActor;

/// Everything a proxy needs to send.
#[derive(Debug)]
pub(crate) struct RemoteActorArgs {
    /// The actor's pid on the peer.
    pub(crate) pid: u64,
    pub(crate) writer: WriterHandle,
    pub(crate) in_flight: std::sync::Arc<InFlightCalls>,
    /// Largest frame body sent.
    pub(crate) max_frame: u32,
}

impl RemoteActorArgs {
    fn send_call(&self, ticket: CallTicket, args: &[u8]) {
        if !reply::claim_call(ticket) {
            // The caller gave up already; nobody would read the reply.
            return;
        }
        let call = ticket.to_wire();
        if !self.in_flight.insert(call) {
            reply::complete_call(ticket, Err(CallFailure::SessionEnded));
            return;
        }
        let (pid, max_frame) = (self.pid, self.max_frame);
        let queued = self.writer.push(Lane::Actor(pid), args.len(), |out| {
            encode_call_frame(pid, call, args, max_frame, out)
        });
        let failure = match queued {
            Ok(Ok(())) => None,
            Ok(Err(err)) => {
                tracing::warn!(pid, %err, "cannot send a call to a remote actor");
                Some(CallFailure::Remote)
            }
            Err(WriterClosed) => Some(CallFailure::SessionEnded),
        };
        if let Some(failure) = failure {
            if self.in_flight.remove(call) {
                reply::complete_call(ticket, Err(failure));
            }
        }
    }
}

impl Actor for RemoteActor {
    type Msg = RemoteActorMessage;
    type State = RemoteActorArgs;
    type Arguments = RemoteActorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RemoteActorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        crate::backpressure::register(myself.get_id().node(), args.writer.probe());
        Ok(args)
    }

    async fn handle_serialized(
        &self,
        myself: ActorRef<Self::Msg>,
        message: SerializedMessage,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // The session tells a proxy to end, after what was queued before, with its actor's exit.
        match crate::node::references::proxy_exit(&message) {
            Some(crate::node::references::ProxyExit::Stopped(reason)) => {
                myself.stop(reason);
                return Ok(());
            }
            Some(crate::node::references::ProxyExit::Failed(error)) => return Err(error.into()),
            None => {}
        }
        if state.writer.is_congested() {
            // The peer does not keep up: take no more from the mailbox until the writer has made
            // room, so the outbound queue stays bounded (see `crate::backpressure`).
            state.writer.wait_for_room().await;
        }
        match message {
            SerializedMessage::Cast { args, .. } => {
                let (pid, max_frame) = (state.pid, state.max_frame);
                let queued = state.writer.push(Lane::Actor(pid), args.len(), |out| {
                    encode_cast_frame(pid, &args, max_frame, out)
                });
                // A closed writer means the session is ending and this proxy with it.
                if let Ok(Err(err)) = queued {
                    tracing::warn!(pid, %err, "cannot send a cast to a remote actor; it is dropped");
                }
            }
            SerializedMessage::Call { args, metadata, .. } => {
                match metadata.as_deref().and_then(CallTicket::from_metadata) {
                    Some(ticket) => state.send_call(ticket, &args),
                    // Not serialized by this crate's derive: there is no way to route its reply.
                    // Dropping the message drops its reply port, which the caller sees as an error.
                    None => tracing::warn!(
                        pid = state.pid,
                        "dropping a call to a remote actor: its message carries no call ticket"
                    ),
                }
            }
            SerializedMessage::CallReply(..) => {}
        }
        Ok(())
    }
}
