//! What the [`NodeServer`](crate::node::NodeServer) is told: the public [`NodeServerMessage`], the events its sessions and
//! the client functions send it, and the calls that ask it something ([`node_info`],
//! [`disconnect`]).

use std::collections::HashMap;

use ractor::{ActorId, ActorRef, RpcReplyPort};
use tokio_native_tls::TlsConnector;

use crate::error::ConnectError;
use crate::net::{ClusterBidiStream, NetworkStream};
use crate::node::events::{NodeEventSubscription, NodeInfo, NodeServerSessionInformation};
use crate::node::reconnect::DialTarget;
use crate::node::session::message::NodeSessionMessage;
use crate::node::NodeId;
use crate::protocol::listed::ListedDigest;
use crate::protocol::message::{self as wire, PeerAnnouncement};

/// What the server answers a waiting connect with.
pub(crate) type Waiter =
    ractor::concurrency::OneshotSender<Result<NodeServerSessionInformation, ConnectError>>;

/// How a dial to a discovered address ended.
pub(crate) enum DialOutcome {
    /// A connection to another node.
    Connected(NetworkStream),
    /// The address is this node's own listener.
    Itself,
    /// No connection, and why.
    Failed(String),
}

/// Messages of the [`NodeServer`](crate::node::NodeServer) actor.
pub enum NodeServerMessage {
    /// A connection was opened: accepted (`is_server = true`) or dialed (`is_server = false`).
    /// `client_connect` and the listener send this; send it yourself for a stream you opened.
    ConnectionOpened {
        /// The connection.
        stream: Box<NetworkStream>,
        /// Whether the peer opened the connection.
        is_server: bool,
    },
    /// A connection over a transport of your own was opened.
    ConnectionOpenedExternal {
        /// The transport.
        stream: Box<dyn ClusterBidiStream>,
        /// Whether the peer opened the connection.
        is_server: bool,
    },
    /// Lists the authenticated sessions, by session id
    /// ([`NodeServerSessionInformation::node_id`]; the peer's own node id is
    /// [`NodeServerSessionInformation::peer_node_id`]).
    GetSessions(RpcReplyPort<HashMap<NodeId, NodeServerSessionInformation>>),
    /// Registers (or replaces) an event subscription under `id`.
    SubscribeToEvents {
        /// The subscription's id, for unsubscribing.
        id: String,
        /// The handler.
        subscription: Box<dyn NodeEventSubscription>,
    },
    /// Removes the event subscription with this id.
    UnsubscribeToEvents(String),
    /// Sent by the node's own sessions; cannot be built outside this crate.
    #[doc(hidden)]
    Internal(NodeServerInternal),
}

impl std::fmt::Debug for NodeServerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConnectionOpened { stream, is_server } => f
                .debug_struct("ConnectionOpened")
                .field("stream", stream)
                .field("is_server", is_server)
                .finish(),
            Self::ConnectionOpenedExternal { is_server, .. } => f
                .debug_struct("ConnectionOpenedExternal")
                .field("is_server", is_server)
                .finish_non_exhaustive(),
            Self::GetSessions(_) => f.write_str("GetSessions"),
            Self::SubscribeToEvents { id, .. } => f
                .debug_struct("SubscribeToEvents")
                .field("id", id)
                .finish_non_exhaustive(),
            Self::UnsubscribeToEvents(id) => {
                f.debug_tuple("UnsubscribeToEvents").field(id).finish()
            }
            Self::Internal(internal) => f.debug_tuple("Internal").field(internal).finish(),
        }
    }
}

impl ractor::Message for NodeServerMessage {}

/// A message from a session to its server. Its fields are private, so it cannot be forged.
#[doc(hidden)]
pub struct NodeServerInternal(pub(crate) ServerEvent);

