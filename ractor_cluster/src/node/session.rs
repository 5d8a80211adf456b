//! One session per connected peer: drives the handshake, then keeps actors and process groups in
//! sync with the peer. Actor traffic does not pass through this actor: proxies write to the
//! session's writer, and the reader task delivers to local actors directly (see `reader`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::pg::{self, GroupChangeMessage};
use ractor::registry::{pid_registry, PidLifecycleEvent};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorRuntime, RpcReplyPort,
    SupervisionEvent,
};
use tokio::task::JoinHandle;

use super::liveness::{spawn_liveness, LivenessTiming, ReceivedFrames};
use super::names;
use super::reader::{spawn_reader, ReaderContext};
use super::references::{self, PeerLink};
use super::{spawn, Announce, NodeConfig, NodeId, NodeServerMessage, ServerEvent};
use crate::net::{
    spawn_writer_with_limit, BoxRead, FrameReader, NetworkStream, WriterExit, WriterHandle,
};
use crate::protocol::frame::HANDSHAKE_MAX_FRAME;
use crate::protocol::handshake::{
    Authenticated, ClientDriver, HandshakeConfig, HandshakeError, HandshakeProgress, ServerDriver,
};
use crate::protocol::message::{
    ActorAnnouncement, ControlMessage, PeerAnnouncement, Rejection, SessionMessage,
};
use crate::remote_actor::{
    end_proxy, InFlightCalls, ProxyExit, RemoteActor, RemoteActorArgs, RemoteActorMessage,
};
use crate::reply;

/// How long a stopping session lets its writer flush what is queued before cutting it off.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// How long a stopping session waits for its proxies to fail the calls queued in their mailboxes.
const PROXY_DRAIN_GRACE: Duration = Duration::from_secs(1);

/// A task that is aborted when this handle is dropped, however the owner ends (even killed).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The actor behind one connection to a peer node. Spawned by the [`NodeServer`](super::NodeServer).
#[derive(Debug)]
pub struct NodeSession;

/// Messages of a [`NodeSession`].
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
        })
    }
}

impl std::fmt::Debug for SessionArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionArgs")
            .field("stream", &self.stream)
            .field("is_server", &self.is_server)
            .finish_non_exhaustive()
    }
}

/// What a session's tasks and its server tell it.
pub(crate) enum SessionEvent {
    /// The handshake task finished: the peer is authenticated and admitted, or why not.
    HandshakeDone(Result<Box<Established>, String>),
    /// A control message from the peer, forwarded by the reader.
    Control(ControlMessage),
    /// The reader stopped, and why.
    ReaderEnded(String),
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
}

/// What the handshake task hands over.
pub(crate) struct Established {
    reader: FrameReader,
    auth: Authenticated,
}

/// What the server hands a new session. Opaque: sessions are started by the node server only.
#[doc(hidden)]
pub struct SessionArgs {
    pub(crate) stream: NetworkStream,
    pub(crate) is_server: bool,
    pub(crate) server: ActorRef<NodeServerMessage>,
    pub(crate) config: Arc<NodeConfig>,
}

/// The state of a [`NodeSession`].
pub struct NodeSessionState {
    server: ActorRef<NodeServerMessage>,
    config: Arc<NodeConfig>,
    peer_label: String,
    writer: Option<WriterHandle>,
    writer_task: Option<JoinHandle<WriterExit>>,
    handshake_task: Option<AbortOnDrop<()>>,
    live: Option<Live>,
}

