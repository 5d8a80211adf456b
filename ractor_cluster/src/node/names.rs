//! Remote named actors in ractor's own name registry, through *name forwarders*.
//!
//! Only on a node built with
//! [`with_remote_names_in_registry(true)`](super::NodeServer::with_remote_names_in_registry): the
//! sessions of other nodes never tell the name keeper anything.
//!
//! ractor's registry accepts local actors only, so a remote actor cannot be registered there
//! itself. Instead, when a peer announces a named actor whose message type is registered on both
//! nodes, this node spawns a local stand-in under the same name: a [`NameForwarder`], whose
//! message type is the remote actor's. `ractor::registry::where_is(name)` then finds it, and
//! everything sent to it goes on to the remote actor's proxy (casts and calls alike: the proxy
//! serializes them, a call's reply port travels as a ticket).
//!
//! # Which message types
//! A message type is *registered* when it derives `RactorClusterMessage` and is not generic (the
//! derive registers it under `module_path::TypeName`), or through [`register_message_type`]. A
//! session tells a peer of protocol 1.2 or later the type of each named actor it announces whose
//! type is registered (`NamedActorTypes`); a type name the receiver has not registered is ignored,
//! and that name stays reachable through [`where_is`] only.
//!
//! # Which actor
//! A name has a forwarder while all of these hold:
//! * the winner of the name among the remote actors is the actor the forwarder stands for: the
//!   rule of [`where_is`], the announcing node with the smallest node id;
//! * its message type is registered here;
//! * no local actor holds the name in ractor's registry. A local actor always wins on its own
//!   node: when it stops, a forwarder takes the name. While a forwarder holds a name, spawning a
//!   local actor under it fails with `SpawnErr::ActorAlreadyRegistered`, as for any taken name.
//!
//! # How a forwarder ends
//! It monitors the proxy it forwards to and ends as it does: it stops with the same reason (the
//! actor's own exit reason, or [`NODE_LOST`](super::NODE_LOST)) or fails with the same error text,
//! so monitoring the forwarder is monitoring the remote actor. When the winner of the name changes
//! while the remote actor still runs (a node with a smaller id announced the same name), the
//! forwarder stops with [`NAME_MOVED`] and a new one takes the name once the old one has stopped.
//!
//! A forwarder is never announced to peers, and a reference to it (an `ActorRef` in a message)
//! travels as a reference to the remote actor it stands for.
//!
//! All decisions are taken by one process-wide actor, the *name keeper*, which supervises the
//! forwarders and monitors the proxies and local actors that decide who holds a name; it acts on
//! their supervision events, never by polling.

use std::any::TypeId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorRuntime, ActorStatus, Message,
    SpawnErr, SupervisionEvent,
};

use super::exit::NAME_MOVED;
use super::references::{self, is_running};
use super::NodeId;
use crate::protocol::message::{ActorAnnouncement, NamedActorType};

/// How long the keeper waits before it looks again at a name whose local holder was stopping
/// when it looked (ractor removes the name a moment later).
const STOPPING_HOLDER_RETRY: Duration = Duration::from_millis(20);

/// How many ended forwarders are still recognised as forwarders, for sessions that learn of their
/// spawn late (see [`is_forwarder`]).
const RETIRED_KEPT: usize = 256;

// ---------------------------------------------------------------------------------------------
// The message type registry

/// Spawns a [`NameForwarder`] for one message type: `(name, proxy, supervisor)`.
type SpawnForwarder = fn(String, ActorCell, ActorCell) -> ForwarderSpawn;

/// A forwarder being spawned: its cell once its `pre_start` has run.
type ForwarderSpawn = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;

/// A message type registered for name forwarding. Built by the derive's output (through
/// `ractor_cluster::__private`) and by [`register_message_type`].
#[doc(hidden)]
pub struct MessageType {
    name: &'static str,
    type_id: fn() -> TypeId,
    spawn: SpawnForwarder,
    /// Decodes a message of this type and sends it to an actor as a local one.
    #[cfg(feature = "trace-context")]
    deliver: crate::trace::DeliverDecoded,
}

impl MessageType {
    /// The entry of `M`, known on the wire as `name`.
    pub const fn new<M: Message>(name: &'static str) -> Self {
        Self {
            name,
            type_id: type_id_of::<M>,
            spawn: spawn_forwarder::<M>,
            #[cfg(feature = "trace-context")]
            deliver: crate::trace::deliver_decoded_as::<M>,
        }
    }
}

