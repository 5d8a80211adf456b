//! What a node's sessions learn of this process's own actors: one subscriber per node to ractor's
//! pid registry and process-group events, which keeps only the changes a peer must hear of and
//! hands each one to every session as one shared value.
//!
//! Why one subscriber and not one per session: ractor tells every listener of every change,
//! including the joins of the proxies of remote actors to process groups and the spawns of
//! sessions themselves. While a cluster of N nodes forms, each node sees N − 1 remote group
//! members join and N sessions start; with every session listening, each of those woke all N
//! sessions only for them to find nothing local in it: N² wake-ups per node, N³ in the cluster
//! (and ractor cloned the change for each listener under its group lock). Here each change costs
//! one event to this actor; only a change of a local actor that supports remoting goes on, once
//! per session.
//!
//! The subscriber also keeps what a session's initial sync announces: the local actors that
//! support remoting, and their groups. It scans ractor's registry and groups once, when it starts,
//! and follows their changes from then on. A session used to scan them itself, and the registry
//! holds every session of the node: each of the N − 1 sessions of a forming node went through N
//! actors, N² per node (2 % of a 128-node cluster's CPU while forming, `perf`).
//!
//! Order: a session subscribes and takes that snapshot under one lock, the same lock under which
//! the subscriber applies a change to the snapshot and hands it to the sessions. So each change is
//! either in the session's snapshot or handed to it afterwards (or both, for a change the
//! subscriber had not yet heard of when it scanned: announcing is idempotent). Changes reach each
//! session in the order ractor reported them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ractor::pg::{self, GroupChangeMessage};
use ractor::registry::{pid_registry, PidLifecycleEvent};
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, GroupName, ScopeName, SupervisionEvent,
};

/// A change of this process's actors that a node's sessions may tell their peers about.
#[derive(Debug)]
pub(crate) enum LocalChange {
    /// A local actor that supports remoting started (and the node's announce mode names it).
    Spawned(ActorCell),
    /// A local actor that supports remoting ended.
    Terminated(ActorCell),
    /// Local actors that support remoting joined a group.
    Joined(ScopeName, GroupName, Vec<ActorCell>),
    /// Local actors left a group.
    Left(ScopeName, GroupName, Vec<ActorCell>),
}

/// How a session is handed a change: `false` once it can take no more (it has stopped).
pub(crate) type Deliver = Box<dyn Fn(Arc<LocalChange>) -> bool + Send + Sync>;

/// The sessions of one node that hear of local changes, shared by the node's subscriber actor
/// and its sessions (through the node's configuration).
#[derive(Default)]
pub(crate) struct LocalSubscribers {
    inner: Mutex<Subscribed>,
}

#[derive(Default)]
struct Subscribed {
    sessions: HashMap<ActorId, Deliver>,
    /// What an initial sync announces; `None` until the subscriber has scanned.
    actors: Option<LocalActors>,
}

/// The local actors that support remoting, and the groups they are in.
#[derive(Default)]
struct LocalActors {
    remotable: HashMap<ActorId, ActorCell>,
    groups: HashMap<(ScopeName, GroupName), HashMap<ActorId, ActorCell>>,
}

impl LocalActors {
    fn snapshot(&self) -> LocalSnapshot {
        LocalSnapshot {
            actors: self.remotable.values().cloned().collect(),
            groups: self
                .groups
                .iter()
                .map(|((scope, group), members)| {
                    (
                        scope.clone(),
                        group.clone(),
                        members.values().cloned().collect(),
                    )
                })
                .collect(),
        }
    }

