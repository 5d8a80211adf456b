//! One session per connected peer: drives the handshake, then keeps actors and process groups in
//! sync with the peer. Actor traffic does not pass through this actor: proxies write to the
//! session's writer, and the reader task delivers to local actors directly (see `reader`).
//!
//! Its parts: `message` (what it is told), `handshake` (the driver of the handshake), `sync` (what
//! the peer learns of this node), `control` (what the peer tells, and the proxies of its actors),
//! `bounds` (what the session keeps to bound the peer's groups and questions).
//!
//! The session supervises the proxies of the peer's actors and the actors the peer spawned here
//! (`spawn`); both end with it.

mod bounds;
mod control;
mod handshake;
pub(super) mod message;
mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::config::NodeConfig;
use super::exit::NODE_LOST;
use super::liveness::{spawn_liveness, LivenessTiming, ReceivedFrames, Watch};
use super::quota::Allowance;
use super::reader::{spawn_reader, ControlQueue, ReaderContext};
use super::references::{self, PeerLink};
use super::server::message::NodeServerMessage;
use super::spawn;
use super::stats::{LinkCounters, LinkProtection};
use crate::call::{self, InFlightCalls};
use crate::error::SessionEnd;
use crate::net::{
    counting_read, counting_write, spawn_writer_with_limit, WriterExit, WriterHandle,
};
use crate::net::{NetworkStream, PendingSlot};
use crate::protocol::listed::ListedDigest;
use crate::protocol::message::{ControlMessage, FrameProtection, SessionMessage};
use crate::remote_actor::{end_proxy, ProxyExit, RemoteActorMessage};
use bounds::{PeerGroups, Rate};
use control::forget_proxy;
pub(crate) use message::{EndSlot, Established, SessionEvent};
pub use message::{NodeSessionInternal, NodeSessionMessage};

/// The minor protocol version from which peers say whom they watch (`Watching`, `PeerSilent`).
const WATCH_MINOR: u16 = 4;

/// The minor protocol version from which peers answer `Probe`.
const PROBE_MINOR: u16 = 5;

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

/// What tests look at inside a session.
#[cfg(test)]
pub(crate) mod test_hooks {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

    use crate::node::reader::ControlQueue;

    /// The control queue of the latest session with each peer, by the peer's node id.
    pub(crate) fn control_queues() -> MutexGuard<'static, HashMap<u64, Arc<ControlQueue>>> {
        static QUEUES: LazyLock<Mutex<HashMap<u64, Arc<ControlQueue>>>> =
            LazyLock::new(Mutex::default);
        QUEUES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The actor behind one connection to a peer node. Spawned by the [`NodeServer`](super::NodeServer).
#[derive(Debug)]
pub struct NodeSession;

/// What the server hands a new session. Opaque: sessions are started by the node server only.
#[doc(hidden)]
pub struct SessionArgs {
    pub(crate) stream: NetworkStream,
    pub(crate) is_server: bool,
    pub(crate) server: ActorRef<NodeServerMessage>,
    pub(crate) config: Arc<NodeConfig>,
    /// Where the session leaves why it ended, for the server.
    pub(crate) end: Arc<EndSlot>,
    /// An accepted connection's place among those waiting to authenticate, held until the peer
    /// has authenticated.
    pub(crate) slot: Option<PendingSlot>,
    /// The session's figures, which the server reads for `peer_stats`.
    pub(crate) stats: Arc<LinkCounters>,
    /// The session's id on this node (`NodeServerSessionInformation::node_id`).
    pub(crate) session_id: super::NodeId,
    /// The node server's span: the session's span is its child.
    pub(crate) node_span: tracing::Span,
}

impl std::fmt::Debug for SessionArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionArgs")
            .field("stream", &self.stream)
            .field("is_server", &self.is_server)
            .finish_non_exhaustive()
    }
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
    /// The peer said it is leaving the cluster. Read by the server from the state this session
    /// ends with, so that it is known when the end is handled whatever the order of messages.
    pub(crate) peer_left: bool,
    end: Arc<EndSlot>,
    /// Who watches whom, shared with the liveness task; kept from the start, since the server
    /// may decide before the handshake is done.
    watch: Arc<Watch>,
    stats: Arc<LinkCounters>,
    /// Whether the transport is TLS, for the figures.
    tls: bool,
    /// Entered by the session's actor and every task it starts (handshake, writer, reader,
    /// liveness): their events carry the local node, the peer and the direction.
    span: tracing::Span,
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
    /// What proxies of the peer's actors send with (see `references::spawn_proxy`).
    link: PeerLink,
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
    /// This node or the peer is hidden: neither announces its actors and groups to the other,
    /// nor takes the other's (see `sync` and `control`).
    detached: bool,
    synced_here: bool,
    synced_there: bool,
    /// What the peer's discovery lists, if it said (2.10): the server leaves the peers it lists
    /// out of those it tells it about.
    peer_view: Option<ListedDigest>,
    ready: bool,
    /// Whether the proxy limit was reported for this session already (once is enough).
    proxy_limit_logged: bool,
    /// Actors the peer spawned here and running (`with_max_remote_spawns_per_peer`).
    spawns: Arc<Allowance>,
    /// The process groups the peer's actors are in here (`with_max_groups_per_peer`).
    groups: PeerGroups,
    /// The peer's `WhereIsNode` questions (`with_where_is_node_rate`).
    where_is_rate: Rate,
    /// The peer's control messages the reader handed on and this actor has not handled yet.
    control: Arc<ControlQueue>,
    /// Where the session subscribed to local changes (see `local_events`), to unsubscribe.
    local_subscribers: Arc<super::local_events::LocalSubscribers>,
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
        self.local_subscribers.unsubscribe(self.session);
        references::peer_down(self.peer_node_id, self.session);
        spawn::fail_pending(self.peer_node_id);
        self.link.in_flight.close_and_fail_all();
        // A proxy that is killed (not drained) drops the calls still queued in its mailbox before
        // any ticket of theirs reached `in_flight`; once the proxies have stopped, fail those too.
        call::fail_calls_dropped_with(self.proxies.values().map(ActorRef::get_cell).collect());
    }
}

