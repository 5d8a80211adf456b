//! What a node tells about its sessions and itself: the types of [`NodeEventSubscription`] and
//! [`NodeInfo`].

use ractor::ActorRef;

use super::session::message::NodeSessionMessage;
use super::NodeId;
use crate::protocol::message as wire;

/// A peer's name and where it accepts connections, as it announced them in the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NodeName {
    /// The peer's node name, `name@hostname`.
    pub name: String,
    /// Where the peer accepts connections, `hostname:port`.
    pub connection_string: String,
}

impl From<&wire::NodeName> for NodeName {
    fn from(name: &wire::NodeName) -> Self {
        Self {
            name: name.name.clone(),
            connection_string: name.connection_string.clone(),
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
    /// The peer's node id, derived from its name; 0 until the peer has authenticated.
    pub node_id: NodeId,
    /// The peer's network address, or the label of an external transport.
    pub peer_addr: String,
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
