//! The node: a [`NodeServer`] that accepts and opens connections, and one [`NodeSession`] per
//! connected peer.
//!
//! # Supervision
//!
//! ```text
//! NodeServer ─┬─ accept loop (a task, stopped with the server)
//!             ├─ redial tasks (one per lost peer it had dialed, aborted with the server)
//!             └─ NodeSession (one per connection, linked) ─┬─ reader task (decodes, delivers)
//!                                                          ├─ writer task (batches frames)
//!                                                          ├─ liveness task (heartbeats,
//!                                                          │  down detection)
//!                                                          └─ RemoteActor proxies (linked)
//! ```
//!
//! A session that ends (peer gone or silent for too long, protocol error, refused as a
//! duplicate) stops its proxies and fails the calls still waiting on it; the server reports it to
//! subscribers, dials the peer again if it had dialed it (see [`ReconnectPolicy`]), and keeps
//! serving everyone else.
//!
//! # Node identity
//!
//! A node is named `name@hostname`. The `node_id` of a peer (the one in the
//! `ActorId::Remote { node_id, .. }` of its proxies, and the key of [`NodeServerMessage::GetSessions`])
//! is derived from that name alone: the first 8 bytes, little endian, of SHA-256 over a fixed label
//! and the name (PROTOCOL.md, "Node identity"). Every node computes the same id for a peer, and it
//! does not change when the peer reconnects or restarts.

pub mod client;
mod liveness;
pub(crate) mod names;
mod reader;
mod reconnect;
pub(crate) mod references;
mod session;
pub(crate) mod spawn;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio_native_tls::TlsConnector;

use crate::net::{
    AcceptOptions, ClusterBidiStream, IncomingEncryptionMode, Listener, ListenerHandle,
    NetworkStream,
};
use crate::protocol::frame::frame_limit;
use crate::protocol::identity::{node_id_of, Cookie};
use crate::protocol::message::{self as wire, PeerAnnouncement};
use client::{ConnectError, Waiter};
use reconnect::DialTarget;

pub use names::{register_message_type, registered_message_type, NAME_MOVED};
pub use reconnect::ReconnectPolicy;
#[doc(hidden)]
pub use references::{proxies_created, proxies_running};
pub use references::{where_is, NODE_LOST, NO_SUCH_ACTOR, UNREACHABLE};
pub(crate) use session::SessionEvent;
pub use session::{NodeSession, NodeSessionMessage, NodeSessionState};
#[doc(hidden)]
pub use session::{NodeSessionInternal, SessionArgs};
pub use spawn::{register_spawnable, spawn_remote, RemoteSpawnError};

/// The numeric id of a node, as carried in `ActorId::Remote { node_id, .. }`. See the module docs
/// for how it is derived.
pub type NodeId = u64;

/// Default largest body, in bytes, of one inbound frame from an authenticated peer (16 MiB).
///
/// A frame that claims more ends the session that sent it, before any of it is buffered. Change it
/// with [`NodeServer::with_max_inbound_frame_size`]; outbound messages are checked against the same
/// number, so configure every node of a cluster alike.
pub const DEFAULT_MAX_INBOUND_FRAME_SIZE: u64 = 16 * 1024 * 1024;

/// Default time a peer has, from the moment its connection is accepted, to complete the TLS
/// handshake (if any) and then the authentication handshake (10 s); see
/// [`NodeServer::with_handshake_timeout`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time between two heartbeats of a session (1 s); see
/// [`NodeServer::with_heartbeat_interval`].
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Default silence after which a peer is declared down (5 s); see [`NodeServer::with_down_after`].
///
/// Five heartbeat intervals: a peer that is alive but whose scheduler is starved for a moment (a
/// loaded machine, a long blocking call on one of its threads, a paused VM migrating) misses up to
/// four heartbeats in a row without being declared down, which would cost a reconnection and
/// fail its pending calls for nothing; yet a frozen or unreachable peer is reported within about
/// five seconds instead of the minutes TCP takes on its own.
pub const DEFAULT_DOWN_AFTER: Duration = Duration::from_secs(5);

/// Default number of connections accepted and not yet authenticated that a node keeps at once
/// (64); see [`NodeServer::with_max_unauthenticated_connections`].
pub const DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS: usize = 64;

/// Default bound on the bytes of casts, calls and replies queued for one peer and not yet written
/// (32 MiB); see [`NodeServer::with_max_outbound_queue`].
pub const DEFAULT_MAX_OUTBOUND_QUEUE: usize = crate::net::DEFAULT_OUTBOUND_LIMIT;

/// Default number of a peer's calls that may wait for their answers on this node before the
/// session reads nothing more from that peer (1,024); see
/// [`NodeServer::with_max_unanswered_calls`].
pub const DEFAULT_MAX_UNANSWERED_CALLS: usize = 1024;

/// How long, by default, a reference to an actor of a node that this node has no session with
/// waits for one before it fails; see [`NodeServer::with_reference_wait`].
pub const DEFAULT_REFERENCE_WAIT: Duration = Duration::from_secs(10);

/// How long a node tries to connect (and finish the TLS handshake, if any) to a peer it learned
/// about in transitive mode.
const TRANSITIVE_DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Which local actors a node announces to its peers, that is, which ones every peer mirrors with
/// a proxy. An actor that is not announced is still reachable: a reference to it sent in a message
/// resolves to a proxy created on demand on the receiving node (see [`where_is`] and the crate
/// docs, "Location transparency").
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Announce {
    /// Every actor whose message type supports remoting, as the published crate does.
    #[default]
    All,
    /// Only actors with a name, and members of process groups (announced when they join).
    NamedOrGrouped,
    /// Only members of process groups, and actors that a peer asks for because a reference to
    /// them reached it.
    OnDemand,
}