impl NodeSessionState {
    /// Ends the session for `end`: logs it once, here where it is decided, leaves it for the
    /// server, and stops with its text as the reason.
    fn end(&self, myself: &ActorRef<NodeSessionMessage>, end: SessionEnd) {
        let peer = self.live.as_ref().map(|l| l.peer_name.as_str());
        match &end {
            SessionEnd::HandshakeFailed { .. } => {
                tracing::warn!(addr = %self.peer_label, %end, "session not established");
            }
            SessionEnd::PeerMisbehaved(_)
            | SessionEnd::PeerSilent(_)
            | SessionEnd::ReportedSilent(_) => {
                tracing::warn!(peer = ?peer, addr = %self.peer_label, %end, "session ended");
            }
            _ => tracing::info!(peer = ?peer, addr = %self.peer_label, %end, "session ended"),
        }
        let reason = end.to_string();
        self.end.set(end);
        myself.stop(Some(reason));
    }

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

    /// The server decided whether this node watches the peer. A peer older than 2.4 is always
    /// watched; a 2.4 peer is told, so that it heartbeats this session only while watched.
    fn set_watching(&mut self, watching: bool) {
        match &self.live {
            Some(live) if live.minor < WATCH_MINOR => {}
            Some(_) => {
                if self.watch.set_watching(watching) {
                    self.send_control(ControlMessage::Watching(watching));
                }
            }
            // Applied when the session is established (see `established`).
            None => {
                self.watch.set_watching(watching);
            }
        }
    }

