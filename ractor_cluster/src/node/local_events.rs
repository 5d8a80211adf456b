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
//! Order: a session subscribes (a shared list, at once) before it scans the local actors and
//! groups for its initial sync, so a change made after the scan reaches it, and one made between
//! the subscription and the scan reaches it twice, which is harmless (announcing is idempotent).
//! Changes reach each session in the order ractor reported them.

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
    sessions: Mutex<HashMap<ActorId, Deliver>>,
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
            .field("sessions", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl LocalSubscribers {
    fn lock(&self) -> MutexGuard<'_, HashMap<ActorId, Deliver>> {
        // A map of handles: no update of it can leave it half done.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, `session` hears of every change through `deliver` (call before scanning the
    /// local actors).
    pub(crate) fn subscribe(&self, session: ActorId, deliver: Deliver) {
        self.lock().insert(session, deliver);
    }

    /// `session` hears of nothing more.
    pub(crate) fn unsubscribe(&self, session: ActorId) {
        self.lock().remove(&session);
    }

    /// Hands `change` to every session, as one shared value.
    fn fan_out(&self, change: LocalChange) {
        let change = Arc::new(change);
        let mut sessions = self.lock();
        // A session that stopped without unsubscribing (killed) is forgotten here.
        sessions.retain(|_, deliver| deliver(Arc::clone(&change)));
        DELIVERED.fetch_add(sessions.len() as u64, Ordering::Relaxed);
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
        if let Some(change) = relevant(event, state.spawns) {
            state.subscribers.fan_out(change);
        }
        Ok(())
    }
}