impl std::fmt::Debug for NodeSessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSessionState")
            .field("peer", &self.peer_label)
            .field("authenticated", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

/// An authenticated session.
struct Live {
    session: ActorId,
    peer_name: String,
    peer_node_id: u64,
    /// Held for its `Drop`: the reader stops with the session.
    _reader_task: AbortOnDrop<()>,
    /// Held for its `Drop`: heartbeats and down detection stop with the session.
    _liveness_task: AbortOnDrop<()>,
    in_flight: Arc<InFlightCalls>,
    /// Proxies of the peer's actors, by their pid on the peer.
    proxies: HashMap<u64, ActorRef<RemoteActorMessage>>,
    /// Local pids announced to the peer.
    announced: HashSet<u64>,
    /// Announced local pids this session monitors, so their end is reported with its reason.
    monitored: HashSet<u64>,
    /// The session's own cell, which monitors announced actors.
    myself: ActorCell,
    /// The minor protocol version both sides speak: 1.1 variants go only to 1.1 peers (rule V4).
    minor: u16,
    synced_here: bool,
    synced_there: bool,
    ready: bool,
}

impl Live {
    /// Keeps `proxy` as the one of the peer's actor `pid`, and monitors it: a user may link the
    /// proxy to an actor of their own, which then replaces the session as its supervisor, and the
    /// session must still learn when it ends.
    fn keep_proxy(&mut self, pid: u64, proxy: ActorRef<RemoteActorMessage>) {
        self.myself.monitor(proxy.get_cell());
        self.proxies.insert(pid, proxy);
    }
}

/// Runs however the session ends, including when ractor kills it without `post_stop`.
impl Drop for Live {
    fn drop(&mut self) {
        pg::demonitor_scope(pg::ALL_SCOPES_NOTIFICATION.to_owned(), self.session);
        pid_registry::demonitor(self.session);
        references::peer_down(self.peer_node_id, self.session);
        spawn::fail_pending(self.peer_node_id);
        self.in_flight.close_and_fail_all();
        // A proxy that is killed (not drained) drops the calls still queued in its mailbox before
        // any ticket of theirs reached `in_flight`; once the proxies have stopped, fail those too.
        let proxies: Vec<ActorCell> = self.proxies.values().map(ActorRef::get_cell).collect();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    for proxy in proxies {
                        let _ = proxy.wait(Some(PROXY_DRAIN_GRACE)).await;
                    }
                    reply::fail_orphaned_calls();
                });
            }
            Err(_) => reply::fail_orphaned_calls(),
        }
    }
}

impl NodeSessionState {
    fn send(&self, message: &SessionMessage) {
        let Some(writer) = &self.writer else { return };
        let mut frame = Vec::new();
        match message.encode_frame(self.config.max_frame, &mut frame) {
            Ok(()) => {
                // A closed writer means the session is ending; the reader reports why.
                let _ = writer.send(frame);
            }
            Err(err) => tracing::warn!(
                peer = %self.peer_label,
                kind = message.kind(),
                %err,
                "cannot send a control message"
            ),
        }
    }

    fn send_control(&self, control: ControlMessage) {
        self.send(&SessionMessage::Control(control));
    }

    /// Announces the local actors in `cells` that the node's [`Announce`] mode lets it announce
    /// unasked (group members are announced whatever the mode, when they join).
    fn announce_by_mode(&mut self, cells: &[ActorCell]) {
        match self.config.announce {
            Announce::All => self.announce(cells),
            Announce::NamedOrGrouped => {
                let named: Vec<ActorCell> = cells
                    .iter()
                    .filter(|cell| cell.get_name().is_some())
                    .cloned()
                    .collect();
                self.announce(&named);
            }
            Announce::OnDemand => {}
        }
    }

    /// Announces the local actors in `cells` that the peer does not know yet.
    fn announce(&mut self, cells: &[ActorCell]) {
        let Some(live) = &mut self.live else { return };
        let fresh = cells
            .iter()
            .filter(|cell| is_remotable_local(cell) && live.announced.insert(cell.get_id().pid()))
            .map(|cell| {
                let pid = cell.get_id().pid();
                // Monitored, so that its end reaches the peer with its reason. Monitor first,
                // then look: an actor already stopping may have notified its monitors before.
                live.myself.monitor(cell.clone());
                if cell.get_status() < ractor::ActorStatus::Stopping {
                    live.monitored.insert(pid);
                }
                ActorAnnouncement {
                    pid,
                    name: cell.get_name(),
                }
            })
            .collect::<Vec<_>>();
        // 1.2: the message types of the named ones, so the peer can register forwarders.
        let types = if live.minor >= 2 {
            names::types_to_announce(cells, &fresh)
        } else {
            Vec::new()
        };
        if !fresh.is_empty() {
            self.send_control(ControlMessage::ActorsSpawned(fresh));
        }
        if !types.is_empty() {
            self.send_control(ControlMessage::NamedActorTypes(types));
        }
    }