    fn established(&mut self, myself: &ActorRef<NodeSessionMessage>, established: Established) {
        let Established { reader, auth } = established;
        self.span.record("peer", auth.peer.name.as_str());
        self.span.record("peer_node_id", auth.peer_node_id);
        self.span.record("incarnation", auth.peer_incarnation);
        // The reader and liveness tasks start inside the session's span.
        let _entered = self.span.clone().entered();
        let Some(writer) = self.writer.clone() else {
            self.end(
                myself,
                SessionEnd::Io("the writer stopped during the handshake".to_owned()),
            );
            return;
        };
        let in_flight = Arc::new(InFlightCalls::default());
        let control = ControlQueue::new(self.config.max_queued_control);
        let received = Arc::new(ReceivedFrames::default());
        if auth.protocol.minor < WATCH_MINOR {
            // A peer older than 2.4 heartbeats every session and expects heartbeats on every
            // session: watched both ways, whatever the server decides.
            self.watch.set_watching(true);
        } else if !self.watch.watching() {
            // Sent before anything else, so the peer stops heartbeating at once.
            self.send_control(ControlMessage::Watching(false));
        }
        // A report of the peer's silence is checked with a probe, if the peer answers them.
        self.watch
            .set_answers_probes(auth.protocol.minor >= PROBE_MINOR);
        let liveness_task = spawn_liveness(
            LivenessTiming {
                heartbeat_interval: self.config.heartbeat_interval,
                down_after: self.config.down_after,
                // Probes go only to peers that answer them (rule V4).
                probe_every: self
                    .config
                    .rtt_probe_interval
                    .filter(|_| auth.protocol.minor >= PROBE_MINOR),
            },
            Arc::clone(&received),
            Arc::clone(&self.watch),
            writer.clone(),
            self.config.max_frame,
            myself.clone(),
            Arc::clone(&self.stats),
        );
        self.stats.established(
            LinkProtection::of(self.tls, auth.keys.is_some()),
            writer.probe(),
        );
        let reader_task = spawn_reader(
            reader,
            ReaderContext {
                session: myself.clone(),
                writer: writer.clone(),
                in_flight: Arc::clone(&in_flight),
                max_frame: self.config.max_frame,
                max_unanswered_calls: self.config.max_unanswered_calls,
                received,
                control: Arc::clone(&control),
                stats: Arc::clone(&self.stats),
                #[cfg(feature = "trace-context")]
                trace: super::traced::ReplyTracing {
                    peer_takes: auth.protocol.minor >= crate::protocol::message::TRACED_REPLY_MINOR,
                    peer: auth.peer.name.clone(),
                },
            },
        );
        tracing::info!(peer = %auth.peer.name, addr = %self.peer_label, "session authenticated");
        let link = PeerLink {
            session: myself.clone(),
            incarnation: auth.peer_incarnation,
            writer: writer.clone(),
            in_flight,
            max_frame: self.config.max_frame,
            proxies: Allowance::new(self.config.max_proxies_per_peer),
            node_proxies: Arc::clone(&self.config.proxies),
            stats: Arc::clone(&self.stats),
            carries_metadata: auth.protocol.minor >= 6,
            #[cfg(feature = "trace-context")]
            carries_trace: auth.protocol.minor >= crate::protocol::message::TRACED_MINOR,
        };
        references::peer_up(auth.peer_node_id, &link);
        #[cfg(test)]
        test_hooks::control_queues().insert(auth.peer_node_id, Arc::clone(&control));
        self.live = Some(Live {
            session: myself.get_id(),
            local_subscribers: Arc::clone(&self.config.local_subscribers),
            peer_name: auth.peer.name,
            peer_node_id: auth.peer_node_id,
            _reader_task: AbortOnDrop(reader_task),
            _liveness_task: AbortOnDrop(liveness_task),
            link,
            proxies: HashMap::new(),
            announced: HashSet::new(),
            monitored: HashSet::new(),
            myself: myself.get_cell(),
            minor: auth.protocol.minor,
            detached: self.config.hidden || auth.peer_hidden,
            synced_here: false,
            synced_there: false,
            peer_view: None,
            ready: false,
            proxy_limit_logged: false,
            spawns: Allowance::new(self.config.max_remote_spawns_per_peer),
            groups: PeerGroups::new(self.config.max_groups_per_peer),
            where_is_rate: Rate::new(self.config.where_is_node_rate),
            control,
        });
        self.initial_sync(myself);
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
        let tls = args.stream.is_tls();
        let span = tracing::info_span!(
            parent: &args.node_span,
            "session",
            local = %args.config.local.name,
            session = args.session_id,
            direction = if args.is_server { "inbound" } else { "outbound" },
            addr = %peer_label,
            peer = tracing::field::Empty,
            peer_node_id = tracing::field::Empty,
            incarnation = tracing::field::Empty,
        );
        // The writer and handshake tasks start inside the session's span.
        let _entered = span.clone().entered();
        // TLS sessions keep TLS alone: no second layer (rule K1 lets the peer still ask for it).
        let frames = if tls {
            FrameProtection::Plaintext
        } else {
            args.config.frames
        };
        let (read, write) = args.stream.split();
        let read = counting_read(read, args.stats.bytes_in_counter());
        let write = counting_write(write, args.stats.bytes_out_counter());
        let (writer, writer_task) = spawn_writer_with_limit(write, args.config.max_outbound_queue);
        let handshake_task = tokio::spawn(
            handshake::handshake(handshake::HandshakeTask {
                read,
                writer: writer.clone(),
                is_server: args.is_server,
                frames,
                config: Arc::clone(&args.config),
                server: args.server.clone(),
                session: myself,
                slot: args.slot,
            })
            .in_current_span(),
        );
        drop(_entered);
        let watch = Arc::new(Watch::default());
        watch.set_probe_unwatched(args.config.rtt_probes_on_every_link);
        Ok(NodeSessionState {
            server: args.server,
            config: args.config,
            peer_label,
            writer: Some(writer),
            writer_task: Some(writer_task),
            handshake_task: Some(AbortOnDrop(handshake_task)),
            live: None,
            peer_left: false,
            end: args.end,
            watch,
            stats: args.stats,
            tls,
            span,
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
            live.link.in_flight.close_and_fail_all();
            // Monitors of the proxies learn that the node is lost, not that the actors stopped.
            for proxy in live.proxies.values() {
                end_proxy(
                    &proxy.get_cell(),
                    ProxyExit::Stopped(Some(NODE_LOST.to_owned())),
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
        // `handle_message` never waits, so the session's span is entered around it rather than
        // instrumenting a future: nothing is held across an await, and this future keeps only
        // its arguments (it held the handler's, 624 bytes, laid out again by each of ractor's
        // layers of the session actor's loop).
        let span = state.span.clone();
        let _entered = span.enter();
        handle_message(&myself, message, state)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        let _entered = span.enter();
        handle_supervision(myself, event, state);
        Ok(())
    }
}

fn handle_message(
    myself: &ActorRef<NodeSessionMessage>,
    message: NodeSessionMessage,
    state: &mut NodeSessionState,
) -> Result<(), ActorProcessingErr> {
    {
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
                    state.established(myself, *established);
                }
                SessionEvent::HandshakeDone(Err(end)) => {
                    state.handshake_task = None;
                    state.end(myself, end);
                }
                SessionEvent::Control(control) => {
                    let queue = state.live.as_ref().map(|live| Arc::clone(&live.control));
                    let weight = ControlQueue::weight(&control);
                    let handled = state.on_control(myself, control);
                    // Handled, whatever came of it: the reader may hand on the next one.
                    if let Some(queue) = queue {
                        queue.handled(weight);
                    }
                    handled?;
                }
                SessionEvent::ReaderEnded(end) => state.end(myself, end),
                SessionEvent::SendPeers(peers) => {
                    state.send_control(ControlMessage::PeersKnown(peers));
                }
                SessionEvent::PeerSilent(silence) => {
                    state.end(myself, SessionEnd::PeerSilent(silence));
                }
                SessionEvent::Adopt { pid, proxy } => state.adopt(pid, proxy),
                SessionEvent::AskWhereIs(node) => {
                    if state.live.as_ref().is_some_and(|live| live.minor >= 2) {
                        state.send_control(ControlMessage::WhereIsNode { node });
                    }
                }
                SessionEvent::Leave(reply) => {
                    if state.live.as_ref().is_some_and(|live| live.minor >= 3) {
                        state.send_control(ControlMessage::Leaving);
                    }
                    let _ = reply.send(());
                }
                SessionEvent::Reachable(reachable) => {
                    let _ = state.server.cast(NodeServerMessage::internal(
                        crate::node::server::message::ServerEvent::Reachability {
                            session: myself.get_id(),
                            reachable,
                        },
                    ));
                }
                SessionEvent::Probe => state.send_control(ControlMessage::Heartbeat),
                SessionEvent::Local(change) => state.local_change(&change),
                SessionEvent::Watch(watching) => state.set_watching(watching),
                SessionEvent::ReportSilent { node, incarnation } => {
                    if state.live.as_ref().is_some_and(|l| l.minor >= WATCH_MINOR) {
                        state.send_control(ControlMessage::PeerSilent { node, incarnation });
                    }
                }
                SessionEvent::ReportedSilent(reporter) => {
                    // Checked before it ends anything: the peer is asked (`liveness::check`). A
                    // report that comes before the liveness task starts waits for it.
                    tracing::info!(%reporter, "the peer is reported silent: asking it");
                    state.watch.report_silent(reporter);
                }
                SessionEvent::ReportStands(reporter) => {
                    state.end(myself, SessionEnd::ReportedSilent(reporter));
                }
                SessionEvent::Close(reason) => {
                    state.send_control(ControlMessage::Disconnect {
                        reason: reason.clone(),
                    });
                    state.end(myself, SessionEnd::EndedHere(reason));
                }
            },
        }
        Ok(())
    }
}

fn handle_supervision(
    _myself: ActorRef<NodeSessionMessage>,
    event: SupervisionEvent,
    state: &mut NodeSessionState,
) {
    {
        match event {
            // Changes of local actors and groups come from the node's one subscriber to them
            // (`SessionEvent::Local`); the session does not listen to ractor for them.
            SupervisionEvent::PidLifecycleEvent(_) | SupervisionEvent::ProcessGroupChanged(_) => {}
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_handles_messages_without_waiting() {
        // Whatever `handle` awaits is laid out in the session actor's boxed loop, several times
        // over by ractor's layers, once per peer: the handler and what it calls on every message
        // are plain functions, so `handle` awaits nothing (it held a 512-byte future when
        // `handle_message` and `on_control` were `async fn`s with nothing to wait for). As
        // function pointers these only type-check while they do not return futures.
        let _: fn(
            &ActorRef<NodeSessionMessage>,
            NodeSessionMessage,
            &mut NodeSessionState,
        ) -> Result<(), ActorProcessingErr> = handle_message;
        let _: fn(
            &mut NodeSessionState,
            &ActorRef<NodeSessionMessage>,
            ControlMessage,
        ) -> Result<(), ActorProcessingErr> = NodeSessionState::on_control;
    }
}
