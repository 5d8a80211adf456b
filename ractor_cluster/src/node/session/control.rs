//! What the peer tells this node: its control messages (its actors, their ends, its process
//! groups, its peers), and the proxies that stand for its actors here.

use std::collections::HashMap;

use ractor::pg;
use ractor::{ActorCell, ActorId, ActorProcessingErr, ActorRef};

use super::message::NodeSessionMessage;
use super::sync::is_remotable_local;
use super::NodeSessionState;
use crate::error::SessionEnd;
use crate::node::config::NodeConnectionMode;
use crate::node::exit::{NODE_LOST, NO_SUCH_ACTOR, PROXY_LIMIT};
use crate::node::references::FoundProxy;
use crate::node::server::message::{NodeServerMessage, ServerEvent};
use crate::node::{names, quota, references, spawn};
use crate::protocol::limits::{MAX_PEERS_KNOWN, MAX_WANTED_PIDS};
use crate::protocol::message::ControlMessage;
use crate::remote_actor::{end_proxy, ProxyExit, RemoteActorMessage};

impl NodeSessionState {
    /// Acts on a control message from the peer. It never waits: as an `async fn` (it was one,
    /// with nothing to await) its future sat in the session actor's handler future, which
    /// ractor lays out again in each of its layers of the session's boxed loop.
    pub(super) fn on_control(
        &mut self,
        myself: &ActorRef<NodeSessionMessage>,
        control: ControlMessage,
    ) -> Result<(), ActorProcessingErr> {
        let Some(live) = &mut self.live else {
            return Ok(());
        };
        match control {
            // Probes are answered and timed by the reader task; none reach the session.
            ControlMessage::Heartbeat
            | ControlMessage::Probe(_)
            | ControlMessage::ProbeAnswer(_) => {}
            ControlMessage::Watching(watched) => self.watch.set_watched(watched),
            // Kept for the server, which reads it when the session is ready (`check_ready`);
            // a later one replaces it.
            ControlMessage::DiscoveryView(view) => live.peer_view = Some(view),
            ControlMessage::PeerSilent { node, incarnation } => {
                let _ = self.server.cast(NodeServerMessage::internal(
                    ServerEvent::PeerReportedSilent {
                        node,
                        incarnation,
                        reporter: live.peer_name.clone(),
                    },
                ));
            }
            ControlMessage::ActorsSpawned(mut actors) => {
                if live.detached {
                    // Across a hidden node's session, only the answers to this node's own
                    // questions (`ActorsWanted`, for the proxies references made) are taken.
                    let node = live.peer_node_id;
                    actors.retain(|a| references::proxy_of(node, a.pid).is_some());
                }
                // Only a node that puts remote names in ractor's registry needs them (see `names`).
                let named: Vec<String> = if self.config.remote_names_in_registry && !live.detached {
                    actors.iter().filter_map(|a| a.name.clone()).collect()
                } else {
                    Vec::new()
                };
                for actor in actors {
                    if live.proxies.contains_key(&actor.pid) {
                        continue;
                    }
                    match references::announced_proxy(
                        live.peer_node_id,
                        actor.pid,
                        &live.link,
                        actor.name.as_deref(),
                    ) {
                        // Started by a reference meanwhile (its `Adopt` is on the way), or by
                        // another node of this process linked to the same peer: one proxy
                        // stands for the actor in the process.
                        Ok(FoundProxy::Running(existing)) => {
                            live.keep_proxy(actor.pid, existing.into());
                        }
                        Ok(FoundProxy::Started(proxy)) => live.keep_proxy(actor.pid, proxy),
                        Err(PROXY_LIMIT) => {
                            // The session stays up; the actor is unreachable from here until
                            // the peer's other actors make room (README, "Failure model").
                            if !live.proxy_limit_logged {
                                live.proxy_limit_logged = true;
                                tracing::warn!(
                                    peer = %live.peer_name,
                                    per_peer = live.link.proxies.max(),
                                    in_total = live.link.node_proxies.max(),
                                    "the peer announces more actors than this node keeps \
                                     proxies for (with_max_proxies_per_peer, \
                                     with_max_proxies): those beyond are not reachable from here"
                                );
                            }
                        }
                        Err(reason) => tracing::warn!(
                            peer = %live.peer_name,
                            pid = actor.pid,
                            reason,
                            "cannot start a proxy for a remote actor"
                        ),
                    }
                }
                // The winner of a name may have changed.
                names::names_announced(named);
            }
            ControlMessage::NamedActorTypes(types) => {
                if self.config.remote_names_in_registry && !live.detached {
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
            ControlMessage::ActorsWanted(mut pids) => {
                // PROTOCOL.md rule L1: each pid answered once, and not too many per message, so
                // that one frame cannot make this node queue answers without bound.
                if pids.len() > MAX_WANTED_PIDS {
                    let end = SessionEnd::PeerMisbehaved(format!(
                        "the peer asked for {} actors in one message, more than {MAX_WANTED_PIDS}",
                        pids.len()
                    ));
                    self.end(myself, end);
                    return Ok(());
                }
                pids.sort_unstable();
                pids.dedup();
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
                        reason: Some(NO_SUCH_ACTOR.to_owned()),
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
                    let spawn = spawn::Serve {
                        request,
                        writer,
                        max_frame: self.config.max_frame,
                        supervisor: myself.get_cell(),
                        quota: quota::take(&live.spawns, None),
                    };
                    spawn.serve(&kind, &args);
                }
            }
            ControlMessage::SpawnReply { request, outcome } => {
                spawn::complete(live.peer_node_id, request, outcome);
            }
            // Across a hidden node's session, no one's actors join a group.
            ControlMessage::GroupJoined { .. } if live.detached => {}
            ControlMessage::GroupJoined { scope, group, pids } => {
                let cells = proxies_of(&live.proxies, &pids);
                if !cells.is_empty()
                    && live
                        .groups
                        .join(&scope, &group, &pids, &live.proxies, &live.peer_name)
                {
                    pg::join_scoped(scope, group, cells);
                }
            }
            ControlMessage::GroupLeft { scope, group, pids } => {
                let cells = proxies_of(&live.proxies, &pids);
                if !cells.is_empty() {
                    live.groups.leave(&scope, &group, &pids);
                    pg::leave_scoped(scope, group, cells);
                }
            }
            ControlMessage::PeersKnown(mut peers) => {
                if peers.len() > MAX_PEERS_KNOWN {
                    // PROTOCOL.md rule L3.
                    tracing::warn!(
                        peer = %live.peer_name,
                        named = peers.len(),
                        "the peer named more nodes in one message than are considered; the rest \
                         are ignored"
                    );
                    peers.truncate(MAX_PEERS_KNOWN);
                }
                if self.config.connection_mode == NodeConnectionMode::Transitive {
                    let _ = self
                        .server
                        .cast(NodeServerMessage::internal(ServerEvent::Dial(peers)));
                }
            }
            ControlMessage::Leaving => {
                tracing::info!(peer = %live.peer_name, "the peer is leaving the cluster");
                self.peer_left = true;
                let _ = self
                    .server
                    .cast(NodeServerMessage::internal(ServerEvent::PeerLeaving(
                        myself.get_id(),
                    )));
            }
            ControlMessage::WhereIsNode { node } => {
                if !live.where_is_rate.admit(std::time::Instant::now()) {
                    tracing::debug!(peer = %live.peer_name, node, "ignoring a where-is question over the rate");
                    return Ok(());
                }
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
                let end = SessionEnd::EndedByPeer(format!("the peer disconnected: {reason}"));
                self.end(myself, end);
            }
        }
        Ok(())
    }

    /// Keeps a proxy that a reference made on demand, and asks the peer to report its actor's end.
    pub(super) fn adopt(&mut self, pid: u64, proxy: ActorRef<RemoteActorMessage>) {
        let Some(live) = &mut self.live else {
            proxy.stop(Some(NODE_LOST.to_owned()));
            return;
        };
        if live
            .proxies
            .get(&pid)
            .is_some_and(|kept| references::is_running(&kept.get_cell()))
        {
            return;
        }
        live.keep_proxy(pid, proxy);
        if live.minor >= 1 {
            self.send_control(ControlMessage::ActorsWanted(vec![pid]));
        }
    }
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

pub(super) fn forget_proxy(state: &mut NodeSessionState, cell: &ActorCell) {
    references::proxy_down(cell);
    if let Some(live) = &mut state.live {
        let pid = cell.get_id().pid();
        // Proxies of one actor share its id: the end of an earlier one (of a session that ended)
        // must not take the running one out.
        if live
            .proxies
            .get(&pid)
            .is_some_and(|p| p.get_id() == cell.get_id() && !references::is_running(&p.get_cell()))
        {
            live.proxies.remove(&pid);
        }
    }
}