    fn group_change(&mut self, change: GroupChangeMessage) {
        if self.live.is_none() {
            return;
        }
        match change {
            GroupChangeMessage::Join(scope, group, cells) => {
                let cells = cells
                    .into_iter()
                    .filter(is_remotable_local)
                    .collect::<Vec<_>>();
                if cells.is_empty() {
                    return;
                }
                // A member must be known to the peer before it can join there.
                self.announce(&cells);
                let pids = cells.iter().map(|c| c.get_id().pid()).collect();
                self.send_control(ControlMessage::GroupJoined { scope, group, pids });
            }
            GroupChangeMessage::Leave(scope, group, cells) => {
                let pids = cells
                    .iter()
                    .filter(|c| c.get_id().is_local())
                    .map(|c| c.get_id().pid())
                    .collect::<Vec<_>>();
                if !pids.is_empty() {
                    self.send_control(ControlMessage::GroupLeft { scope, group, pids });
                }
            }
        }
    }

    /// Sends everything the peer needs to know now, and starts following changes.
    fn initial_sync(&mut self, myself: &ActorRef<NodeSessionMessage>) {
        // Monitor first, scan second: whatever changes in between arrives as an event too, and
        // announcing twice is harmless.
        pid_registry::monitor(myself.get_cell());
        pg::monitor_scope(pg::ALL_SCOPES_NOTIFICATION.to_owned(), myself.get_cell());
        self.announce_by_mode(&pid_registry::get_all_pids());
        for key in pg::which_scopes_and_groups() {
            let (scope, group) = (key.get_scope(), key.get_group());
            let members = pg::get_scoped_local_members(&scope, &group);
            self.group_change(GroupChangeMessage::Join(scope, group, members));
        }
        self.send_control(ControlMessage::InitialSyncDone);
        if let Some(live) = &mut self.live {
            live.synced_here = true;
        }
        self.check_ready(myself);
    }

    fn check_ready(&mut self, myself: &ActorRef<NodeSessionMessage>) {
        let Some(live) = &mut self.live else { return };
        if live.synced_here && live.synced_there && !live.ready {
            live.ready = true;
            let _ = self
                .server
                .cast(NodeServerMessage::internal(ServerEvent::Ready(
                    myself.get_id(),
                )));
        }
    }