/// Whether a node connects to the peers of its peers ([Erlang's
/// terminology](https://www.erlang.org/doc/reference_manual/distributed.html#node-connections)).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum NodeConnectionMode {
    /// When node A connects to B, and B is connected to C, A connects to C too.
    #[default]
    Transitive,
    /// A node only connects to the peers it is told to connect to.
    Isolated,
}

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

/// Messages of the [`NodeServer`] actor.
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
    /// Lists the authenticated sessions, by the peer's node id.
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
            ServerEvent::Admit { .. } => "Admit",
            ServerEvent::Ready(_) => "Ready",
            ServerEvent::Dial(_) => "Dial",
            ServerEvent::Dialed { .. } => "Dialed",
            ServerEvent::Open { .. } => "Open",
            ServerEvent::HandshakeFailed { .. } => "HandshakeFailed",
            ServerEvent::Disconnect { .. } => "Disconnect",
            ServerEvent::Redialed { .. } => "Redialed",
            ServerEvent::UseTlsConnector(_) => "UseTlsConnector",
            ServerEvent::Describe(_) => "Describe",
            ServerEvent::WhereIsNode { .. } => "WhereIsNode",
        };
        f.write_str(kind)
    }
}

/// What sessions (and the client functions) tell the server.
pub(crate) enum ServerEvent {
    /// A session authenticated its peer; may it continue? (It may not if another session to the
    /// same peer wins the tie-break.)
    Admit {
        session: ActorId,
        peer: wire::NodeName,
        /// The run of the peer node: a new one means the peer restarted.
        incarnation: u64,
        /// Names the connection alike on both nodes.
        connection_key: [u8; 32],
        reply: RpcReplyPort<bool>,
    },
    /// A session finished the initial exchange on both sides.
    Ready(ActorId),
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
    /// A session's handshake failed, and whether the peers failed to authenticate each other
    /// (which is not retried). Sent, and answered, before the session stops.
    HandshakeFailed {
        session: ActorId,
        reason: String,
        authentication: bool,
        reply: RpcReplyPort<()>,
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
    /// [`node_info`] asks who this node is.
    Describe(RpcReplyPort<NodeInfo>),
    /// A peer asked `asker` where `node` is (it holds a reference to one of its actors): if this
    /// node has a session with it, `asker` tells the peer.
    WhereIsNode {
        node: NodeId,
        asker: ActorRef<NodeSessionMessage>,
    },
}

/// What a running node says about itself; see [`node_info`].
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

/// Asks a running [`NodeServer`] who it is and where it listens. Useful after starting a server on
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

impl NodeServerMessage {
    pub(crate) fn internal(event: ServerEvent) -> Self {
        Self::Internal(NodeServerInternal(event))
    }
}

/// A node: listens for peers, authenticates them, and runs a [`NodeSession`] for each.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ractor::Actor;
/// use ractor_cluster::NodeServer;
///
/// let server = NodeServer::new(0, "cookie".into(), "alpha".into(), "localhost".into(), None, None);
/// let (node, _handle) = Actor::spawn(None, server, ()).await?;
/// ractor_cluster::client_connect(&node, "127.0.0.1:4697").await?;
/// # Ok(()) }
/// ```
pub struct NodeServer {
    port: u16,
    cookie: String,
    node_name: String,
    hostname: String,
    encryption_mode: IncomingEncryptionMode,
    connection_mode: NodeConnectionMode,
    listen_addr: Option<IpAddr>,
    max_inbound_frame_size: u64,
    handshake_timeout: Duration,
    heartbeat_interval: Duration,
    down_after: Duration,
    max_unauthenticated_connections: usize,
    max_outbound_queue: usize,
    max_unanswered_calls: usize,
    reconnect: ReconnectPolicy,
    announce: Announce,
    reference_wait: Duration,
    remote_names_in_registry: bool,
}

impl std::fmt::Debug for NodeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeServer")
            .field("port", &self.port)
            .field("cookie", &"<redacted>")
            .field("node_name", &self.node_name)
            .field("hostname", &self.hostname)
            .field("encryption_mode", &self.encryption_mode)
            .field("connection_mode", &self.connection_mode)
            .field("listen_addr", &self.listen_addr)
            .field("max_inbound_frame_size", &self.max_inbound_frame_size)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("down_after", &self.down_after)
            .field(
                "max_unauthenticated_connections",
                &self.max_unauthenticated_connections,
            )
            .field("reconnect", &self.reconnect)
            .field("announce", &self.announce)
            .finish()
    }
}