    /// Follows one of ractor's changes.
    fn apply(&mut self, event: &SupervisionEvent) {
        match event {
            SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Spawn(cell))
                if is_remotable_local(cell) =>
            {
                self.remotable.insert(cell.get_id(), cell.clone());
            }
            SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Terminate(cell)) => {
                let id = cell.get_id();
                self.remotable.remove(&id);
                // ractor takes an ended actor out of its groups and says so; this is in case.
                self.groups.retain(|_, members| {
                    members.remove(&id);
                    !members.is_empty()
                });
            }
            SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Join(
                scope,
                group,
                cells,
            )) => {
                let local = cells.iter().filter(|cell| is_remotable_local(cell));
                let mut local = local.peekable();
                if local.peek().is_some() {
                    let members = self
                        .groups
                        .entry((scope.clone(), group.clone()))
                        .or_default();
                    members.extend(local.map(|cell| (cell.get_id(), cell.clone())));
                }
            }
            SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Leave(
                scope,
                group,
                cells,
            )) => {
                let key = (scope.clone(), group.clone());
                if let Some(members) = self.groups.get_mut(&key) {
                    for cell in cells {
                        members.remove(&cell.get_id());
                    }
                    if members.is_empty() {
                        self.groups.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }
}

/// What a session's initial sync announces: the local actors that support remoting, and each
/// group's local members.
pub(crate) struct LocalSnapshot {
    pub(crate) actors: Vec<ActorCell>,
    pub(crate) groups: Vec<(ScopeName, GroupName, Vec<ActorCell>)>,
}

impl LocalSnapshot {
    /// Scans ractor's registry and groups, in proportion to every local actor (sessions
    /// included) and every group member (proxies included).
    pub(crate) fn scan() -> Self {
        SCANS.fetch_add(1, Ordering::Relaxed);
        let groups = pg::which_scopes_and_groups()
            .into_iter()
            .filter_map(|key| {
                let (scope, group) = (key.get_scope(), key.get_group());
                let members: Vec<ActorCell> = pg::get_scoped_local_members(&scope, &group)
                    .into_iter()
                    .filter(is_remotable_local)
                    .collect();
                (!members.is_empty()).then_some((scope, group, members))
            })
            .collect();
        let actors = pid_registry::get_all_pids()
            .into_iter()
            .filter(is_remotable_local)
            .collect();
        Self { actors, groups }
    }
}

/// Scans of ractor's registry and groups in this process (see [`LocalSnapshot::scan`]).
static SCANS: AtomicU64 = AtomicU64::new(0);

/// Scans of every local actor and group member made in this process so far: one per node as it
/// starts, and none per session. Not a stable API: for tests of what a forming cluster costs.
#[doc(hidden)]
pub fn local_actor_scans() -> u64 {
    SCANS.load(Ordering::Relaxed)
}

/// Changes handed to sessions in this process, one per session per change.
static DELIVERED: AtomicU64 = AtomicU64::new(0);

/// Changes of this process's actors handed to sessions so far, counted once per session that was
/// handed one: what sessions were woken for. Not a stable API: for tests and benchmarks of what a
/// forming cluster costs.
#[doc(hidden)]
pub fn local_changes_delivered() -> u64 {
    DELIVERED.load(Ordering::Relaxed)
}

impl std::fmt::Debug for LocalSubscribers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSubscribers")
            .field("sessions", &self.lock().sessions.len())
            .finish_non_exhaustive()
    }
}

impl LocalSubscribers {
    fn lock(&self) -> MutexGuard<'_, Subscribed> {
        // Maps of handles and cells, each update of them whole: none can be left half done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, `session` hears of every change through `deliver`; returned with it, what
    /// the local actors and groups were before those changes (scanned, if the subscriber has not
    /// yet).
    pub(crate) fn subscribe(&self, session: ActorId, deliver: Deliver) -> LocalSnapshot {
        let mut inner = self.lock();
        inner.sessions.insert(session, deliver);
        match &inner.actors {
            Some(actors) => actors.snapshot(),
            // Scanned after subscribing: a change in between arrives twice, which is harmless.
            None => LocalSnapshot::scan(),
        }
    }

    /// `session` hears of nothing more.
    pub(crate) fn unsubscribe(&self, session: ActorId) {
        self.lock().sessions.remove(&session);
    }

    /// The subscriber has started listening: from a scan made now on, it keeps the snapshot.
    fn start_keeping(&self) {
        let scanned = LocalSnapshot::scan();
        let mut actors = LocalActors::default();
        for cell in scanned.actors {
            actors.remotable.insert(cell.get_id(), cell);
        }
        for (scope, group, members) in scanned.groups {
            let members = members.into_iter().map(|cell| (cell.get_id(), cell));
            actors.groups.insert((scope, group), members.collect());
        }
        self.lock().actors = Some(actors);
    }

    /// Follows `event` in the snapshot and hands what the sessions must hear of it to every
    /// session, as one shared value.
    fn apply(&self, event: SupervisionEvent, spawns: Spawns) {
        let mut inner = self.lock();
        if let Some(actors) = &mut inner.actors {
            actors.apply(&event);
        }
        let Some(change) = relevant(event, spawns) else {
            return;
        };
        let change = Arc::new(change);
        // A session that stopped without unsubscribing (killed) is forgotten here.
        inner
            .sessions
            .retain(|_, deliver| deliver(Arc::clone(&change)));
        DELIVERED.fetch_add(inner.sessions.len() as u64, Ordering::Relaxed);
    }
}

/// Whether `cell` is an actor of this process whose messages can cross the wire. (Sessions look
/// closer: a name forwarder also supports remoting, but stands for a remote actor.)
fn is_remotable_local(cell: &ActorCell) -> bool {
    cell.get_id().is_local() && cell.supports_remoting()
}

/// Which spawns the sessions hear of (the node's announce mode says which they announce).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Spawns {
    All,
    Named,
    None,
}

/// What of a change ractor reported the sessions must hear of, if anything.
fn relevant(event: SupervisionEvent, spawns: Spawns) -> Option<LocalChange> {
    match event {
        SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Spawn(cell)) => {
            let announced = match spawns {
                Spawns::All => true,
                Spawns::Named => cell.get_name().is_some(),
                Spawns::None => false,
            };
            (announced && is_remotable_local(&cell)).then_some(LocalChange::Spawned(cell))
        }
        SupervisionEvent::PidLifecycleEvent(PidLifecycleEvent::Terminate(cell)) => {
            // An actor announced on demand or as a group member ends too: any remotable one.
            is_remotable_local(&cell).then_some(LocalChange::Terminated(cell))
        }
        SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Join(scope, group, cells)) => {
            let cells: Vec<ActorCell> = cells.into_iter().filter(is_remotable_local).collect();
            (!cells.is_empty()).then_some(LocalChange::Joined(scope, group, cells))
        }
        SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Leave(scope, group, cells)) => {
            let cells: Vec<ActorCell> = cells
                .into_iter()
                .filter(|cell| cell.get_id().is_local())
                .collect();
            (!cells.is_empty()).then_some(LocalChange::Left(scope, group, cells))
        }
        _ => None,
    }
}