impl std::fmt::Debug for NodeServerInternal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.0 {
            ServerEvent::Accepted(_) => "Accepted",
            ServerEvent::Admit { .. } => "Admit",
            ServerEvent::Introduced { .. } => "Introduced",
            ServerEvent::Ready { .. } => "Ready",
            ServerEvent::Dial(_) => "Dial",
            ServerEvent::Dialed { .. } => "Dialed",
            ServerEvent::Open { .. } => "Open",
            ServerEvent::Disconnect { .. } => "Disconnect",
            ServerEvent::Redialed { .. } => "Redialed",
            ServerEvent::UseTlsConnector(_) => "UseTlsConnector",
            ServerEvent::LostUnlessBack(_) => "LostUnlessBack",
            ServerEvent::Describe(_) => "Describe",
            ServerEvent::WhereIsNode { .. } => "WhereIsNode",
            ServerEvent::Discovered(_) => "Discovered",
            ServerEvent::DiscoveryDialed { .. } => "DiscoveryDialed",
            ServerEvent::DiscoveryRetry(_) => "DiscoveryRetry",
            ServerEvent::Members(_) => "Members",
            ServerEvent::SubscribeMembers { .. } => "SubscribeMembers",
            ServerEvent::UnsubscribeMembers(..) => "UnsubscribeMembers",
            ServerEvent::PeerLeaving(_) => "PeerLeaving",
            ServerEvent::PeerReportedSilent { .. } => "PeerReportedSilent",
            ServerEvent::Reachability { .. } => "Reachability",
            ServerEvent::DowningDue => "DowningDue",
            ServerEvent::PeerStats(_) => "PeerStats",
            #[cfg(feature = "metrics")]
            ServerEvent::PublishMetrics => "PublishMetrics",
        };
        f.write_str(kind)
    }
}

/// What sessions (and the client functions) tell the server.
pub(crate) enum ServerEvent {
    /// A session authenticated its peer; may it continue? (It may not if another session to the
    /// same peer wins the tie-break, or if that run of the peer was downed; `Err` says which.)
    Admit {
        session: ActorId,
        peer: wire::WireNodeName,
        /// The run of the peer node: a new one means the peer restarted.
        incarnation: u64,
        /// Names the connection alike on both nodes.
        connection_key: [u8; 32],
        /// The peer is a hidden node (its hello said so, under the proofs).
        hidden: bool,
        reply: RpcReplyPort<Result<(), String>>,
    },
    /// The client of an accepted connection said in its hello who it is: a claim, not proved yet
    /// (its proof comes next), which the reconciler takes as a hint that this node need not dial
    /// it (see `reconciler`).
    Introduced {
        session: ActorId,
        claim: wire::WireNodeName,
    },
    /// The listener accepted a connection (and its TLS handshake, in TLS mode), which holds a
    /// slot among those waiting to authenticate.
    Accepted(Box<crate::net::Accepted>),
    /// A session finished the initial exchange on both sides.
    Ready {
        session: ActorId,
        /// What the peer's discovery lists, if it said (2.10).
        peer_view: Option<ListedDigest>,
    },
    /// A peer told a session about nodes it is connected to (transitive mode).
    Dial(Vec<PeerAnnouncement>),
    /// A dial started by `Dial` finished, with the connection if it succeeded.
    Dialed {
        peer: String,
        stream: Option<NetworkStream>,
        target: DialTarget,
    },
    /// The client functions opened a connection to a peer; `target` says how to dial it again,
    /// and `waiter`, if any, waits for the session to be ready.
    Open {
        stream: NetworkStream,
        target: Option<DialTarget>,
        waiter: Option<Waiter>,
    },
    /// The user no longer wants to be connected to this peer; see [`disconnect`].
    Disconnect {
        peer: String,
        reply: RpcReplyPort<bool>,
    },
    /// A redial of a lost peer finished, with the connection if it succeeded.
    Redialed {
        peer: String,
        stream: Option<NetworkStream>,
    },
    /// The user dialed with TLS: dial transitive peers with the same connector.
    UseTlsConnector(TlsConnector),
    /// The peer (name, why its session ended, whether it is unreachable until downed) closed its
    /// session because it keeps another one with this node: it is lost only if no session with
    /// it has been admitted since (see `NodeServerState::session_lost`).
    LostUnlessBack((String, Option<String>, bool)),
    /// [`node_info`] asks who this node is.
    Describe(RpcReplyPort<NodeInfo>),
    /// A peer asked `asker` where `node` is (it holds a reference to one of its actors): if this
    /// node has a session with it, `asker` tells the peer.
    WhereIsNode {
        node: NodeId,
        asker: ActorRef<NodeSessionMessage>,
    },
    /// A discovery round ended: the addresses found, or why none were.
    Discovered(Result<Vec<String>, String>),
    /// A dial of a discovered address ended.
    DiscoveryDialed { addr: String, outcome: DialOutcome },
    /// The backoff after a failed dial of this discovered address, or the grace its node was
    /// given to dial first, ran out: dial it now if needed, not at the next round.
    DiscoveryRetry(String),
    /// [`crate::node::membership::members`] asks for the view.
    Members(RpcReplyPort<Vec<crate::node::events::Member>>),
    /// [`crate::node::membership::subscribe`].
    SubscribeMembers {
        id: String,
        subscription: Box<dyn crate::node::events::MemberSubscription>,
        reply: RpcReplyPort<()>,
    },
    /// [`crate::node::membership::unsubscribe`].
    UnsubscribeMembers(String, RpcReplyPort<()>),
    /// The peer of this session said it is leaving the cluster.
    PeerLeaving(ActorId),
    /// The peer `reporter` declared `node` (the run `incarnation`) down for silence.
    PeerReportedSilent {
        node: NodeId,
        incarnation: u64,
        reporter: String,
    },
    /// The peer of this session fell silent for half of `down_after`, or was heard again.
    Reachability { session: ActorId, reachable: bool },
    /// The downing decider's deadline came (see `server::downing`).
    DowningDue,
    /// [`crate::node::peer_stats`] asks for every session's figures.
    PeerStats(RpcReplyPort<Vec<crate::node::stats::PeerStats>>),
    /// Time to publish the sessions' figures through `metrics` (see `stats::exporter`).
    #[cfg(feature = "metrics")]
    PublishMetrics,
}