    async fn on_control(
        &mut self,
        myself: &ActorRef<NodeSessionMessage>,
        control: ControlMessage,
    ) -> Result<(), ActorProcessingErr> {
        let Some(live) = &mut self.live else {
            return Ok(());
        };
        match control {
            ControlMessage::Heartbeat => {}
            ControlMessage::ActorsSpawned(actors) => {
                // Only a node that puts remote names in ractor's registry needs them (see `names`).
                let named: Vec<String> = if self.config.remote_names_in_registry {
                    actors.iter().filter_map(|a| a.name.clone()).collect()
                } else {
                    Vec::new()
                };
                for actor in actors {
                    if live.proxies.contains_key(&actor.pid) {
                        continue;
                    }
                    if let Some(existing) = references::proxy_of(live.peer_node_id, actor.pid) {
                        // Started on demand meanwhile (its `Adopt` is on the way): name it.
                        let kept = references::proxy_up(
                            live.peer_node_id,
                            actor.pid,
                            &existing,
                            live.session,
                            actor.name.as_deref(),
                        )
                        .unwrap_or(existing);
                        live.keep_proxy(actor.pid, kept.into());
                        continue;
                    }
                    let Some(writer) = self.writer.clone() else {
                        break;
                    };
                    let args = RemoteActorArgs {
                        pid: actor.pid,
                        writer,
                        in_flight: Arc::clone(&live.in_flight),
                        max_frame: self.config.max_frame,
                    };
                    let id = ActorId::Remote {
                        node_id: live.peer_node_id,
                        pid: actor.pid,
                    };
                    // ractor's name registry takes local actors only: names of proxies are in
                    // `references` (see `where_is`).
                    match ActorRuntime::spawn_linked_remote(
                        actor.name.clone(),
                        RemoteActor,
                        id,
                        args,
                        myself.get_cell(),
                    )
                    .await
                    {
                        Ok((proxy, _)) => {
                            match references::proxy_up(
                                live.peer_node_id,
                                actor.pid,
                                &proxy.get_cell(),
                                live.session,
                                actor.name.as_deref(),
                            ) {
                                None => {
                                    live.keep_proxy(actor.pid, proxy);
                                }
                                Some(existing) => {
                                    proxy.stop(None);
                                    live.keep_proxy(actor.pid, existing.into());
                                }
                            }
                        }
                        Err(err) => tracing::warn!(
                            peer = %live.peer_name,
                            pid = actor.pid,
                            %err,
                            "cannot start a proxy for a remote actor"
                        ),
                    }
                }
                // The winner of a name may have changed.
                names::names_announced(named);
            }
            ControlMessage::NamedActorTypes(types) => {
                if self.config.remote_names_in_registry {
                    names::types_announced(live.peer_node_id, types);
                }
            }
            ControlMessage::ActorStopped { pid, reason } => {
                if let Some(proxy) = live.proxies.remove(&pid) {
                    tracing::debug!(peer = %live.peer_name, pid, ?reason, "a remote actor stopped");
                    // Ended after what is queued, not at once: calls already queued in the proxy
                    // still reach the peer, which answers them with an error, so no caller is left
                    // waiting. The proxy stops with the actor's reason, which its monitors see;
                    // stopping also takes it out of every group.
                    end_proxy(&proxy.get_cell(), ProxyExit::Stopped(reason));
                }
            }
            ControlMessage::ActorFailed { pid, error } => {
                if let Some(proxy) = live.proxies.remove(&pid) {
                    tracing::debug!(peer = %live.peer_name, pid, %error, "a remote actor failed");
                    end_proxy(&proxy.get_cell(), ProxyExit::Failed(error));
                }
            }
            ControlMessage::ActorsWanted(pids) => {
                let mut alive = Vec::new();
                let mut gone = Vec::new();
                for pid in pids {
                    match ractor::registry::where_is_pid(ActorId::Local(pid))
                        .filter(is_remotable_local)
                    {
                        Some(cell) => {
                            // Announced again even if it was: the peer's proxy is new.
                            live.announced.remove(&pid);
                            alive.push(cell);
                        }
                        None => gone.push(pid),
                    }
                }
                for pid in gone {
                    self.send_control(ControlMessage::ActorStopped {
                        pid,
                        reason: Some(references::NO_SUCH_ACTOR.to_owned()),
                    });
                }
                self.announce(&alive);
            }
            ControlMessage::SpawnRequest {
                request,
                kind,
                args,
            } => {
                if let Some(writer) = self.writer.clone() {
                    spawn::serve(request, &kind, &args, writer, self.config.max_frame);
                }
            }
            ControlMessage::SpawnReply { request, outcome } => {
                spawn::complete(live.peer_node_id, request, outcome);
            }
            ControlMessage::GroupJoined { scope, group, pids } => {
                let cells = proxies_of(&live.proxies, &pids);
                if !cells.is_empty() {
                    pg::join_scoped(scope, group, cells);
                }
            }
            ControlMessage::GroupLeft { scope, group, pids } => {
                let cells = proxies_of(&live.proxies, &pids);
                if !cells.is_empty() {
                    pg::leave_scoped(scope, group, cells);
                }
            }
            ControlMessage::PeersKnown(peers) => {
                if self.config.connection_mode == super::NodeConnectionMode::Transitive {
                    let _ = self
                        .server
                        .cast(NodeServerMessage::internal(ServerEvent::Dial(peers)));
                }
            }
            ControlMessage::WhereIsNode { node } => {
                let _ = self
                    .server
                    .cast(NodeServerMessage::internal(ServerEvent::WhereIsNode {
                        node,
                        asker: myself.clone(),
                    }));
            }
            ControlMessage::InitialSyncDone => {
                live.synced_there = true;
                self.check_ready(myself);
            }
            ControlMessage::Disconnect { reason } => {
                let reason = format!("the peer disconnected: {reason}");
                tracing::info!(peer = %live.peer_name, %reason, "session ended");
                myself.stop(Some(reason));
            }
        }
        Ok(())
    }

