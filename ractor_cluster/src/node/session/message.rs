//! What a session is told: the public [`NodeSessionMessage`], the events its own tasks and its
//! server send it, and what it is started with.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort};

use crate::error::SessionEnd;
use crate::net::FrameReader;
use crate::node::local_events::LocalChange;
use crate::node::NodeId;
use crate::protocol::handshake::Authenticated;
use crate::protocol::message::{ControlMessage, PeerAnnouncement};
use crate::remote_actor::RemoteActorMessage;

/// Messages of a [`NodeSession`](crate::node::NodeSession).
pub enum NodeSessionMessage {
    /// Whether the peer has authenticated and the session was kept.
    GetAuthenticationState(RpcReplyPort<bool>),
    /// Whether both sides finished the initial exchange of actors and process groups.
    GetReadyState(RpcReplyPort<bool>),
    /// Sent by the session's own tasks and server; cannot be built outside this crate.
    #[doc(hidden)]
    Internal(NodeSessionInternal),
}

impl std::fmt::Debug for NodeSessionMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GetAuthenticationState(_) => f.write_str("GetAuthenticationState"),
            Self::GetReadyState(_) => f.write_str("GetReadyState"),
            Self::Internal(_) => f.write_str("Internal"),
        }
    }
}

impl ractor::Message for NodeSessionMessage {}

impl NodeSessionMessage {
    pub(crate) fn internal(event: SessionEvent) -> Self {
        Self::Internal(NodeSessionInternal(event))
    }
}

/// An internal event of a session. Its fields are private, so it cannot be forged.
#[doc(hidden)]
pub struct NodeSessionInternal(pub(crate) SessionEvent);

impl std::fmt::Debug for NodeSessionInternal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            SessionEvent::HandshakeDone(_) => "HandshakeDone",
            SessionEvent::Control(_) => "Control",
            SessionEvent::ReaderEnded(_) => "ReaderEnded",
            SessionEvent::SendPeers(_) => "SendPeers",
            SessionEvent::PeerSilent(_) => "PeerSilent",
            SessionEvent::Close(_) => "Close",
            SessionEvent::Adopt { .. } => "Adopt",
            SessionEvent::AskWhereIs(_) => "AskWhereIs",
            SessionEvent::Leave(_) => "Leave",
            SessionEvent::Reachable(_) => "Reachable",
            SessionEvent::Probe => "Probe",
            SessionEvent::Watch(_) => "Watch",
            SessionEvent::ReportSilent { .. } => "ReportSilent",
            SessionEvent::ReportedSilent(_) => "ReportedSilent",
            SessionEvent::ReportStands(_) => "ReportStands",
            SessionEvent::Local(_) => "Local",
        })
    }
}

/// What a session's tasks and its server tell it.
pub(crate) enum SessionEvent {
    /// The handshake task finished: the peer is authenticated and admitted, or why not.
    HandshakeDone(Result<Box<Established>, SessionEnd>),
    /// A control message from the peer, forwarded by the reader.
    Control(ControlMessage),
    /// The reader stopped, and why.
    ReaderEnded(SessionEnd),
    /// Transitive mode: tell the peer about these nodes.
    SendPeers(Vec<PeerAnnouncement>),
    /// The liveness task received nothing from the peer for this long: the peer is down.
    PeerSilent(Duration),
    /// The server ends the session on purpose: tell the peer why, then stop.
    Close(String),
    /// A reference that arrived in a message made this proxy of the peer's actor `pid`, supervised
    /// by this session (see `references`): keep it, and ask the peer to report the actor's end.
    Adopt {
        pid: u64,
        proxy: ActorRef<RemoteActorMessage>,
    },
    /// A reference named an actor on `node`, with which this node has no session yet: ask the
    /// peer where it is (a 1.2 peer answers with `PeersKnown` if it knows).
    AskWhereIs(NodeId),
    /// This node is leaving: tell a 1.3 peer, then answer (the server stops the session next).
    Leave(RpcReplyPort<()>),
    /// The liveness task saw the peer fall silent for half of `down_after` (`false`), or heard
    /// from it again (`true`).
    Reachable(bool),
    /// Another node claims to be a new run of this session's peer: send a heartbeat now, so that
    /// a connection that died without a word fails (and the session ends) at once.
    Probe,
    /// The server decided whether this node watches the peer (see `server::watch`).
    Watch(bool),
    /// Another session's peer, `node` in its run `incarnation`, was declared down for silence:
    /// tell a 2.4 peer (`PeerSilent`).
    ReportSilent { node: NodeId, incarnation: u64 },
    /// The named node reported this session's peer silent: check it (the liveness task asks the
    /// peer, see `liveness::check`).
    ReportedSilent(String),
    /// The named node's report stands: the peer said nothing when asked. End the session.
    ReportStands(String),
    /// A change of this process's actors that the peer may need to hear of, from the node's one
    /// subscriber to ractor's events (see `local_events`); shared by all the node's sessions.
    Local(Arc<LocalChange>),
}

/// What the handshake task hands over.
pub(crate) struct Established {
    pub(crate) reader: FrameReader,
    pub(crate) auth: Authenticated,
}

/// Where a session leaves why it ended, for its server to read once the session has stopped: the
/// supervision event that tells the server carries only a string, and overtakes messages.
#[derive(Debug, Default)]
pub(crate) struct EndSlot(std::sync::Mutex<Option<SessionEnd>>);

impl EndSlot {
    /// Records why the session ends; the first reason given is the one kept.
    pub(crate) fn set(&self, end: SessionEnd) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(end);
        }
    }

    /// Why the session ended, if it said.
    pub(crate) fn take(&self) -> Option<SessionEnd> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}
