//! The [`NodeServer`] actor: its messages, and how it opens and supervises sessions. What it
//! keeps of each session is in `session_entry`, and the admitted ones indexed by peer and address
//! in `established`. Deciding which session to keep is in `admission`, dialing lost peers again in
//! `redial`, dialing the peers of peers in `transitive`, and dialing the nodes that discovery
//! finds in `reconciler`.

mod admission;
mod downing;
mod established;
mod figures;
mod membership;
pub(super) mod message;
mod reconciler;
mod redial;
mod session_entry;
mod transitive;
mod watch;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio_native_tls::TlsConnector;

use super::config::{Announce, NodeConfig, NodeConnectionMode, NodeServer};
use super::events::{NodeEventSubscription, NodeInfo, NodeServerSessionInformation};
use super::local_events::{LocalEvents, LocalEventsArgs, Spawns};
use super::quota::Allowance;
use super::reconnect::ReconnectPolicy;
use super::references;
use super::session::{EndSlot, NodeSession, NodeSessionState, SessionArgs};
use super::stats::LinkCounters;
use crate::error::{ConnectError, SessionEnd};
use crate::net::{AcceptOptions, Accepted, ListenerHandle, NetworkStream};
use crate::protocol::frame::frame_limit;
use crate::protocol::identity::{node_id_of, Cookie};
use crate::protocol::listed::ListedDigest;
use crate::protocol::message as wire;
use admission::Admission;
use downing::DowningState;
use established::Established;
use membership::MemberTable;
use message::{NodeServerInternal, NodeServerMessage, ServerEvent};
use reconciler::Reconciler;
use redial::Wanted;
use session_entry::{Opening, SessionEntry, SessionStatus};

/// The state of a running [`NodeServer`].
pub struct NodeServerState {
    listener: ListenerHandle,
    config: Arc<NodeConfig>,
    sessions: HashMap<ActorId, SessionEntry>,
    /// The admitted sessions among `sessions`, by peer name and listed address.
    established: Established,
    subscriptions: HashMap<String, Box<dyn NodeEventSubscription>>,
    tls_connector: Option<TlsConnector>,
    deferred: Vec<Admission>,
    /// Transitive dials in progress, by peer name.
    dialing: HashSet<String>,
    /// Peers to dial again when their session is lost, by name.
    wanted: HashMap<String, Wanted>,
    reconnect: ReconnectPolicy,
    max_unauthenticated: usize,
    /// The most authenticated sessions kept at once.
    max_sessions: usize,
    /// Transitive dials under way at most (see `transitive`).
    max_transitive_dials: usize,
    /// Dials the nodes that discovery finds, when the node has a discovery source.
    reconciler: Option<Reconciler>,
    /// The members of the cluster as this node sees them.
    members: MemberTable,
    /// Decides which side of a partition stays, when the node has a downing policy.
    downing: Option<DowningState>,
    /// The session id (`NodeServerSessionInformation::node_id`) of the next connection.
    next_session_id: super::NodeId,
    /// How many peers this node watches (see `watch`).
    watched_peers: usize,
    /// The admitted sessions with visible peers that this node watches now (see `watch`).
    watching: HashSet<ActorId>,
    /// How many sessions each peer has had admitted, by name, for the figures' reconnections
    /// (one entry per peer ever connected, as the membership view keeps).
    admitted: HashMap<String, u64>,
    /// Entered while the server handles a message; the parent of its sessions' spans.
    span: tracing::Span,
    /// Asks the server to publish its figures through `metrics`, while it runs.
    #[cfg(feature = "metrics")]
    _metrics_ticker: super::stats::exporter::Ticker,
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

