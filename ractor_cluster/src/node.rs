//! The node: a [`NodeServer`] that accepts and opens connections, and one [`NodeSession`] per
//! connected peer.
//!
//! # Supervision
//!
//! ```text
//! NodeServer ─┬─ accept loop (a task, stopped with the server)
//!             └─ NodeSession (one per connection, linked) ─┬─ reader task (decodes, delivers)
//!                                                          ├─ writer task (batches frames)
//!                                                          └─ RemoteActor proxies (linked)
//! ```
//!
//! A session that ends (peer gone, protocol error, refused as a duplicate) stops its proxies and
//! fails the calls still waiting on it; the server reports it to subscribers and keeps serving
//! everyone else.
//!
//! # Node identity
//!
//! A node is named `name@hostname`. The `node_id` of a peer (the one in the
//! `ActorId::Remote { node_id, .. }` of its proxies, and the key of [`NodeServerMessage::GetSessions`])
//! is derived from that name alone: the first 8 bytes, little endian, of SHA-256 over a fixed label
//! and the name (PROTOCOL.md, "Node identity"). Every node computes the same id for a peer, and it
//! does not change when the peer reconnects or restarts.

pub mod client;
mod reader;
mod session;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio_native_tls::TlsConnector;

use crate::net::{
    dial_tcp, dial_tls, AcceptOptions, ClusterBidiStream, IncomingEncryptionMode, Listener,
    ListenerHandle, NetworkStream,
};
use crate::protocol::frame::frame_limit;
use crate::protocol::identity::{node_id_of, Cookie};
use crate::protocol::message::{self as wire, PeerAnnouncement};

pub(crate) use session::SessionEvent;
pub use session::{NodeSession, NodeSessionMessage, NodeSessionState};
#[doc(hidden)]
pub use session::{NodeSessionInternal, SessionArgs};

/// The numeric id of a node, as carried in `ActorId::Remote { node_id, .. }`. See the module docs
/// for how it is derived.
pub type NodeId = u64;

/// Default largest body, in bytes, of one inbound frame from an authenticated peer (16 MiB).
///
/// A frame that claims more ends the session that sent it, before any of it is buffered. Change it
/// with [`NodeServer::with_max_inbound_frame_size`]; outbound messages are checked against the same
/// number, so configure every node of a cluster alike.
pub const DEFAULT_MAX_INBOUND_FRAME_SIZE: u64 = 16 * 1024 * 1024;

/// How long a peer has, from the moment its connection is handed to a session, to complete the
/// authentication handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a node tries to connect (and finish the TLS handshake, if any) to a peer it learned
/// about in transitive mode.
const TRANSITIVE_DIAL_TIMEOUT: Duration = Duration::from_secs(10);

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
            ServerEvent::UseTlsConnector(_) => "UseTlsConnector",
            ServerEvent::Describe(_) => "Describe",
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
    },
    /// The user dialed with TLS: dial transitive peers with the same connector.
    UseTlsConnector(TlsConnector),
    /// [`node_info`] asks who this node is.
    Describe(RpcReplyPort<NodeInfo>),
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
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
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
    /// handshake, in TLS mode), to authenticate; default 10 seconds. The TLS handshake of an
    /// incoming connection gets the same bound. Not part of the stable API: the tests shorten it.
    #[doc(hidden)]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
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
}

/// One session, as the server tracks it.
struct SessionEntry {
    info: NodeServerSessionInformation,
    status: SessionStatus,
    /// The peer's incarnation, once admitted.
    incarnation: u64,
    /// The handshake's name for the connection, the same on both nodes; once admitted.
    connection_key: [u8; 32],
    /// The peer this node dialed in transitive mode, before it has authenticated.
    dialed_peer: Option<String>,
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

    async fn open_session(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        stream: NetworkStream,
        is_server: bool,
        dialed_peer: Option<String>,
    ) {
        let peer_addr = stream.peer_label();
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
                    },
                );
                self.notify(|s, i| s.node_session_opened(i), &id);
            }
            Err(err) => tracing::warn!(%peer_addr, %err, "cannot start a session"),
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
            let Some(reason) = self.replaces(rival, is_server, peer, incarnation, &connection_key)
            else {
                tracing::info!(peer = %peer.name, "refusing a second session to an already connected peer");
                let _ = admission.reply.send(false);
                return;
            };
            tracing::info!(peer = %peer.name, %reason, "a new session replaces the established one");
            let rival_id = *rival_id;
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
        self.notify(|s, i| s.node_session_authenticated(i), &session);
        let _ = admission.reply.send(true);
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

    fn on_ready(&self, session: ActorId) {
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
            .map(|name| PeerAnnouncement {
                name: name.name.clone(),
                connection_string: name.connection_string.clone(),
                tls: self.tls_connector.is_some(),
            })
            .collect::<Vec<_>>();
        if !peers.is_empty() {
            let _ = entry
                .info
                .actor
                .cast(NodeSessionMessage::internal(SessionEvent::SendPeers(peers)));
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
            tokio::spawn(async move {
                let addr = peer.connection_string.as_str();
                // Transitive peers are dialed the way the user dialed: with TLS if the user ever
                // used `client_connect_enc` on this node, with plain TCP otherwise.
                let dial = async {
                    match &connector {
                        Some(connector) => {
                            let domain = host_of(addr);
                            dial_tls(addr, connector, domain)
                                .await
                                .map_err(|e| e.to_string())
                        }
                        None => dial_tcp(addr).await.map_err(|e| e.to_string()),
                    }
                };
                let dialed = tokio::time::timeout(TRANSITIVE_DIAL_TIMEOUT, dial)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("timed out after {TRANSITIVE_DIAL_TIMEOUT:?}"))
                    });
                let stream = match dialed {
                    Ok(stream) => Some(stream),
                    Err(err) => {
                        tracing::info!(peer = %peer.name, %addr, %err, "cannot connect to a transitive peer");
                        None
                    }
                };
                let _ = server.cast(NodeServerMessage::internal(ServerEvent::Dialed {
                    peer: peer.name,
                    stream,
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
        };
        tracing::info!(node = %config.local.name, addr = %handle.local_addr(), "node listening");
        Ok(NodeServerState {
            listener: handle,
            config: Arc::new(config),
            sessions: HashMap::new(),
            subscriptions: HashMap::new(),
            tls_connector: None,
            deferred: Vec::new(),
            dialing: HashSet::new(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
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
                state.open_session(&myself, *stream, is_server, None).await;
            }
            NodeServerMessage::ConnectionOpenedExternal { stream, is_server } => {
                state
                    .open_session(&myself, NetworkStream::from_bidi(stream), is_server, None)
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
                ServerEvent::Dialed { peer, stream } => {
                    state.dialing.remove(&peer);
                    if let Some(stream) = stream {
                        state.open_session(&myself, stream, false, Some(peer)).await;
                    }
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
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ended = match &event {
            SupervisionEvent::ActorTerminated(cell, _, _) => Some(cell.get_id()),
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::warn!(session = %cell.get_id(), %err, "a session failed");
                Some(cell.get_id())
            }
            _ => None,
        };
        if let Some(id) = ended {
            state.notify(|s, i| s.node_session_disconnected(i), &id);
            state.sessions.remove(&id);
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