    /// Keeps a proxy that a reference made on demand, and asks the peer to report its actor's end.
    fn adopt(&mut self, pid: u64, proxy: ActorRef<RemoteActorMessage>) {
        let Some(live) = &mut self.live else {
            proxy.stop(Some(references::NODE_LOST.to_owned()));
            return;
        };
        if live
            .proxies
            .get(&pid)
            .is_some_and(|kept| kept.get_status() < ractor::ActorStatus::Draining)
        {
            return;
        }
        live.keep_proxy(pid, proxy);
        if live.minor >= 1 {
            self.send_control(ControlMessage::ActorsWanted(vec![pid]));
        }
    }

    /// A monitored local actor ended: the peer learns how.
    fn local_ended(&mut self, cell: &ActorCell, exit: ProxyExit) {
        let pid = cell.get_id().pid();
        let Some(live) = &mut self.live else { return };
        if !(live.monitored.remove(&pid) && live.announced.remove(&pid)) {
            return;
        }
        let minor = live.minor;
        let control = match exit {
            ProxyExit::Stopped(reason) => ControlMessage::ActorStopped { pid, reason },
            ProxyExit::Failed(error) if minor >= 1 => ControlMessage::ActorFailed { pid, error },
            ProxyExit::Failed(error) => ControlMessage::ActorStopped {
                pid,
                reason: Some(error),
            },
        };
        self.send_control(control);
    }

    fn established(&mut self, myself: &ActorRef<NodeSessionMessage>, established: Established) {
        let Established { reader, auth } = established;
        let Some(writer) = self.writer.clone() else {
            myself.stop(Some("the writer stopped during the handshake".into()));
            return;
        };
        let in_flight = Arc::new(InFlightCalls::default());
        let writer_for_links = writer.clone();
        let received = Arc::new(ReceivedFrames::default());
        let liveness_task = spawn_liveness(
            LivenessTiming {
                heartbeat_interval: self.config.heartbeat_interval,
                down_after: self.config.down_after,
            },
            Arc::clone(&received),
            writer.clone(),
            self.config.max_frame,
            myself.clone(),
        );
        let reader_task = spawn_reader(
            reader,
            ReaderContext {
                session: myself.clone(),
                writer,
                in_flight: Arc::clone(&in_flight),
                max_frame: self.config.max_frame,
                max_unanswered_calls: self.config.max_unanswered_calls,
                received,
            },
        );
        tracing::info!(peer = %auth.peer.name, addr = %self.peer_label, "session authenticated");
        references::peer_up(
            auth.peer_node_id,
            &PeerLink {
                session: myself.clone(),
                incarnation: auth.peer_incarnation,
                writer: writer_for_links,
                in_flight: Arc::clone(&in_flight),
                max_frame: self.config.max_frame,
            },
        );
        self.live = Some(Live {
            session: myself.get_id(),
            peer_name: auth.peer.name,
            peer_node_id: auth.peer_node_id,
            _reader_task: AbortOnDrop(reader_task),
            _liveness_task: AbortOnDrop(liveness_task),
            in_flight,
            proxies: HashMap::new(),
            announced: HashSet::new(),
            monitored: HashSet::new(),
            myself: myself.get_cell(),
            minor: auth.protocol.minor,
            synced_here: false,
            synced_there: false,
            ready: false,
        });
        self.initial_sync(myself);
    }
}