    /// Opens a session over `stream`, which comes as `opening` says.
    async fn open_session(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        stream: NetworkStream,
        opening: Opening,
    ) -> Option<ActorId> {
        let Opening {
            is_server,
            dialed_peer,
            target,
            waiter,
            slot,
        } = opening;
        let peer_addr = stream.peer_label();
        // Connections from the listener were counted by its accept loop (their slot); a stream the
        // user hands over as incoming is counted here.
        if is_server && slot.is_none() {
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
        let end = Arc::new(EndSlot::default());
        let stats = Arc::new(LinkCounters::default());
        // Known from the start, unlike the peer's name: every event of this session, its span
        // and `GetSessions` carry it (see `NodeServerSessionInformation::node_id`).
        let session_id = self.next_session_id;
        self.next_session_id = self.next_session_id.wrapping_add(1).max(1);
        let args = SessionArgs {
            stream,
            is_server,
            server: myself.clone(),
            config: Arc::clone(&self.config),
            end: Arc::clone(&end),
            slot,
            stats: Arc::clone(&stats),
            session_id,
            node_span: self.span.clone(),
        };
        match Actor::spawn_linked(None, NodeSession, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                let id = actor.get_id();
                let info = NodeServerSessionInformation {
                    actor,
                    peer_name: None,
                    is_server,
                    node_id: session_id,
                    peer_addr,
                };
                self.sessions.insert(
                    id,
                    SessionEntry {
                        info,
                        status: SessionStatus::Opened,
                        incarnation: 0,
                        connection_key: [0; 32],
                        peer_node_id: 0,
                        seen_address: None,
                        dialed_peer,
                        dial_target: target,
                        waiters: waiter.into_iter().collect(),
                        ready: false,
                        deliberate: false,
                        end,
                        watched: true,
                        hidden: false,
                        stats,
                        #[cfg(feature = "metrics")]
                        metrics: None,
                    },
                );
                self.notify(|s, i| s.node_session_opened(i), &id);
                Some(id)
            }
            Err(err) => {
                tracing::warn!(%peer_addr, %err, "cannot start a session");
                if let Some(waiter) = waiter {
                    let _ = waiter.send(Err(ConnectError::SessionEnded(SessionEnd::EndedHere(
                        format!("cannot start a session: {err}"),
                    ))));
                }
                None
            }
        }
    }