impl NodeServer {
    /// A node called `node_name@hostname`, listening on `port` (0 picks a free port; the
    /// connection string the node advertises carries the real one), authenticating peers with
    /// `cookie`. `encryption_mode` defaults to [`IncomingEncryptionMode::Raw`], `connection_mode`
    /// to [`NodeConnectionMode::Isolated`].
    pub fn new(
        port: u16,
        cookie: String,
        node_name: String,
        hostname: String,
        encryption_mode: Option<IncomingEncryptionMode>,
        connection_mode: Option<NodeConnectionMode>,
    ) -> Self {
        Self {
            port,
            cookie,
            node_name,
            hostname,
            encryption_mode: encryption_mode.unwrap_or(IncomingEncryptionMode::Raw),
            connection_mode: connection_mode.unwrap_or(NodeConnectionMode::Isolated),
            listen_addr: None,
            max_inbound_frame_size: DEFAULT_MAX_INBOUND_FRAME_SIZE,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            down_after: DEFAULT_DOWN_AFTER,
            max_unauthenticated_connections: DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS,
            max_outbound_queue: DEFAULT_MAX_OUTBOUND_QUEUE,
            max_unanswered_calls: DEFAULT_MAX_UNANSWERED_CALLS,
            reconnect: ReconnectPolicy::default(),
            announce: Announce::default(),
            reference_wait: DEFAULT_REFERENCE_WAIT,
            remote_names_in_registry: false,
        }
    }

    /// Makes the named actors of peers findable with ractor's own
    /// [`ractor::registry::where_is`] on this node (default: off, as in the published crate,
    /// where ractor's registry holds local actors only; [`where_is`] finds remote names either
    /// way).
    ///
    /// ractor's registry accepts only local actors, so this node registers a local *name
    /// forwarder* under the name of a peer's actor, which passes everything on to it and ends as
    /// it does (see [`register_message_type`] for which message types qualify, and the README for
    /// the rules when several nodes use a name). The price: while a forwarder holds a name,
    /// spawning a local actor under that name fails with `SpawnErr::ActorAlreadyRegistered`, as
    /// it does for any taken name. Turn it on when names are meant to be unique in the cluster;
    /// leave it off when every node runs its own actor under a common name.
    pub fn with_remote_names_in_registry(mut self, enabled: bool) -> Self {
        self.remote_names_in_registry = enabled;
        self
    }

    /// How long a reference to an actor of a node that this node has no session with yet waits
    /// for one (default [`DEFAULT_REFERENCE_WAIT`]). Only a [`NodeConnectionMode::Transitive`]
    /// node waits: it asks its peers where that node is and connects to it, and messages sent to
    /// the reference meanwhile are kept (up to 1,024 messages or 4 MiB) and sent once connected.
    /// When the time is up, the reference's proxy stops with [`UNREACHABLE`] and the calls it kept
    /// fail. An [`Isolated`](NodeConnectionMode::Isolated) node resolves such a reference to a
    /// cell stopped with [`UNREACHABLE`] at once.
    pub fn with_reference_wait(mut self, wait: Duration) -> Self {
        self.reference_wait = wait;
        self
    }

    /// Chooses which local actors this node announces to its peers (default [`Announce::All`]).
    pub fn with_announcement(mut self, announce: Announce) -> Self {
        self.announce = announce;
        self
    }

    /// Listens on `addr` instead of the default dual-stack `[::]` (which falls back to `0.0.0.0`
    /// where IPv6 is unavailable).
    pub fn with_listen_addr(mut self, addr: IpAddr) -> Self {
        self.listen_addr = Some(addr);
        self
    }

    /// Sets the largest inbound frame accepted from an authenticated peer (default
    /// [`DEFAULT_MAX_INBOUND_FRAME_SIZE`]).
    pub fn with_max_inbound_frame_size(mut self, max_frame_size: u64) -> Self {
        self.max_inbound_frame_size = max_frame_size;
        self
    }

    /// Sets how long a peer has, once its connection is handed to a session (after the TLS
    /// handshake, in TLS mode), to authenticate (default [`DEFAULT_HANDSHAKE_TIMEOUT`], 10 s).
    /// The TLS handshake of an incoming connection gets the same bound, on its own task: a peer
    /// that stalls holds one connection slot for that long and delays no one.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets how often each session sends a heartbeat (default [`DEFAULT_HEARTBEAT_INTERVAL`],
    /// 1 s). A heartbeat is a six-byte frame; it proves to the peer that this node is alive and
    /// reading. Keep it well below the `down_after` of every peer: a few times smaller.
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets how long a peer may send nothing at all (no message, no heartbeat) before it is
    /// declared down (default [`DEFAULT_DOWN_AFTER`], 5 s, where that choice is explained).
    ///
    /// A peer declared down loses its session as if its connection had closed: the session ends
    /// with the reason "no traffic from the peer for … s", subscribers get
    /// [`node_session_disconnected`](NodeEventSubscription::node_session_disconnected), the
    /// proxies of the peer's actors stop, calls waiting on it fail at once, and, if this node had
    /// dialed the peer, it is dialed again (see [`with_reconnect`](Self::with_reconnect)).
    /// Detection takes at least `down_after` of silence and at most `down_after` plus
    /// `min(heartbeat interval, down_after / 8)`.
    pub fn with_down_after(mut self, down_after: Duration) -> Self {
        self.down_after = down_after.max(Duration::from_millis(1));
        self
    }

    /// Sets how many accepted connections may be waiting to authenticate at once (default
    /// [`DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS`], 64; at least 1), pending TLS handshakes
    /// included. A connection beyond it is closed as soon as it is accepted, with a log line, so
    /// that clients that connect and say nothing cannot pile up.
    pub fn with_max_unauthenticated_connections(mut self, max: usize) -> Self {
        self.max_unauthenticated_connections = max.max(1);
        self
    }