/// The subscriber: an actor of the node server's, listening to ractor's pid registry and to every
/// process group of every scope.
pub(crate) struct LocalEvents;

/// The subscriber takes no message, only ractor's events. A type of its own (not `()`, which
/// ractor can serialize) so that the subscriber does not support remoting and is not announced.
#[derive(Debug)]
pub(crate) enum LocalEventsMessage {}

impl ractor::Message for LocalEventsMessage {}

/// What the subscriber is started with.
pub(crate) struct LocalEventsArgs {
    pub(crate) subscribers: Arc<LocalSubscribers>,
    pub(crate) spawns: Spawns,
}

/// The subscriber's state; unsubscribes from ractor however the actor ends (even killed).
pub(crate) struct LocalEventsState {
    myself: ActorId,
    subscribers: Arc<LocalSubscribers>,
    spawns: Spawns,
}

impl Drop for LocalEventsState {
    fn drop(&mut self) {
        pid_registry::demonitor(self.myself);
        pg::demonitor_scope(pg::ALL_SCOPES_NOTIFICATION.to_owned(), self.myself);
    }
}

impl Actor for LocalEvents {
    type Msg = LocalEventsMessage;
    type State = LocalEventsState;
    type Arguments = LocalEventsArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<LocalEventsMessage>,
        args: LocalEventsArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        pid_registry::monitor(myself.get_cell());
        pg::monitor_scope(pg::ALL_SCOPES_NOTIFICATION.to_owned(), myself.get_cell());
        // Listening first, scanning second: a change in between is in the scan and is then
        // applied again, which changes nothing.
        args.subscribers.start_keeping();
        Ok(LocalEventsState {
            myself: myself.get_id(),
            subscribers: args.subscribers,
            spawns: args.spawns,
        })
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<LocalEventsMessage>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.subscribers.apply(event, state.spawns);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{unique, within, IdleRemotable};

    /// The snapshot a session subscribing now would be given.
    fn snapshot_of(subscribers: &LocalSubscribers) -> LocalSnapshot {
        let id = ActorId::Local(u64::MAX);
        let snapshot = subscribers.subscribe(id, Box::new(|_| true));
        subscribers.unsubscribe(id);
        snapshot
    }

    fn has_actor(snapshot: &LocalSnapshot, id: ActorId) -> bool {
        snapshot.actors.iter().any(|cell| cell.get_id() == id)
    }

    fn in_group(snapshot: &LocalSnapshot, group: &str, id: ActorId) -> bool {
        snapshot
            .groups
            .iter()
            .any(|(_, g, members)| g == group && members.iter().any(|cell| cell.get_id() == id))
    }

    async fn until(
        subscribers: &LocalSubscribers,
        what: &str,
        test: impl Fn(&LocalSnapshot) -> bool,
    ) {
        within(what, async {
            while !test(&snapshot_of(subscribers)) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    #[tokio::test]
    async fn the_snapshot_follows_local_actors_and_their_groups() {
        let before_start = Actor::spawn(None, IdleRemotable, ()).await.unwrap().0;
        let subscribers = Arc::new(LocalSubscribers::default());
        let (events, _) = Actor::spawn(
            None,
            LocalEvents,
            LocalEventsArgs {
                subscribers: Arc::clone(&subscribers),
                spawns: Spawns::All,
            },
        )
        .await
        .unwrap();
        // Scanned once, when the subscriber started: an actor from before is in it.
        assert!(has_actor(&snapshot_of(&subscribers), before_start.get_id()));

        let group = unique("snapshot-group");
        let after = Actor::spawn(None, IdleRemotable, ()).await.unwrap().0;
        pg::join(group.clone(), vec![after.get_cell()]);
        until(&subscribers, "the later actor and its group", |s| {
            has_actor(s, after.get_id()) && in_group(s, &group, after.get_id())
        })
        .await;

        pg::leave(group.clone(), vec![after.get_cell()]);
        until(&subscribers, "the later actor out of its group", |s| {
            !in_group(s, &group, after.get_id())
        })
        .await;

        pg::join(group.clone(), vec![after.get_cell()]);
        after.stop_and_wait(None, None).await.unwrap();
        before_start.stop_and_wait(None, None).await.unwrap();
        until(&subscribers, "the ended actors gone from it", |s| {
            !has_actor(s, after.get_id())
                && !has_actor(s, before_start.get_id())
                && !in_group(s, &group, after.get_id())
        })
        .await;
        events.stop_and_wait(None, None).await.unwrap();
    }
}