/// How a traced message reaches an actor of `cell`'s message type (`crate::trace`), if that
/// type is registered.
#[cfg(feature = "trace-context")]
pub(crate) fn typed_delivery(cell: &ActorCell) -> Option<crate::trace::DeliverDecoded> {
    let registry = read_registry();
    registry
        .by_type
        .get(&cell.get_type_id())
        .map(|entry| entry.deliver)
}

impl std::fmt::Debug for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageType")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

inventory::collect!(MessageType);

fn type_id_of<M: 'static>() -> TypeId {
    TypeId::of::<M>()
}

#[derive(Default)]
struct Registry {
    by_type: HashMap<TypeId, &'static MessageType>,
    by_name: HashMap<&'static str, &'static MessageType>,
}

impl Registry {
    /// Adds `entry` unless its type or its name is taken; the first registration wins.
    fn add(&mut self, entry: &'static MessageType) -> bool {
        let type_id = (entry.type_id)();
        if self.by_type.contains_key(&type_id) {
            return false;
        }
        if let Some(other) = self.by_name.get(entry.name) {
            tracing::warn!(
                name = entry.name,
                ?other,
                "two message types are registered under one name; the first one is kept"
            );
            return false;
        }
        self.by_type.insert(type_id, entry);
        self.by_name.insert(entry.name, entry);
        true
    }
}

fn registry() -> &'static RwLock<Registry> {
    static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
        let mut registry = Registry::default();
        for entry in inventory::iter::<MessageType> {
            registry.add(entry);
        }
        RwLock::new(registry)
    });
    &REGISTRY
}

fn read_registry() -> std::sync::RwLockReadGuard<'static, Registry> {
    registry()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers `M` for name forwarding, under the name `std::any::type_name::<M>()`: a named actor
/// of type `M` on another node becomes findable here with `ractor::registry::where_is`, provided
/// that node registered `M` too (see [`where_is`] for the conflict rule).
///
/// Non-generic `#[derive(RactorClusterMessage)]` types are registered without this call. Call it
/// for a generic message type (once per instantiation that names travel with) or a hand-written
/// `Message` impl that supports remoting, on every node, before the peers connect. The name must
/// be the same on every node, so all nodes should run the same build of the type. Registering a
/// type twice does nothing.
pub fn register_message_type<M: Message>() {
    let type_id = TypeId::of::<M>();
    if read_registry().by_type.contains_key(&type_id) {
        return;
    }
    let mut registry = registry()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if registry.by_type.contains_key(&type_id) {
        return;
    }
    let entry: &'static MessageType =
        Box::leak(Box::new(MessageType::new::<M>(std::any::type_name::<M>())));
    registry.add(entry);
}

/// The name under which `M` is registered for name forwarding (see [`register_message_type`]),
/// if it is.
pub fn registered_message_type<M: Message>() -> Option<&'static str> {
    read_registry()
        .by_type
        .get(&TypeId::of::<M>())
        .map(|entry| entry.name)
}