    /// Sets how many bytes of casts, calls and replies may wait for one peer before its proxies
    /// stop taking messages from their mailboxes (default [`DEFAULT_MAX_OUTBOUND_QUEUE`], 32 MiB).
    /// See [`crate::backpressure`] for what happens beyond it and how a sender can pace itself.
    ///
    /// The same bound applies to what the peer asked for: when the replies and control answers
    /// waiting for it reach this many bytes, the session reads nothing more from the peer until
    /// they drain, and a peer that then reads nothing at all for `down_after` is declared down.
    pub fn with_max_outbound_queue(mut self, bytes: usize) -> Self {
        self.max_outbound_queue = bytes.max(1);
        self
    }

    /// Sets how many of a peer's calls may be delivered to actors here and wait for their answers
    /// before the session reads nothing more from that peer (default
    /// [`DEFAULT_MAX_UNANSWERED_CALLS`], 1,024; at least 1). Reading resumes with the next answer,
    /// and the wait is not held against the peer's liveness. Each unanswered call holds a message
    /// and will make a reply, so this bounds what a peer's calls can make this node hold. Raise it
    /// for workloads with more concurrent calls from one peer, nested calls back to that peer
    /// included: a call served here that calls the peer and waits counts until it is answered.
    pub fn with_max_unanswered_calls(mut self, calls: usize) -> Self {
        self.max_unanswered_calls = calls.max(1);
        self
    }

    /// Sets whether and how often a lost peer that this node had dialed is dialed again (default
    /// [`ReconnectPolicy::default`]: from 100 ms, doubling, at most 10 s apart, with jitter).
    pub fn with_reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    async fn bind(&self) -> std::io::Result<Listener> {
        match self.listen_addr {
            Some(ip) => Listener::bind(SocketAddr::new(ip, self.port)).await,
            None => {
                match Listener::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), self.port)).await
                {
                    Ok(listener) => Ok(listener),
                    Err(err) => {
                        tracing::debug!(%err, "cannot listen on [::], falling back to 0.0.0.0");
                        Listener::bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), self.port))
                            .await
                    }
                }
            }
        }
    }
}

/// What every session of a node needs to know about it.
#[derive(Debug)]
pub(crate) struct NodeConfig {
    pub(crate) cookie: Cookie,
    pub(crate) local: wire::NodeName,
    pub(crate) incarnation: u64,
    /// Largest inbound frame body after authentication (also used for outbound frames).
    pub(crate) max_frame: u32,
    pub(crate) connection_mode: NodeConnectionMode,
    pub(crate) handshake_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) down_after: Duration,
    pub(crate) announce: Announce,
    /// Bound on the queued bytes of casts, calls and replies per peer.
    pub(crate) max_outbound_queue: usize,
    /// Bound on a peer's calls delivered here and not answered yet.
    pub(crate) max_unanswered_calls: usize,
    /// Whether peers' named actors get name forwarders in ractor's registry (see `names`).
    pub(crate) remote_names_in_registry: bool,
}

/// One session, as the server tracks it.
struct SessionEntry {
    info: NodeServerSessionInformation,
    status: SessionStatus,
    /// The peer's incarnation, once admitted.
    incarnation: u64,
    /// The handshake's name for the connection, the same on both nodes; once admitted.
    connection_key: [u8; 32],
    /// The peer this node dialed in transitive mode or is dialing again, before it has
    /// authenticated.
    dialed_peer: Option<String>,
    /// How this node dialed the peer, if it did (and can again).
    dial_target: Option<DialTarget>,
    /// `connect_and_wait` callers waiting for this session to be ready.
    waiters: Vec<Waiter>,
    /// Both sides finished the initial exchange.
    ready: bool,
    /// Ended on purpose (replaced, refused as a duplicate, disconnected by the user): not redialed.
    deliberate: bool,
    /// Why the handshake failed, and whether it was an authentication failure.
    failure: Option<(String, bool)>,
}

/// A peer this node dialed and wants to stay connected to.
struct Wanted {
    target: DialTarget,
    /// Redials since the last ready session, for the backoff.
    attempts: u32,
    /// The redial waiting or in progress, if any.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Wanted {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Where a session stands, as far as the server is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionStatus {
    /// Handshaking, or authenticated and waiting for a superseded session to stop.
    Opened,
    /// Admitted: listed by `GetSessions`, and the only one for its peer.
    Authenticated,
    /// Replaced by a newer session to the same peer (a simultaneous connection that won the
    /// tie-break, or a restarted peer) and stopping.
    Superseded,
}

/// A session that authenticated its peer and asks to be kept.
struct Admission {
    session: ActorId,
    peer: wire::NodeName,
    incarnation: u64,
    connection_key: [u8; 32],
    reply: RpcReplyPort<bool>,
}

/// The state of a running [`NodeServer`].
pub struct NodeServerState {
    listener: ListenerHandle,
    config: Arc<NodeConfig>,
    sessions: HashMap<ActorId, SessionEntry>,
    subscriptions: HashMap<String, Box<dyn NodeEventSubscription>>,
    tls_connector: Option<TlsConnector>,
    deferred: Vec<Admission>,
    /// Transitive dials in progress, by peer name.
    dialing: HashSet<String>,
    /// Peers to dial again when their session is lost, by name.
    wanted: HashMap<String, Wanted>,
    reconnect: ReconnectPolicy,
    max_unauthenticated: usize,
}

impl std::fmt::Debug for NodeServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeServerState")
            .field("node", &self.config.local.name)
            .field("sessions", &self.sessions.len())
            .field("subscriptions", &self.subscriptions.len())
            .finish_non_exhaustive()
    }
}