fn is_remotable_local(cell: &ActorCell) -> bool {
    // A name forwarder stands for a remote actor: it is never announced (see `names`).
    cell.get_id().is_local() && cell.supports_remoting() && !names::is_forwarder(cell)
}

fn proxies_of(
    proxies: &HashMap<u64, ActorRef<RemoteActorMessage>>,
    pids: &[u64],
) -> Vec<ActorCell> {
    pids.iter()
        .filter_map(|pid| proxies.get(pid))
        .map(|proxy| proxy.get_cell())
        .collect()
}

/// Runs the handshake over `read` and the writer, then asks the server whether to keep the
/// session; reports the outcome to the session.
async fn handshake(
    read: BoxRead,
    writer: WriterHandle,
    is_server: bool,
    config: Arc<NodeConfig>,
    server: ActorRef<NodeServerMessage>,
    session: ActorRef<NodeSessionMessage>,
) {
    let outcome = match tokio::time::timeout(
        config.handshake_timeout,
        authenticate(read, &writer, is_server, &config),
    )
    .await
    {
        Ok(Ok((reader, auth))) => admit(&server, &session, reader, auth)
            .await
            .map_err(HandshakeFailure::from),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(HandshakeFailure::from(format!(
            "the handshake did not complete within {:?}",
            config.handshake_timeout
        ))),
    };
    let outcome = match outcome {
        Ok(established) => Ok(established),
        Err(HandshakeFailure {
            reason,
            authentication,
        }) => {
            // Answered before the session stops, so the server knows why when it sees it end
            // (supervision events overtake ordinary messages).
            let session_id = session.get_id();
            let _ = server
                .call(
                    |reply| {
                        NodeServerMessage::internal(ServerEvent::HandshakeFailed {
                            session: session_id,
                            reason: reason.clone(),
                            authentication,
                            reply,
                        })
                    },
                    Some(Duration::from_secs(5)),
                )
                .await;
            Err(reason)
        }
    };
    drop(writer);
    let _ = session.cast(NodeSessionMessage::internal(SessionEvent::HandshakeDone(
        outcome,
    )));
}

async fn admit(
    server: &ActorRef<NodeServerMessage>,
    session: &ActorRef<NodeSessionMessage>,
    reader: FrameReader,
    auth: Authenticated,
) -> Result<Box<Established>, String> {
    let peer = auth.peer.clone();
    let session_id = session.get_id();
    let admitted = server
        .call(
            |reply| {
                NodeServerMessage::internal(ServerEvent::Admit {
                    session: session_id,
                    peer,
                    incarnation: auth.peer_incarnation,
                    connection_key: auth.connection_key,
                    reply,
                })
            },
            Some(Duration::from_secs(5)),
        )
        .await;
    match admitted {
        Ok(ractor::rpc::CallResult::Success(true)) => Ok(Box::new(Established { reader, auth })),
        Ok(ractor::rpc::CallResult::Success(false)) => Err(format!(
            "already connected to {} through another session",
            auth.peer.name
        )),
        _ => Err("the node server did not answer".to_owned()),
    }
}

/// Why a handshake ended without a session.
struct HandshakeFailure {
    reason: String,
    /// The peers could not authenticate each other (different cookies, same name, incompatible
    /// versions): dialing again would fail the same way.
    authentication: bool,
}

impl From<String> for HandshakeFailure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            authentication: false,
        }
    }
}

impl From<&str> for HandshakeFailure {
    fn from(reason: &str) -> Self {
        Self::from(reason.to_owned())
    }
}

/// Whether a handshake error means the two nodes cannot authenticate each other, however often
/// they try.
fn is_authentication_failure(err: &HandshakeError) -> bool {
    matches!(
        err,
        HandshakeError::AuthenticationFailed
            | HandshakeError::PeerIncompatible { .. }
            | HandshakeError::ConnectionToSelf
            | HandshakeError::RejectedByPeer(
                Rejection::BadProof
                    | Rejection::IncompatibleVersion { .. }
                    | Rejection::ConnectionToSelf
            )
    )
}