/// The types of the named actors among `announced` (just announced to a peer) whose message type
/// is registered here.
pub(crate) fn types_to_announce(
    cells: &[ActorCell],
    announced: &[ActorAnnouncement],
) -> Vec<NamedActorType> {
    let named: HashSet<u64> = announced
        .iter()
        .filter(|actor| actor.name.is_some())
        .map(|actor| actor.pid)
        .collect();
    if named.is_empty() {
        return Vec::new();
    }
    let registry = read_registry();
    cells
        .iter()
        .filter(|cell| named.contains(&cell.get_id().pid()))
        .filter_map(|cell| {
            registry
                .by_type
                .get(&cell.get_type_id())
                .map(|entry| NamedActorType {
                    pid: cell.get_id().pid(),
                    type_name: entry.name.to_owned(),
                })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The forwarders this process runs, for sessions and reference encoding

#[derive(Default)]
struct Forwarding {
    /// Names whose forwarder is being spawned (its pid is not known yet).
    spawning: HashSet<String>,
    /// Running forwarders by pid, with the proxy each forwards to.
    running: HashMap<u64, ActorCell>,
    /// Pids of forwarders that ended lately, oldest first.
    retired: VecDeque<u64>,
}

fn forwarding() -> MutexGuard<'static, Forwarding> {
    static FORWARDING: LazyLock<Mutex<Forwarding>> = LazyLock::new(Mutex::default);
    FORWARDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `cell` is a name forwarder of this process (then it is not announced to peers). A cell
/// named like a forwarder being spawned counts as one: sessions see a new actor before its spawn
/// has returned.
pub(crate) fn is_forwarder(cell: &ActorCell) -> bool {
    let ActorId::Local(pid) = cell.get_id() else {
        return false;
    };
    let Some(name) = cell.get_name() else {
        return false;
    };
    let forwarding = forwarding();
    forwarding.running.contains_key(&pid)
        || forwarding.retired.contains(&pid)
        || forwarding.spawning.contains(&name)
}

/// The proxy that the forwarder `cell` forwards to, if `cell` is a running forwarder: a reference
/// to a forwarder travels as one to the remote actor.
pub(crate) fn forwarded_to(cell: &ActorCell) -> Option<ActorCell> {
    let ActorId::Local(pid) = cell.get_id() else {
        return None;
    };
    cell.get_name()?;
    forwarding().running.get(&pid).cloned()
}

fn retire(pid: u64) {
    let mut forwarding = forwarding();
    if forwarding.running.remove(&pid).is_some() {
        forwarding.retired.push_back(pid);
        while forwarding.retired.len() > RETIRED_KEPT {
            forwarding.retired.pop_front();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The forwarder

/// A local stand-in for a remote named actor; see the module docs.
struct NameForwarder<M>(PhantomData<fn() -> M>);

fn spawn_forwarder<M: Message>(
    name: String,
    proxy: ActorCell,
    supervisor: ActorCell,
) -> ForwarderSpawn {
    Box::pin(async move {
        Actor::spawn_linked(
            Some(name),
            NameForwarder::<M>(PhantomData),
            proxy,
            supervisor,
        )
        .await
        .map(|(forwarder, _)| forwarder.get_cell())
    })
}

impl<M: Message> Actor for NameForwarder<M> {
    type Msg = M;
    type State = ActorRef<M>;
    type Arguments = ActorCell;

    async fn pre_start(
        &self,
        myself: ActorRef<M>,
        proxy: ActorCell,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Monitor first, look second: a proxy that had not begun to stop then reports its end.
        myself.get_cell().monitor(proxy.clone());
        if proxy.get_status() >= ActorStatus::Stopping {
            return Err(format!("the proxy of {} has stopped", proxy.get_id()).into());
        }
        forwarding()
            .running
            .insert(myself.get_id().pid(), proxy.clone());
        Ok(ActorRef::from(proxy))
    }

    async fn post_stop(
        &self,
        myself: ActorRef<M>,
        _: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        retire(myself.get_id().pid());
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<M>,
        message: M,
        proxy: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Serialized here (the proxy's id is remote); a call's reply port rides along as a ticket.
        if proxy.send_message(message).is_err() {
            // The proxy is ending, and so will this forwarder. A call was filed under a ticket
            // as it was serialized: its caller learns at once that no reply will come.
            tracing::debug!(proxy = %proxy.get_id(), "a name forwarder's proxy is gone");
            crate::call::fail_orphaned_calls();
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<M>,
        event: SupervisionEvent,
        proxy: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason)
                if cell.get_id() == proxy.get_id() =>
            {
                myself.stop(reason);
            }
            SupervisionEvent::ActorFailed(cell, error) if cell.get_id() == proxy.get_id() => {
                return Err(error.to_string().into());
            }
            _ => {}
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The name keeper

/// What the keeper is told.
enum KeeperMessage {
    /// A peer (`node`) told the types of some of its named actors.
    Types(NodeId, Vec<(u64, &'static MessageType)>),
    /// Who holds these names may have changed: look again.
    Evaluate(Vec<String>),
}

impl Message for KeeperMessage {}

/// A remote named actor whose type is known, by the id of its proxy.
struct Typed {
    proxy: ActorCell,
    name: String,
    entry: &'static MessageType,
}

/// A running forwarder, by its name.
struct Current {
    forwarder: ActorCell,
    proxy: ActorCell,
}

#[derive(Default)]
struct KeeperState {
    typed: HashMap<ActorId, Typed>,
    forwarders: HashMap<String, Current>,
    /// Local actors that hold a name a forwarder would take, monitored so that it can take it
    /// once they stop.
    holders: HashMap<ActorId, String>,
    /// Proxies of winners whose type is not known here, monitored so that the next winner of
    /// their name can get a forwarder once they stop.
    watched: HashMap<ActorId, String>,
}

struct NameKeeper;

impl Actor for NameKeeper {
    type Msg = KeeperMessage;
    type State = KeeperState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<KeeperMessage>,
        (): (),
    ) -> Result<KeeperState, ActorProcessingErr> {
        Ok(KeeperState::default())
    }

    async fn handle(
        &self,
        myself: ActorRef<KeeperMessage>,
        message: KeeperMessage,
        state: &mut KeeperState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            KeeperMessage::Types(node, types) => {
                let entries: HashMap<u64, &'static MessageType> = types.into_iter().collect();
                let pids = entries.keys().copied().collect();
                let mut names = Vec::new();
                for (proxy, name) in references::named_proxies_of(node, &pids) {
                    let Some(&entry) = entries.get(&proxy.get_id().pid()) else {
                        continue;
                    };
                    myself.get_cell().monitor(proxy.clone());
                    state.typed.insert(
                        proxy.get_id(),
                        Typed {
                            proxy,
                            name: name.clone(),
                            entry,
                        },
                    );
                    names.push(name);
                }
                for name in names {
                    state.evaluate(&myself, &name).await;
                }
            }
            KeeperMessage::Evaluate(names) => {
                for name in names {
                    state.evaluate(&myself, &name).await;
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<KeeperMessage>,
        event: SupervisionEvent,
        state: &mut KeeperState,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match event {
            SupervisionEvent::ActorTerminated(cell, _, _)
            | SupervisionEvent::ActorFailed(cell, _) => cell,
            _ => return Ok(()),
        };
        let id = cell.get_id();
        let mut names = Vec::new();
        if id.is_local() {
            retire(id.pid());
            let ended = state
                .forwarders
                .iter()
                .find(|(_, current)| current.forwarder.get_id() == id)
                .map(|(name, _)| name.clone());
            if let Some(name) = ended {
                state.forwarders.remove(&name);
                names.push(name);
            }
            if let Some(name) = state.holders.remove(&id) {
                names.push(name);
            }
        } else {
            if let Some(typed) = state.typed.get(&id) {
                // A newer proxy of the same actor (after a reconnection) keeps its entry.
                if typed.proxy.get_status() >= ActorStatus::Draining {
                    names.push(typed.name.clone());
                    state.typed.remove(&id);
                }
            }
            if let Some(name) = state.watched.remove(&id) {
                names.push(name);
            }
        }
        for name in names {
            state.evaluate(&myself, &name).await;
        }
        Ok(())
    }
}

impl KeeperState {
    /// Brings the forwarder of `name` in line with the rule in the module docs, one step at a
    /// time: a forwarder that must go is stopped, and its end (a supervision event) brings the
    /// next step.
    async fn evaluate(&mut self, myself: &ActorRef<KeeperMessage>, name: &str) {
        let winner = references::remote_winner(name);
        let wanted = winner.as_ref().and_then(|winner| {
            self.typed
                .get(&winner.get_id())
                .filter(|typed| is_running(&typed.proxy) && typed.name == name)
                .map(|typed| (typed.proxy.clone(), typed.entry))
        });
        if let (Some(winner), None) = (winner, &wanted) {
            // No forwarder for it (its type is unknown here, or not yet): when it stops, the next
            // winner may get one.
            if let std::collections::hash_map::Entry::Vacant(vacant) =
                self.watched.entry(winner.get_id())
            {
                // Monitor first, look second, as for proxies.
                myself.get_cell().monitor(winner.clone());
                if winner.get_status() >= ActorStatus::Stopping {
                    // No longer the winner the next time round.
                    let _ = myself.cast(KeeperMessage::Evaluate(vec![name.to_owned()]));
                } else {
                    vacant.insert(name.to_owned());
                }
            }
        }
        if let Some(current) = self.forwarders.get(name) {
            let keep = wanted
                .as_ref()
                .is_some_and(|(proxy, _)| proxy.get_id() == current.proxy.get_id())
                && is_running(&current.proxy);
            // A forwarder whose proxy is ending ends by itself, with the actor's exit reason.
            if !keep
                && is_running(&current.proxy)
                && current.forwarder.get_status() < ActorStatus::Stopping
            {
                current.forwarder.stop(Some(NAME_MOVED.to_owned()));
            }
            return;
        }
        let Some((proxy, entry)) = wanted else {
            return;
        };
        if let Some(holder) = ractor::registry::where_is(name) {
            if self.holders.contains_key(&holder.get_id()) {
                return;
            }
            // Monitor first, look second, as for proxies.
            myself.get_cell().monitor(holder.clone());
            if holder.get_status() >= ActorStatus::Stopping {
                // Its end may have been reported before the monitor was set; ractor frees the
                // name as it stops, so look again shortly.
                myself.get_cell().unmonitor(holder);
                myself.send_after(STOPPING_HOLDER_RETRY, {
                    let name = name.to_owned();
                    move || KeeperMessage::Evaluate(vec![name])
                });
            } else {
                self.holders.insert(holder.get_id(), name.to_owned());
            }
            return;
        }
        forwarding().spawning.insert(name.to_owned());
        let spawned = (entry.spawn)(name.to_owned(), proxy.clone(), myself.get_cell()).await;
        forwarding().spawning.remove(name);
        match spawned {
            Ok(forwarder) => {
                tracing::debug!(name, remote = %proxy.get_id(), "a name forwarder started");
                self.forwarders
                    .insert(name.to_owned(), Current { forwarder, proxy });
            }
            Err(SpawnErr::ActorAlreadyRegistered(_)) => {
                // A local actor took the name meanwhile: it wins; watch it.
                let _ = myself.cast(KeeperMessage::Evaluate(vec![name.to_owned()]));
            }
            Err(err) => {
                // The proxy stopped meanwhile; its end is reported to this keeper.
                tracing::debug!(name, %err, "a name forwarder did not start");
            }
        }
    }
}

/// Sends `message` to the keeper of this process, starting one if there is none (or if the one
/// there was belonged to a tokio runtime that has ended). Does nothing outside a tokio runtime.
fn tell_keeper(message: KeeperMessage) {
    static KEEPER: Mutex<Option<ActorRef<KeeperMessage>>> = Mutex::new(None);
    let mut keeper = KEEPER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let message = match keeper.as_ref() {
        Some(running) => match running.cast(message) {
            Ok(()) => return,
            Err(ractor::MessagingErr::SendErr(message)) => message,
            Err(_) => return,
        },
        None => message,
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    match ActorRuntime::spawn_instant(None, NameKeeper, ()) {
        Ok((started, _)) => {
            let _ = started.cast(message);
            *keeper = Some(started);
        }
        Err(err) => tracing::warn!(%err, "cannot start the name keeper"),
    }
}

/// A peer (`node`) told the message types of some of its named actors (`NamedActorTypes`). Types
/// not registered here are ignored.
pub(crate) fn types_announced(node: NodeId, types: Vec<NamedActorType>) {
    let known: Vec<(u64, &'static MessageType)> = {
        let registry = read_registry();
        types
            .into_iter()
            .filter_map(|typed| {
                registry
                    .by_name
                    .get(typed.type_name.as_str())
                    .map(|entry| (typed.pid, *entry))
            })
            .collect()
    };
    if !known.is_empty() {
        tell_keeper(KeeperMessage::Types(node, known));
    }
}

/// A peer announced actors under these names: the winner of each may have changed.
pub(crate) fn names_announced(names: Vec<String>) {
    if !names.is_empty() {
        tell_keeper(KeeperMessage::Evaluate(names));
    }
}

/// Finds an actor by name, here or on any connected node.
///
/// Looks in ractor's registry first (local actors; a local actor always wins on its own node),
/// then among the named actors that peers announced: when several nodes have an actor of that
/// name, the one on the node with the smallest node id is returned, on every node alike. A proxy
/// is found for as long as its actor lives and its node stays connected.
///
/// Remote actors are found only once announced: with [`Announce::All`](super::Announce::All) (the
/// default) or [`Announce::NamedOrGrouped`](super::Announce::NamedOrGrouped), a named actor is
/// announced as soon as it starts.
///
/// A remote actor is returned as its proxy, never as the name forwarder that may stand for it in
/// ractor's registry (see the module docs), so this works whatever the message type.
pub fn where_is(name: &str) -> Option<ActorCell> {
    // A name forwarder (see `names`) is not a local actor: its name resolves to the proxy.
    ractor::registry::where_is(name)
        .filter(|cell| !is_forwarder(cell))
        .or_else(|| references::remote_winner(name))
}

#[cfg(test)]
#[path = "tests/names.rs"]
mod tests;
