//! What the peer learns about this node: the initial sync of local actors and process groups, and
//! their changes afterwards.

use std::sync::Arc;

use ractor::pg::GroupChangeMessage;
use ractor::{ActorCell, ActorRef};

use super::message::{NodeSessionMessage, SessionEvent};
use super::NodeSessionState;
use crate::node::config::Announce;
use crate::node::local_events::{LocalChange, LocalSnapshot};
use crate::node::names;
use crate::node::server::message::{NodeServerMessage, ServerEvent};
use crate::protocol::listed::DISCOVERY_VIEW_MINOR;
use crate::protocol::message::{ActorAnnouncement, ControlMessage};
use crate::remote_actor::ProxyExit;

impl NodeSessionState {
    /// Announces the local actors in `cells` that the node's [`Announce`] mode lets it announce
    /// unasked (group members are announced whatever the mode, when they join).
    pub(super) fn announce_by_mode(&mut self, cells: &[ActorCell]) {
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
    pub(super) fn announce(&mut self, cells: &[ActorCell]) {
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

    pub(super) fn group_change(&mut self, change: GroupChangeMessage) {
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

    /// A change of this process's actors, from the node's one subscriber (see `local_events`).
    pub(super) fn local_change(&mut self, change: &LocalChange) {
        match change {
            LocalChange::Spawned(cell) => self.announce_by_mode(std::slice::from_ref(cell)),
            LocalChange::Terminated(cell) => {
                let pid = cell.get_id().pid();
                // A monitored actor's end is reported by the monitor event that follows, with
                // its reason.
                let was_announced = self.live.as_mut().is_some_and(|live| {
                    !live.monitored.contains(&pid) && live.announced.remove(&pid)
                });
                if was_announced {
                    self.send_control(ControlMessage::ActorStopped { pid, reason: None });
                }
            }
            LocalChange::Joined(scope, group, cells) => self.group_change(
                GroupChangeMessage::Join(scope.clone(), group.clone(), cells.clone()),
            ),
            LocalChange::Left(scope, group, cells) => self.group_change(GroupChangeMessage::Leave(
                scope.clone(),
                group.clone(),
                cells.clone(),
            )),
        }
    }

    /// Sends everything the peer needs to know now, and starts following changes.
    ///
    /// With a hidden peer, or as a hidden node, there is nothing to send but the end of it, and no
    /// change to follow: only actors the peer asks for (references) are announced to it.
    pub(super) fn initial_sync(&mut self, myself: &ActorRef<NodeSessionMessage>) {
        if !self.live.as_ref().is_some_and(|live| live.detached) {
            // Subscribed together with the snapshot of the local actors and groups (see
            // `local_events`): whatever changes after it arrives as an event.
            let session = myself.clone();
            let LocalSnapshot { actors, groups } = self.config.local_subscribers.subscribe(
                myself.get_id(),
                Box::new(move |change: Arc<LocalChange>| {
                    let event = NodeSessionMessage::internal(SessionEvent::Local(change));
                    session.cast(event).is_ok()
                }),
            );
            self.announce_by_mode(&actors);
            for (scope, group, members) in groups {
                self.group_change(GroupChangeMessage::Join(scope, group, members));
            }
        }
        // Before `InitialSyncDone`, so that the peer knows it when the session is ready there and
        // it tells this node about its other peers (2.10).
        let view = self.config.listed.get();
        if let Some(view) = view.filter(|_| {
            self.live
                .as_ref()
                .is_some_and(|l| l.minor >= DISCOVERY_VIEW_MINOR)
        }) {
            self.send_control(ControlMessage::DiscoveryView(view));
        }
        self.send_control(ControlMessage::InitialSyncDone);
        if let Some(live) = &mut self.live {
            live.synced_here = true;
        }
        self.check_ready(myself);
    }

    pub(super) fn check_ready(&mut self, myself: &ActorRef<NodeSessionMessage>) {
        let Some(live) = &mut self.live else { return };
        if live.synced_here && live.synced_there && !live.ready {
            live.ready = true;
            let _ = self
                .server
                .cast(NodeServerMessage::internal(ServerEvent::Ready {
                    session: myself.get_id(),
                    peer_view: live.peer_view,
                }));
        }
    }

    /// A monitored local actor ended: the peer learns how.
    pub(super) fn local_ended(&mut self, cell: &ActorCell, exit: ProxyExit) {
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
}

pub(super) fn is_remotable_local(cell: &ActorCell) -> bool {
    // A name forwarder stands for a remote actor: it is never announced (see `names`).
    cell.get_id().is_local() && cell.supports_remoting() && !names::is_forwarder(cell)
}