/// The handshake state machine of either side.
enum Driver {
    Client(ClientDriver),
    Server(ServerDriver),
}

impl Driver {
    fn receive(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        match self {
            Driver::Client(driver) => driver.receive(body, out),
            Driver::Server(driver) => driver.receive(body, out),
        }
    }
}

/// The handshake itself: frames in, frames out, until authenticated or refused.
async fn authenticate(
    read: BoxRead,
    writer: &WriterHandle,
    is_server: bool,
    config: &NodeConfig,
) -> Result<(FrameReader, Authenticated), HandshakeFailure> {
    let handshake_config = HandshakeConfig {
        cookie: config.cookie.clone(),
        local: config.local.clone(),
        incarnation: config.incarnation,
    };
    let nonce: [u8; 32] = rand::random();
    let mut out = Vec::new();
    let mut driver = if is_server {
        Driver::Server(ServerDriver::start(handshake_config, nonce))
    } else {
        Driver::Client(
            ClientDriver::start(handshake_config, nonce, &mut out)
                .map_err(|err| err.to_string())?,
        )
    };
    let mut reader = FrameReader::new(read);
    loop {
        if !out.is_empty() {
            writer
                .send(std::mem::take(&mut out))
                .map_err(|err| err.to_string())?;
        }
        let body = match reader.next_frame(HANDSHAKE_MAX_FRAME).await {
            Ok(Some(body)) => body,
            Ok(None) => return Err("the peer closed the connection during the handshake".into()),
            Err(err) => return Err(format!("handshake: {err}").into()),
        };
        let progress = driver.receive(body, &mut out);
        if !out.is_empty() {
            // The last frame (a proof or a rejection) must go out whatever happens next.
            let _ = writer.send(std::mem::take(&mut out));
        }
        match progress {
            Ok(HandshakeProgress::Continue) => {}
            Ok(HandshakeProgress::Done(auth)) => return Ok((reader, auth)),
            Err(err) => {
                return Err(HandshakeFailure {
                    reason: format!("handshake failed: {err}"),
                    authentication: is_authentication_failure(&err),
                })
            }
        }
    }
}

