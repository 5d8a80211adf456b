//! What a node tells about its sessions, its members and itself: the types of
//! [`NodeEventSubscription`], [`NodeInfo`] and the membership view ([`Member`],
//! [`MemberSubscription`]; the calls are in `membership`).

use ractor::ActorRef;

use super::session::message::NodeSessionMessage;
use super::NodeId;
use crate::error::SessionEnd;
use crate::protocol::identity::node_id_of;
use crate::protocol::message as wire;

/// A peer's name and where it accepts connections, as it announced them in the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NodeName {
    /// The peer's node name, `name@hostname`.
    pub name: String,
    /// Where the peer accepts connections, `hostname:port`.
    pub connection_string: String,
    /// The peer is a hidden node ([`NodeServer::with_hidden`](crate::NodeServer::with_hidden)),
    /// as its handshake said: it is not a member of the cluster, is not told of this node's
    /// actors and groups, and is not named to other peers.
    pub hidden: bool,
}

impl From<&wire::WireNodeName> for NodeName {
    fn from(name: &wire::WireNodeName) -> Self {
        Self {
            name: name.name.clone(),
            connection_string: name.connection_string.clone(),
            hidden: false,
        }
    }
}

/// What the server knows about one session.
#[derive(Debug, Clone)]
pub struct NodeServerSessionInformation {
    /// The session actor.
    pub actor: ActorRef<NodeSessionMessage>,
    /// The peer's name, once it has authenticated.
    pub peer_name: Option<NodeName>,
    /// Whether the peer opened the connection (`true`) or this node did (`false`).
    pub is_server: bool,
    /// This session's id on this node, as in the published crate: given when the connection
    /// opens, before the peer is known, and the same in every event of the session
    /// (`node_session_opened` to `node_session_disconnected`) and as its key in
    /// [`GetSessions`](crate::NodeServerMessage::GetSessions), so per-peer state can be kept under
    /// it. Unique among this node's sessions, never 0, and new for each connection.
    ///
    /// It is not the id in `ActorId::Remote { node_id, .. }` of the peer's actors: that one is
    /// derived from the peer's name, the same on every node and across reconnects; see
    /// [`peer_node_id`](Self::peer_node_id).
    pub node_id: NodeId,
    /// The peer's network address, or the label of an external transport.
    pub peer_addr: String,
}

impl NodeServerSessionInformation {
    /// The peer's node id, as in `ActorId::Remote { node_id, .. }` of its actors' proxies and in
    /// its [`NodeInfo::node_id`]: derived from its name, so known once it has authenticated.
    pub fn peer_node_id(&self) -> Option<NodeId> {
        self.peer_name.as_ref().map(|name| node_id_of(&name.name))
    }
}

/// Receives the events of a node's sessions. Called from the [`NodeServer`] actor, so the methods
/// must not block: send a message, set a flag, and return.
///
/// [`NodeServer`]: crate::node::NodeServer
pub trait NodeEventSubscription: Send + 'static {
    /// A connection was handed to a new session, before authentication.
    fn node_session_opened(&self, ses: NodeServerSessionInformation);

    /// A session ended, whatever its state (this is reported for every session that was opened).
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation);

    /// The peer proved it knows the cookie and the session was kept.
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation);

    /// A session ended, and why (called right after
    /// [`node_session_disconnected`](Self::node_session_disconnected), for every session that was
    /// opened).
    #[allow(unused_variables)]
    fn node_session_ended(&self, ses: NodeServerSessionInformation, end: &SessionEnd) {}

    /// Both sides finished the initial exchange of actors and process groups.
    #[allow(unused_variables)]
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {}
}

/// What a running node says about itself; see [`node_info`](crate::node::node_info).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The node's full name, `name@hostname`.
    pub name: String,
    /// The id other nodes give this node in [`ractor::ActorId::Remote`]: derived from the name,
    /// so the same on every node and across restarts.
    pub node_id: NodeId,
    /// What this node tells peers to dial: `hostname:port`, with the real port.
    pub connection_string: String,
    /// The address the listener is bound to (port 0 becomes the port the system picked).
    pub listen_addr: std::net::SocketAddr,
}

/// Where a member stands, as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberStatus {
    /// Connected: a session with it runs (or, for the local node, it runs).
    Up,
    /// Connected, but silent for longer than half of `down_after`: not yet declared down. With a
    /// [downing policy](crate::downing), also a peer whose session ended without a word, until
    /// it is back or the policy downs it.
    Unreachable,
    /// Said it is leaving the cluster (or, for the local node, is leaving it).
    Leaving,
    /// Left the cluster on purpose: it said so before its sessions closed. Not dialed again.
    Left,
    /// Not connected any more, and it did not say it was leaving: its session failed (it was
    /// silent for `down_after`, its connection broke) or was closed by this node's user. With a
    /// [downing policy](crate::downing), a failed peer is down only once the policy downed it;
    /// and this node's own member is down when the policy found it on the losing side.
    Down,
}

/// A node of the cluster, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The node's full name, `name@hostname`.
    pub name: String,
    /// Its id, derived from the name (the same on every node).
    pub node_id: NodeId,
    /// Its run: a node that restarts comes back with another incarnation.
    pub incarnation: u64,
    /// Where it accepts connections, `host:port`, as it announced.
    pub address: String,
    /// Where it stands.
    pub status: MemberStatus,
}

/// A member's status changed, or a member appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberEvent {
    /// The member, with its new status.
    pub member: Member,
    /// Its status before, or `None` for a member this node had not seen (and for every member
    /// listed to a new subscription).
    pub previous: Option<MemberStatus>,
    /// Why a member went down, as the session ended.
    pub reason: Option<String>,
}

/// Receives the member events of a node. Called from the [`NodeServer`](crate::NodeServer)
/// actor, so it must not block: send a message, set a flag, and return.
pub trait MemberSubscription: Send + 'static {
    /// A member appeared or changed status.
    fn member_changed(&self, event: MemberEvent);
}