    fn on_ready(&mut self, session: ActorId, peer_view: Option<ListedDigest>) {
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
        // In any mode: whether to dial is the receiver's choice, so that a transitive node learns
        // the peers of an isolated one too (as the published crate's peers answer any node that
        // asks, once, when it connects).
        self.share_peers(session, peer_view);
        self.tell_hidden_peers(session);
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
        let accept_options = AcceptOptions {
            encryption: self.encryption_mode.clone(),
            handshake_timeout: self.handshake_timeout,
            max_pending: self.max_unauthenticated_connections,
            max_pending_per_address: self.max_unauthenticated_per_address,
        };
        let handle = listener.spawn(accept_options, move |accepted| {
            let _ = server.cast(NodeServerMessage::internal(ServerEvent::Accepted(
                Box::new(accepted),
            )));
        });
        let config = NodeConfig {
            cookie: Cookie::new(&self.cookie),
            local: wire::WireNodeName {
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
            frames: if self.plaintext_frames {
                wire::FrameProtection::Plaintext
            } else {
                wire::FrameProtection::Sealed
            },
            max_outbound_queue: self.max_outbound_queue,
            max_unanswered_calls: self.max_unanswered_calls,
            max_proxies_per_peer: self.max_proxies_per_peer,
            proxies: Allowance::new(self.max_proxies),
            max_remote_spawns_per_peer: self.max_remote_spawns_per_peer,
            max_queued_control: self.max_queued_control,
            max_groups_per_peer: self.max_groups_per_peer,
            where_is_node_rate: self.where_is_node_rate,
            rtt_probe_interval: Some(self.rtt_probe_interval).filter(|every| !every.is_zero()),
            rtt_probes_on_every_link: self.rtt_probes_on_every_link,
            local_subscribers: Arc::default(),
            listed: Arc::default(),
            hidden: self.hidden,
        };
        // One subscriber to ractor's actor and group changes for all the sessions of this node,
        // started before any session (see `local_events`).
        let local_events = LocalEventsArgs {
            subscribers: Arc::clone(&config.local_subscribers),
            spawns: match config.announce {
                Announce::All => Spawns::All,
                Announce::NamedOrGrouped => Spawns::Named,
                Announce::OnDemand => Spawns::None,
            },
        };
        Actor::spawn_linked(None, LocalEvents, local_events, myself.get_cell()).await?;
        references::local_node_up(
            node_id_of(&config.local.name),
            config.incarnation,
            (config.connection_mode == NodeConnectionMode::Transitive)
                .then_some(self.reference_wait),
        );
        let span = tracing::info_span!("node_server", node = %config.local.name);
        span.in_scope(|| tracing::info!(addr = %handle.local_addr(), "node listening"));
        let config_name = config.local.name.clone();
        let members = MemberTable::new(
            config.local.name.clone(),
            node_id_of(&config.local.name),
            config.incarnation,
            config.local.connection_string.clone(),
        );
        let reconciler = self.discovery.clone().map(|discovery| {
            let max_dials = self.max_discovery_dials;
            Reconciler::start(
                discovery,
                handle.local_addr(),
                &config.local.connection_string,
                myself.clone(),
                max_dials,
                Arc::clone(&config.listed),
            )
        });
        Ok(NodeServerState {
            listener: handle,
            config: Arc::new(config),
            sessions: HashMap::new(),
            established: Established::default(),
            subscriptions: HashMap::new(),
            tls_connector: None,
            deferred: Vec::new(),
            dialing: HashSet::new(),
            wanted: HashMap::new(),
            reconnect: self.reconnect,
            max_unauthenticated: self.max_unauthenticated_connections,
            max_sessions: self.max_sessions,
            max_transitive_dials: self.max_transitive_dials,
            reconciler,
            members,
            // A hidden node has no say in who is a member (`with_hidden`).
            downing: self
                .downing
                .filter(|_| !self.hidden)
                .map(|config| DowningState::new(config, node_id_of(&config_name))),
            // From 1: a session id is never 0, which the published crate's users may read as unset.
            next_session_id: 1,
            watched_peers: self.watched_peers,
            watching: HashSet::new(),
            admitted: HashMap::new(),
            span,
            #[cfg(feature = "metrics")]
            _metrics_ticker: {
                super::stats::exporter::describe();
                let server = myself.clone();
                super::stats::exporter::Ticker::start(move || {
                    let tick = NodeServerMessage::internal(ServerEvent::PublishMetrics);
                    server.cast(tick).is_ok()
                })
            },
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
        // A graceful leave: peers show this node as left, not failed, and do not dial it again.
        state.leave().await;
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
        let span = state.span.clone();
        tracing::Instrument::instrument(handle_message(myself, message, state), span).await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let span = state.span.clone();
        tracing::Instrument::instrument(handle_supervision(myself, event, state), span).await
    }
}

async fn handle_message(
    myself: ActorRef<NodeServerMessage>,
    message: NodeServerMessage,
    state: &mut NodeServerState,
) -> Result<(), ActorProcessingErr> {
    {
        match message {
            NodeServerMessage::ConnectionOpened { stream, is_server } => {
                state
                    .open_session(&myself, *stream, Opening::handed_over(is_server))
                    .await;
            }
            NodeServerMessage::ConnectionOpenedExternal { stream, is_server } => {
                let stream = NetworkStream::from_bidi(stream);
                state
                    .open_session(&myself, stream, Opening::handed_over(is_server))
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
                    hidden,
                    reply,
                } => {
                    state.admit(Admission {
                        session,
                        peer,
                        incarnation,
                        connection_key,
                        hidden,
                        reply,
                    });
                    // A discovery dial may have ended in this session: the next one may go.
                    state.dial_due();
                }
                ServerEvent::Introduced { session, claim } => state.introduced(session, &claim),
                ServerEvent::Accepted(accepted) => {
                    let Accepted { stream, slot } = *accepted;
                    let opening = Opening {
                        is_server: true,
                        slot: Some(slot),
                        ..Opening::default()
                    };
                    state.open_session(&myself, stream, opening).await;
                }
                ServerEvent::Ready { session, peer_view } => state.on_ready(session, peer_view),
                ServerEvent::Dial(peers) => state.dial(&myself, peers),
                ServerEvent::WhereIsNode { node, asker } => state.where_is_node(node, &asker),
                ServerEvent::Discovered(found) => state.discovered(found),
                ServerEvent::Members(reply) => {
                    let _ = reply.send(state.members.list());
                }
                ServerEvent::SubscribeMembers {
                    id,
                    subscription,
                    reply,
                } => {
                    state.members.subscribe(id, subscription);
                    let _ = reply.send(());
                }
                ServerEvent::UnsubscribeMembers(id, reply) => {
                    state.members.unsubscribe(&id);
                    let _ = reply.send(());
                }
                ServerEvent::PeerLeaving(session) => state.peer_leaving(&session),
                ServerEvent::DowningDue => state.downing_due(),
                ServerEvent::PeerReportedSilent {
                    node,
                    incarnation,
                    reporter,
                } => state.reported_silent(node, incarnation, reporter),
                ServerEvent::Reachability { session, reachable } => {
                    state.reachability(&session, reachable);
                }
                ServerEvent::PeerStats(reply) => {
                    let _ = reply.send(state.peer_stats());
                }
                #[cfg(feature = "metrics")]
                ServerEvent::PublishMetrics => state.publish_metrics(),
                ServerEvent::DiscoveryRetry(addr) => state.retry_discovered(addr),
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
                            .open_session(
                                &myself,
                                stream,
                                Opening::dialed(Some(peer), Some(target)),
                            )
                            .await;
                    }
                }
                ServerEvent::Open {
                    stream,
                    target,
                    waiter,
                } => {
                    let opening = Opening {
                        waiter,
                        ..Opening::dialed(None, target)
                    };
                    state.open_session(&myself, stream, opening).await;
                }
                ServerEvent::Disconnect { peer, reply } => {
                    let known = state.disconnect(&peer);
                    let _ = reply.send(known);
                }
                ServerEvent::Redialed { peer, stream } => {
                    state.redialed(&myself, peer, stream).await;
                }
                ServerEvent::UseTlsConnector(connector) => state.tls_connector = Some(connector),
                ServerEvent::LostUnlessBack(peer) => state.lost_unless_back(peer),
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
        state.review_downing(&myself);
        Ok(())
    }
}

async fn handle_supervision(
    myself: ActorRef<NodeServerMessage>,
    event: SupervisionEvent,
    state: &mut NodeServerState,
) -> Result<(), ActorProcessingErr> {
    {
        let ended = match event {
            SupervisionEvent::ActorTerminated(cell, session, reason) => {
                // Whether the peer said it was leaving is read from the session's final state:
                // its `PeerLeaving` message may not have been handled yet.
                let peer_left = session
                    .and_then(|mut s| s.take::<NodeSessionState>().ok())
                    .is_some_and(|s| s.peer_left);
                Some((cell.get_id(), reason, peer_left))
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::warn!(session = %cell.get_id(), %err, "a session failed");
                Some((cell.get_id(), Some(err.to_string()), false))
            }
            _ => None,
        };
        if let Some((id, reason, peer_left)) = ended {
            // Why, as the session said; a session stopped by this server says nothing.
            let end = state
                .sessions
                .get(&id)
                .and_then(|entry| entry.end.take())
                .unwrap_or_else(|| {
                    SessionEnd::EndedHere(
                        reason
                            .clone()
                            .unwrap_or_else(|| "the session stopped".into()),
                    )
                });
            state.notify(|s, i| s.node_session_disconnected(i), &id);
            state.notify(|s, i| s.node_session_ended(i, &end), &id);
            if peer_left {
                state.peer_leaving(&id);
            }
            #[cfg(feature = "metrics")]
            if let Some(entry) = state.sessions.get_mut(&id) {
                if let Some(metrics) = entry.metrics.take() {
                    metrics.ended(&entry.stats);
                }
            }
            if let Some(entry) = state.sessions.remove(&id) {
                if entry.status == SessionStatus::Authenticated {
                    if let Some(peer) = &entry.info.peer_name {
                        state
                            .established
                            .left(id, &peer.name, entry.listed_addresses());
                    }
                }
                if let Some(reconciler) = state.reconciler.as_mut() {
                    reconciler.session_ended(&id, entry.status != SessionStatus::Opened);
                }
                if entry.status == SessionStatus::Authenticated {
                    if let Some(peer) = &entry.info.peer_name {
                        // With a downing policy, a peer lost against this node's will is
                        // unreachable until the policy downs it.
                        let until_downed = state.downing.is_some() && !entry.deliberate;
                        let lost = (peer.name.clone(), reason.clone(), until_downed);
                        state.session_lost(&myself, lost, &end);
                        if matches!(end, SessionEnd::PeerSilent(_)) {
                            state.report_silent(&peer.name, entry.incarnation, entry.hidden);
                        }
                    }
                    state.update_watches();
                }
                state.session_ended(&myself, entry, &end);
            }
            state.retry_deferred_admissions();
            state.dial_due();
        }
        state.review_downing(&myself);
        Ok(())
    }
}