impl Actor for NodeSession {
    type Msg = NodeSessionMessage;
    type State = NodeSessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let peer_label = args.stream.peer_label();
        let (read, write) = args.stream.split();
        let (writer, writer_task) = spawn_writer_with_limit(write, args.config.max_outbound_queue);
        let handshake_task = tokio::spawn(handshake(
            read,
            writer.clone(),
            args.is_server,
            Arc::clone(&args.config),
            args.server.clone(),
            myself,
        ));
        Ok(NodeSessionState {
            server: args.server,
            config: args.config,
            peer_label,
            writer: Some(writer),
            writer_task: Some(writer_task),
            handshake_task: Some(AbortOnDrop(handshake_task)),
            live: None,
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.handshake_task = None;
        if let Some(live) = &state.live {
            // Calls waiting on this session will never be answered: tell their callers now, and
            // let the proxies fail whatever calls are still queued in their mailboxes.
            live.in_flight.close_and_fail_all();
            // Monitors of the proxies learn that the node is lost, not that the actors stopped.
            for proxy in live.proxies.values() {
                end_proxy(
                    &proxy.get_cell(),
                    ProxyExit::Stopped(Some(references::NODE_LOST.to_owned())),
                );
            }
            myself
                .drain_children_and_wait(Some(PROXY_DRAIN_GRACE))
                .await;
        }
        // Stops the reader and unsubscribes (also done if the actor is killed, see `Live`).
        state.live = None;
        // Dropping the last handles lets the writer flush and shut the connection down; a peer
        // that does not read gets a bounded grace period.
        state.writer = None;
        if let Some(task) = state.writer_task.take() {
            tokio::spawn(async move {
                let abort = task.abort_handle();
                if tokio::time::timeout(WRITER_GRACE, task).await.is_err() {
                    abort.abort();
                }
            });
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeSessionMessage::GetAuthenticationState(reply) => {
                let _ = reply.send(state.live.is_some());
            }
            NodeSessionMessage::GetReadyState(reply) => {
                let _ = reply.send(state.live.as_ref().is_some_and(|l| l.ready));
            }
            NodeSessionMessage::Internal(NodeSessionInternal(event)) => match event {
                SessionEvent::HandshakeDone(Ok(established)) => {
                    state.handshake_task = None;
                    state.established(&myself, *established);
                }
                SessionEvent::HandshakeDone(Err(reason)) => {
                    state.handshake_task = None;
                    tracing::warn!(peer = %state.peer_label, %reason, "session not established");
                    myself.stop(Some(reason));
                }
                SessionEvent::Control(control) => state.on_control(&myself, control).await?,
                SessionEvent::ReaderEnded(reason) => {
                    let peer = state.live.as_ref().map(|l| l.peer_name.clone());
                    tracing::info!(peer = ?peer, addr = %state.peer_label, %reason, "session ended");
                    myself.stop(Some(reason));
                }
                SessionEvent::SendPeers(peers) => {
                    state.send_control(ControlMessage::PeersKnown(peers));
                }
                SessionEvent::PeerSilent(silence) => {
                    let reason = format!(
                        "no traffic from the peer for {:.1} s: declared down",
                        silence.as_secs_f64()
                    );
                    let peer = state.live.as_ref().map(|l| l.peer_name.clone());
                    tracing::warn!(peer = ?peer, addr = %state.peer_label, %reason, "session ended");
                    myself.stop(Some(reason));
                }
                SessionEvent::Adopt { pid, proxy } => state.adopt(pid, proxy),
                SessionEvent::AskWhereIs(node) => {
                    if state.live.as_ref().is_some_and(|live| live.minor >= 2) {
                        state.send_control(ControlMessage::WhereIsNode { node });
                    }
                }
                SessionEvent::Close(reason) => {
                    let peer = state.live.as_ref().map(|l| l.peer_name.clone());
                    tracing::info!(peer = ?peer, addr = %state.peer_label, %reason, "session ended");
                    state.send_control(ControlMessage::Disconnect {
                        reason: reason.clone(),
                    });
                    myself.stop(Some(reason));
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
        match event {
            SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Spawn(cell)) => {
                state.announce_by_mode(&[cell]);
            }
            SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Terminate(cell)) => {
                let pid = cell.get_id().pid();
                // A monitored actor's end is reported by the monitor event that follows, with
                // its reason.
                let was_announced = state.live.as_mut().is_some_and(|live| {
                    cell.get_id().is_local()
                        && !live.monitored.contains(&pid)
                        && live.announced.remove(&pid)
                });
                if was_announced {
                    state.send_control(ControlMessage::ActorStopped { pid, reason: None });
                }
            }
            SupervisionEvent::ProcessGroupChanged(change) => state.group_change(change),
            SupervisionEvent::ActorTerminated(cell, _, reason) if cell.get_id().is_local() => {
                state.local_ended(&cell, ProxyExit::Stopped(reason));
            }
            SupervisionEvent::ActorFailed(cell, err) if cell.get_id().is_local() => {
                state.local_ended(&cell, ProxyExit::Failed(err.to_string()));
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => forget_proxy(state, &cell),
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::debug!(proxy = %cell.get_id(), %err, "a remote actor proxy failed");
                forget_proxy(state, &cell);
            }
            SupervisionEvent::ActorStarted(_) => {}
        }
        Ok(())
    }
}

fn forget_proxy(state: &mut NodeSessionState, cell: &ActorCell) {
    references::proxy_down(cell);
    if let Some(live) = &mut state.live {
        let pid = cell.get_id().pid();
        // Proxies of one actor share its id: a duplicate that was stopped (see `proxy_up`) must
        // not take the running one out.
        if live.proxies.get(&pid).is_some_and(|p| {
            p.get_id() == cell.get_id() && p.get_status() >= ractor::ActorStatus::Draining
        }) {
            live.proxies.remove(&pid);
        }
    }
}
