//! The [`NodeServer`] actor: its messages, what it knows of each session, and how it opens and
//! supervises them. Deciding which session to keep is in `admission`, dialing lost peers again in
//! `redial`, dialing the peers of peers in `transitive`, and dialing the nodes that discovery
//! finds in `reconciler`.

mod admission;
mod reconciler;
mod redial;
mod transitive;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio_native_tls::TlsConnector;

use super::client::{ConnectError, Waiter};
use super::config::{NodeConfig, NodeConnectionMode, NodeServer};
use super::events::{NodeEventSubscription, NodeInfo, NodeServerSessionInformation};
use super::reconnect::{DialTarget, ReconnectPolicy};
use super::{references, NodeId, NodeSession, NodeSessionMessage, SessionArgs};
use crate::net::{AcceptOptions, ClusterBidiStream, ListenerHandle, NetworkStream};
use crate::protocol::frame::frame_limit;
use crate::protocol::identity::{node_id_of, Cookie};
use crate::protocol::message::{self as wire, PeerAnnouncement};
use admission::Admission;
pub(crate) use reconciler::DiscoveryConfig;
use reconciler::{DialOutcome, Reconciler};
use redial::Wanted;

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
            ServerEvent::Discovered(_) => "Discovered",
            ServerEvent::DiscoveryDialed { .. } => "DiscoveryDialed",
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
    /// A discovery round ended: the addresses found, or why none were.
    Discovered(Result<Vec<String>, String>),
    /// A dial of a discovered address ended.
    DiscoveryDialed { addr: String, outcome: DialOutcome },
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
    /// Dials the nodes that discovery finds, when the node has a discovery source.
    reconciler: Option<Reconciler>,
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
    ) -> Option<ActorId> {
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
                return None;
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
                Some(id)
            }
            Err(err) => {
                tracing::warn!(%peer_addr, %err, "cannot start a session");
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Err(ConnectError::SessionEnded(format!(
                        "cannot start a session: {err}"
                    ))));
                }
                None
            }
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
        if self.config.connection_mode == NodeConnectionMode::Transitive {
            self.share_peers(session);
        }
    }
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
        let reconciler = self
            .discovery
            .clone()
            .map(|discovery| Reconciler::start(discovery, handle.local_addr(), myself.clone()));
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
            reconciler,
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A stopping node dials no one again (dropping a `Wanted` aborts its redial).
        state.wanted.clear();
        // Nor asks discovery again (dropping the reconciler aborts its task).
        state.reconciler = None;
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
                ServerEvent::Discovered(found) => state.discovered(&myself, found),
                ServerEvent::DiscoveryDialed { addr, outcome } => {
                    state.discovery_dialed(&myself, addr, outcome).await;
                }
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