impl NodeServerState {
    fn notify(
        &self,
        event: impl Fn(&dyn NodeEventSubscription, NodeServerSessionInformation),
        id: &ActorId,
    ) {
        if let Some(entry) = self.sessions.get(id) {
            for subscription in self.subscriptions.values() {
                event(subscription.as_ref(), entry.info.clone());
            }
        }
    }

    /// Opens a session over `stream`. `dialed_peer` names the peer this node meant to reach (a
    /// transitive dial or a redial), `target` says how to dial it again, `waiter` waits for the
    /// session to be ready.
    async fn open_session(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        stream: NetworkStream,
        is_server: bool,
        dialed_peer: Option<String>,
        target: Option<DialTarget>,
        waiter: Option<Waiter>,
    ) {
        let peer_addr = stream.peer_label();
        if is_server {
            let unauthenticated = self
                .sessions
                .values()
                .filter(|e| e.info.is_server && e.status == SessionStatus::Opened)
                .count();
            if unauthenticated >= self.max_unauthenticated {
                tracing::warn!(
                    %peer_addr,
                    unauthenticated,
                    "closing an incoming connection: too many connections waiting to authenticate"
                );
                return;
            }
        }
        let args = SessionArgs {
            stream,
            is_server,
            server: myself.clone(),
            config: Arc::clone(&self.config),
        };
        match Actor::spawn_linked(None, NodeSession, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                let id = actor.get_id();
                let info = NodeServerSessionInformation {
                    actor,
                    peer_name: None,
                    is_server,
                    node_id: 0,
                    peer_addr,
                };
                self.sessions.insert(
                    id,
                    SessionEntry {
                        info,
                        status: SessionStatus::Opened,
                        incarnation: 0,
                        connection_key: [0; 32],
                        dialed_peer,
                        dial_target: target,
                        waiters: waiter.into_iter().collect(),
                        ready: false,
                        deliberate: false,
                        failure: None,
                    },
                );
                self.notify(|s, i| s.node_session_opened(i), &id);
            }
            Err(err) => {
                tracing::warn!(%peer_addr, %err, "cannot start a session");
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Err(ConnectError::SessionEnded(format!(
                        "cannot start a session: {err}"
                    ))));
                }
            }
        }
    }

    /// Decides whether a session that just authenticated its peer may continue, and answers it
    /// now or, when it must first wait for a superseded session to stop, later.
    ///
    /// Only one session per peer name is kept, and both nodes must keep the same one without
    /// talking about it:
    /// * a peer that comes back with a new incarnation has restarted: its new session replaces
    ///   the old one, which may be stuck on a connection that died silently;
    /// * when both nodes dialed each other at once, both keep the session whose *client* has the
    ///   smaller node name;
    /// * two connections in the same direction (the user dialed twice, or a reconnect races a
    ///   dying session): both keep the one with the smaller connection key, which the handshake
    ///   derives from both nonces. Keeping "the first one" would not do: each node may see a
    ///   different one first, and each would then close the one the other kept.
    ///
    /// A session that replaces an established one waits until the loser has stopped with all
    /// its proxies: the proxies of both stand for the same remote actors under the same
    /// `ActorId`s, and ractor's process groups know members by id, so a loser's proxy that leaves
    /// its groups late would take the winner's proxy out with it.
    fn admit(&mut self, admission: Admission) {
        let Admission {
            session,
            ref peer,
            incarnation,
            connection_key,
            ..
        } = admission;
        let Some(is_server) = self.sessions.get(&session).map(|e| e.info.is_server) else {
            let _ = admission.reply.send(false);
            return;
        };
        let same_peer = |entry: &SessionEntry| {
            entry.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(peer.name.as_str())
        };
        let rival = self.sessions.iter().find(|(id, entry)| {
            **id != session && entry.status == SessionStatus::Authenticated && same_peer(entry)
        });
        if let Some((rival_id, rival)) = rival {
            let rival_id = *rival_id;
            let Some(reason) = self.replaces(rival, is_server, peer, incarnation, &connection_key)
            else {
                tracing::info!(peer = %peer.name, "refusing a second session to an already connected peer");
                // Whoever waits on the refused session gets the one that stays.
                self.move_waiters(session, rival_id, true);
                let _ = admission.reply.send(false);
                return;
            };
            tracing::info!(peer = %peer.name, %reason, "a new session replaces the established one");
            self.move_waiters(rival_id, session, true);
            if let Some(rival) = self.sessions.get_mut(&rival_id) {
                // Reported as disconnected once it has stopped; no longer listed meanwhile.
                rival.status = SessionStatus::Superseded;
                rival.info.actor.stop(Some(reason.into()));
            }
        }
        let superseded_alive = self
            .sessions
            .values()
            .any(|entry| entry.status == SessionStatus::Superseded && same_peer(entry));
        if superseded_alive {
            // Decided again when a session ends (see `retry_deferred_admissions`).
            self.deferred.push(admission);
            return;
        }
        let Some(entry) = self.sessions.get_mut(&session) else {
            let _ = admission.reply.send(false);
            return;
        };
        entry.status = SessionStatus::Authenticated;
        entry.incarnation = incarnation;
        entry.connection_key = connection_key;
        entry.info.node_id = node_id_of(&peer.name);
        entry.info.peer_name = Some(NodeName::from(peer));
        let target = entry.dial_target.clone();
        self.want(&peer.name, target);
        self.notify(|s, i| s.node_session_authenticated(i), &session);
        let _ = admission.reply.send(true);
    }

    /// Moves the `connect_and_wait` callers of session `from` to session `to`, which stays in
    /// its place; `from` is ending on purpose when `deliberate`.
    fn move_waiters(&mut self, from: ActorId, to: ActorId, deliberate: bool) {
        let waiters = match self.sessions.get_mut(&from) {
            Some(entry) => {
                entry.deliberate |= deliberate;
                std::mem::take(&mut entry.waiters)
            }
            None => return,
        };
        match self.sessions.get_mut(&to) {
            Some(entry) if entry.ready => {
                for waiter in waiters {
                    let _ = waiter.send(Ok(entry.info.clone()));
                }
            }
            Some(entry) => entry.waiters.extend(waiters),
            None => {}
        }
    }

    /// A session with `peer` was admitted. If this node dialed it, the peer is wanted from now
    /// on: dialed again when lost. Either way, a redial of it in progress is no longer needed.
    fn want(&mut self, peer: &str, target: Option<DialTarget>) {
        if let Some(wanted) = self.wanted.get_mut(peer) {
            if let Some(task) = wanted.task.take() {
                task.abort();
            }
            if let Some(target) = target {
                wanted.target = target;
            }
        } else if let Some(target) = target.filter(|_| self.reconnect.is_enabled()) {
            self.wanted.insert(
                peer.to_owned(),
                Wanted {
                    target,
                    attempts: 0,
                    task: None,
                },
            );
        }
    }

    /// A session ended: answers its waiters, and dials its peer again if it is wanted and was not
    /// left on purpose.
    fn session_ended(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        entry: SessionEntry,
        reason: Option<&str>,
    ) {
        let SessionEntry {
            info,
            dialed_peer,
            waiters,
            deliberate,
            failure,
            ..
        } = entry;
        let authentication_failed = failure.as_ref().is_some_and(|(_, auth)| *auth);
        for waiter in waiters {
            let error = match &failure {
                Some((reason, true)) => ConnectError::AuthenticationFailed(reason.clone()),
                Some((reason, false)) => ConnectError::SessionEnded(reason.clone()),
                None => {
                    ConnectError::SessionEnded(reason.unwrap_or("the session stopped").to_owned())
                }
            };
            let _ = waiter.send(Err(error));
        }
        let Some(peer) = info.peer_name.map(|n| n.name).or(dialed_peer) else {
            return;
        };
        if authentication_failed {
            if self.wanted.remove(&peer).is_some() {
                tracing::warn!(%peer, "not dialing the peer again: authentication failed");
            }
        } else if !deliberate {
            self.redial(myself, &peer);
        }
    }

    /// Dials a wanted peer again after the policy's backoff, unless a session with it exists or
    /// a redial is already under way.
    fn redial(&mut self, myself: &ActorRef<NodeServerMessage>, peer: &str) {
        let connected = self.sessions.values().any(|e| {
            e.status != SessionStatus::Superseded
                && (e.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(peer)
                    || e.dialed_peer.as_deref() == Some(peer))
        });
        let Some(wanted) = self.wanted.get_mut(peer) else {
            return;
        };
        if connected || wanted.task.is_some() {
            return;
        }
        let delay = self.reconnect.backoff(wanted.attempts, rand::random());
        wanted.attempts = wanted.attempts.saturating_add(1);
        tracing::info!(%peer, addr = %wanted.target.addr, ?delay, attempt = wanted.attempts, "dialing a lost peer again");
        let target = wanted.target.clone();
        let server = myself.clone();
        let peer = peer.to_owned();
        wanted.task = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let stream = match target.dial(TRANSITIVE_DIAL_TIMEOUT).await {
                Ok(stream) => Some(stream),
                Err(err) => {
                    tracing::info!(%peer, addr = %target.addr, %err, "cannot reach a lost peer");
                    None
                }
            };
            let _ = server.cast(NodeServerMessage::internal(ServerEvent::Redialed {
                peer,
                stream,
            }));
        }));
    }

    /// A redial finished: opens a session over its connection, or schedules the next attempt.
    async fn redialed(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        peer: String,
        stream: Option<NetworkStream>,
    ) {
        let Some(wanted) = self.wanted.get_mut(&peer) else {
            // Disconnected meanwhile; dropping the stream closes it.
            return;
        };
        // The task has finished; dropping the handle does not abort anything.
        wanted.task = None;
        let target = wanted.target.clone();
        match stream {
            Some(stream) => {
                self.open_session(myself, stream, false, Some(peer), Some(target), None)
                    .await;
            }
            None => self.redial(myself, &peer),
        }
    }

    /// The user removes `peer`: it is no longer dialed again, and its sessions end.
    fn disconnect(&mut self, peer: &str) -> bool {
        let mut known = self.wanted.remove(peer).is_some();
        for entry in self.sessions.values_mut() {
            let same = entry.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(peer)
                || entry.dialed_peer.as_deref() == Some(peer);
            if same && entry.status != SessionStatus::Superseded {
                known = true;
                entry.deliberate = true;
                let _ = entry
                    .info
                    .actor
                    .cast(NodeSessionMessage::internal(SessionEvent::Close(
                        "disconnected by the user".to_owned(),
                    )));
            }
        }
        if known {
            tracing::info!(%peer, "disconnecting from a peer at the user's request");
        }
        known
    }

    /// Why a new session to `peer` should replace the established `rival` (see
    /// [`admit`](Self::admit)), or `None` if the rival stays and the new session is refused.
    fn replaces(
        &self,
        rival: &SessionEntry,
        is_server: bool,
        peer: &wire::NodeName,
        incarnation: u64,
        connection_key: &[u8; 32],
    ) -> Option<&'static str> {
        let client_of = |is_server: bool| {
            if is_server {
                peer.name.as_str()
            } else {
                self.config.local.name.as_str()
            }
        };
        if rival.incarnation != incarnation {
            Some("the peer restarted")
        } else if rival.info.is_server != is_server {
            (client_of(is_server) < client_of(rival.info.is_server))
                .then_some("superseded by a simultaneous connection")
        } else {
            (*connection_key < rival.connection_key)
                .then_some("superseded by another connection in the same direction")
        }
    }

    /// A session ended: the admissions that waited for it to stop are decided again.
    fn retry_deferred_admissions(&mut self) {
        for admission in std::mem::take(&mut self.deferred) {
            self.admit(admission);
        }
    }

    fn on_ready(&mut self, session: ActorId) {
        if let Some(entry) = self.sessions.get_mut(&session) {
            entry.ready = true;
            for waiter in std::mem::take(&mut entry.waiters) {
                let _ = waiter.send(Ok(entry.info.clone()));
            }
            let peer = entry.info.peer_name.as_ref().map(|n| n.name.as_str());
            if let Some(wanted) = peer.and_then(|peer| self.wanted.get_mut(peer)) {
                wanted.attempts = 0;
            }
        }
        self.notify(|s, i| s.node_session_ready(i), &session);
        if self.config.connection_mode != NodeConnectionMode::Transitive {
            return;
        }
        let Some(entry) = self.sessions.get(&session) else {
            return;
        };
        let peers = self
            .sessions
            .iter()
            .filter(|(id, e)| **id != session && e.status == SessionStatus::Authenticated)
            .filter_map(|(_, e)| e.info.peer_name.as_ref())
            .map(|name| self.announcement_of(name))
            .collect::<Vec<_>>();
        if !peers.is_empty() {
            let _ = entry
                .info
                .actor
                .cast(NodeSessionMessage::internal(SessionEvent::SendPeers(peers)));
        }
    }

    /// Answers a peer that asked where `node` is, through its session `asker`, if this node has an
    /// authenticated session with `node`.
    fn where_is_node(&self, node: NodeId, asker: &ActorRef<NodeSessionMessage>) {
        let known = self
            .sessions
            .values()
            .filter(|e| e.status == SessionStatus::Authenticated && e.info.node_id == node)
            .find_map(|e| e.info.peer_name.as_ref());
        if let Some(name) = known {
            let peer = self.announcement_of(name);
            let _ = asker.cast(NodeSessionMessage::internal(SessionEvent::SendPeers(vec![
                peer,
            ])));
        }
    }

    /// How a peer learns to reach `node` (dialed the way the user dialed: see [`Self::dial`]).
    fn announcement_of(&self, node: &NodeName) -> PeerAnnouncement {
        PeerAnnouncement {
            name: node.name.clone(),
            connection_string: node.connection_string.clone(),
            tls: self.tls_connector.is_some(),
        }
    }

    /// Connects to the peers of a peer that this node has no session with, nor is dialing.
    ///
    /// A peer announced by two nodes at once is dialed once: a second connection would only be
    /// opened to be closed again (see [`admit`](Self::admit)).
    fn dial(&mut self, myself: &ActorRef<NodeServerMessage>, peers: Vec<PeerAnnouncement>) {
        for peer in peers {
            let known = peer.name == self.config.local.name
                || self.dialing.contains(&peer.name)
                || self
                    .wanted
                    .get(&peer.name)
                    .is_some_and(|w| w.task.is_some())
                || self.sessions.values().any(|e| {
                    e.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(&peer.name)
                        || e.dialed_peer.as_deref() == Some(&peer.name)
                });
            if known {
                continue;
            }
            self.dialing.insert(peer.name.clone());
            let server = myself.clone();
            let connector = self.tls_connector.clone();
            // Transitive peers are dialed the way the user dialed: with TLS if the user ever used
            // `client_connect_enc` on this node, with plain TCP otherwise.
            let target = DialTarget {
                tls: connector.map(|c| (c, host_of(&peer.connection_string).to_owned())),
                addr: peer.connection_string,
            };
            tokio::spawn(async move {
                let stream = match target.dial(TRANSITIVE_DIAL_TIMEOUT).await {
                    Ok(stream) => Some(stream),
                    Err(err) => {
                        tracing::info!(peer = %peer.name, addr = %target.addr, %err, "cannot connect to a transitive peer");
                        None
                    }
                };
                let _ = server.cast(NodeServerMessage::internal(ServerEvent::Dialed {
                    peer: peer.name,
                    stream,
                    target,
                }));
            });
        }
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed), for TLS name checks.
fn host_of(connection_string: &str) -> &str {
    let host = connection_string
        .rsplit_once(':')
        .map_or(connection_string, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl Actor for NodeServer {
    type Msg = NodeServerMessage;
    type State = NodeServerState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        let listener = self.bind().await?;
        let port = listener.local_addr().port();
        let server = myself.clone();
        let mut accept_options = AcceptOptions::new(self.encryption_mode.clone());
        accept_options.tls_handshake_timeout = self.handshake_timeout;
        accept_options.max_pending_tls = self.max_unauthenticated_connections;
        let handle = listener.spawn(accept_options, move |stream| {
            let _ = server.cast(NodeServerMessage::ConnectionOpened {
                stream: Box::new(stream),
                is_server: true,
            });
        });
        let config = NodeConfig {
            cookie: Cookie::new(&self.cookie),
            local: wire::NodeName {
                name: format!("{}@{}", self.node_name, self.hostname),
                connection_string: format!("{}:{port}", self.hostname),
            },
            incarnation: rand::random(),
            max_frame: frame_limit(self.max_inbound_frame_size),
            connection_mode: self.connection_mode,
            handshake_timeout: self.handshake_timeout,
            heartbeat_interval: self.heartbeat_interval,
            down_after: self.down_after,
            announce: self.announce,
            remote_names_in_registry: self.remote_names_in_registry,
            max_outbound_queue: self.max_outbound_queue,
            max_unanswered_calls: self.max_unanswered_calls,
        };
        references::local_node_up(
            node_id_of(&config.local.name),
            config.incarnation,
            (config.connection_mode == NodeConnectionMode::Transitive)
                .then_some(self.reference_wait),
        );
        tracing::info!(node = %config.local.name, addr = %handle.local_addr(), "node listening");
        Ok(NodeServerState {
            listener: handle,
            config: Arc::new(config),
            sessions: HashMap::new(),
            subscriptions: HashMap::new(),
            tls_connector: None,
            deferred: Vec::new(),
            dialing: HashSet::new(),
            wanted: HashMap::new(),
            reconnect: self.reconnect,
            max_unauthenticated: self.max_unauthenticated_connections,
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A stopping node dials no one again (dropping a `Wanted` aborts its redial).
        state.wanted.clear();
        references::local_node_down(
            node_id_of(&state.config.local.name),
            state.config.incarnation,
        );
        // Stopped, not killed (which ractor does to children still running after this), so each
        // session fails its pending calls and closes its connection cleanly.
        myself
            .stop_children_and_wait(
                Some("the node server stopped".into()),
                Some(Duration::from_secs(5)),
            )
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeServerMessage::ConnectionOpened { stream, is_server } => {
                state
                    .open_session(&myself, *stream, is_server, None, None, None)
                    .await;
            }
            NodeServerMessage::ConnectionOpenedExternal { stream, is_server } => {
                let stream = NetworkStream::from_bidi(stream);
                state
                    .open_session(&myself, stream, is_server, None, None, None)
                    .await;
            }
            NodeServerMessage::GetSessions(reply) => {
                let sessions = state
                    .sessions
                    .values()
                    .filter(|e| e.status == SessionStatus::Authenticated)
                    .map(|e| (e.info.node_id, e.info.clone()))
                    .collect();
                let _ = reply.send(sessions);
            }
            NodeServerMessage::SubscribeToEvents { id, subscription } => {
                state.subscriptions.insert(id, subscription);
            }
            NodeServerMessage::UnsubscribeToEvents(id) => {
                state.subscriptions.remove(&id);
            }
            NodeServerMessage::Internal(NodeServerInternal(event)) => match event {
                ServerEvent::Admit {
                    session,
                    peer,
                    incarnation,
                    connection_key,
                    reply,
                } => state.admit(Admission {
                    session,
                    peer,
                    incarnation,
                    connection_key,
                    reply,
                }),
                ServerEvent::Ready(session) => state.on_ready(session),
                ServerEvent::Dial(peers) => state.dial(&myself, peers),
                ServerEvent::WhereIsNode { node, asker } => state.where_is_node(node, &asker),
                ServerEvent::Dialed {
                    peer,
                    stream,
                    target,
                } => {
                    state.dialing.remove(&peer);
                    if let Some(stream) = stream {
                        state
                            .open_session(&myself, stream, false, Some(peer), Some(target), None)
                            .await;
                    }
                }
                ServerEvent::Open {
                    stream,
                    target,
                    waiter,
                } => {
                    state
                        .open_session(&myself, stream, false, None, target, waiter)
                        .await;
                }
                ServerEvent::HandshakeFailed {
                    session,
                    reason,
                    authentication,
                    reply,
                } => {
                    if let Some(entry) = state.sessions.get_mut(&session) {
                        entry.failure = Some((reason, authentication));
                    }
                    let _ = reply.send(());
                }
                ServerEvent::Disconnect { peer, reply } => {
                    let known = state.disconnect(&peer);
                    let _ = reply.send(known);
                }
                ServerEvent::Redialed { peer, stream } => {
                    state.redialed(&myself, peer, stream).await;
                }
                ServerEvent::UseTlsConnector(connector) => state.tls_connector = Some(connector),
                ServerEvent::Describe(reply) => {
                    let info = NodeInfo {
                        name: state.config.local.name.clone(),
                        node_id: crate::protocol::identity::node_id_of(&state.config.local.name),
                        connection_string: state.config.local.connection_string.clone(),
                        listen_addr: state.listener.local_addr(),
                    };
                    // The asker may have given up; nothing to do then.
                    let _ = reply.send(info);
                }
            },
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ended = match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => Some((cell.get_id(), reason)),
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::warn!(session = %cell.get_id(), %err, "a session failed");
                Some((cell.get_id(), Some(err.to_string())))
            }
            _ => None,
        };
        if let Some((id, reason)) = ended {
            state.notify(|s, i| s.node_session_disconnected(i), &id);
            if let Some(entry) = state.sessions.remove(&id) {
                state.session_ended(&myself, entry, reason.as_deref());
            }
            state.retry_deferred_admissions();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("node.example:4697"), "node.example");
        assert_eq!(host_of("[::1]:4697"), "::1");
        assert_eq!(host_of("plain"), "plain");
    }
}