/// Asks a running [`NodeServer`](crate::node::NodeServer) who it is and where it listens. Useful after starting a server on
/// port 0.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use ractor::Actor;
/// use ractor_cluster::NodeServer;
///
/// let server = NodeServer::new(0, "cookie".into(), "alpha".into(), "localhost".into(), None, None);
/// let (node, handle) = Actor::spawn(None, server, ()).await?;
/// let info = ractor_cluster::node::node_info(&node).await?;
/// assert_eq!(info.name, "alpha@localhost");
/// assert_ne!(info.listen_addr.port(), 0);
/// assert_eq!(info.connection_string, format!("localhost:{}", info.listen_addr.port()));
/// node.stop(None);
/// handle.await?;
/// # Ok(()) }
/// ```
pub async fn node_info(
    server: &ActorRef<NodeServerMessage>,
) -> Result<NodeInfo, ractor::RactorErr<NodeServerMessage>> {
    ractor::call!(server, |reply| NodeServerMessage::internal(
        ServerEvent::Describe(reply)
    ))
}

/// Stops dialing `peer_name` (`name@host`) again and ends the sessions with it; `true` if the node
/// knew the peer. The peer may still connect to this node, and will if it dialed this node itself
/// (and has not removed it in turn).
///
/// ```no_run
/// # async fn run(node: ractor::ActorRef<ractor_cluster::NodeServerMessage>) -> Result<(), Box<dyn std::error::Error>> {
/// let was_connected = ractor_cluster::node::disconnect(&node, "beta@db-7").await?;
/// # let _ = was_connected;
/// # Ok(()) }
/// ```
pub async fn disconnect(
    server: &ActorRef<NodeServerMessage>,
    peer_name: &str,
) -> Result<bool, ractor::RactorErr<NodeServerMessage>> {
    ractor::call!(server, |reply| NodeServerMessage::internal(
        ServerEvent::Disconnect {
            peer: peer_name.to_owned(),
            reply,
        }
    ))
}

/// The figures of every authenticated session of the node `server`, in no particular order.
///
/// ```no_run
/// # async fn run(node: ractor::ActorRef<ractor_cluster::NodeServerMessage>) -> Result<(), Box<dyn std::error::Error>> {
/// for peer in ractor_cluster::node::peer_stats(&node).await? {
///     println!(
///         "{}: {} B in, {} B out, rtt {:?}",
///         peer.peer_name,
///         peer.bytes_in,
///         peer.bytes_out,
///         peer.rtt.map(|rtt| rtt.p50)
///     );
/// }
/// # Ok(()) }
/// ```
pub async fn peer_stats(
    server: &ractor::ActorRef<NodeServerMessage>,
) -> Result<Vec<crate::node::stats::PeerStats>, ractor::RactorErr<NodeServerMessage>> {
    ractor::call!(server, |reply| NodeServerMessage::internal(
        ServerEvent::PeerStats(reply)
    ))
}

impl NodeServerMessage {
    pub(crate) fn internal(event: ServerEvent) -> Self {
        Self::Internal(NodeServerInternal(event))
    }
}
