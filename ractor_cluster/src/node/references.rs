//! Actor references that cross nodes, and the process-wide directory that resolves them.
//!
//! # On the wire
//! A reference travels as `(node id, incarnation, pid)` (PROTOCOL.md, "Actor references"): the
//! global id of the node the actor runs on ([`node_id_of`](crate::protocol::identity::node_id_of)
//! of its name), the run of that node, and the actor's pid there. A local actor is written with
//! the identity of the node running in this process; a proxy with the identity of the peer it
//! stands for. Only actors whose message type supports remoting can be referenced.
//!
//! # Resolving a reference
//! Decoding runs in the receiving actor's task and cannot wait for the network, so a reference
//! always resolves at once, to one of:
//! * the local actor, if the node id is one of this process's nodes and the incarnation is the
//!   current one;
//! * the proxy of a peer's actor, if one exists;
//! * a proxy created *on demand*, if a session to the actor's node exists: it is usable at once
//!   (messages go straight to the peer), and the session asks the peer to report the actor's end
//!   (`ActorsWanted`). If the actor is already gone, the peer answers so and the proxy stops with
//!   the reason [`NO_SUCH_ACTOR`]; meanwhile casts to it are dropped by the peer and calls fail;
//! * a *waiting* proxy, if there is no session to the actor's node yet and a node of this process
//!   is [`Transitive`](super::NodeConnectionMode::Transitive) (a reference from a third node can
//!   arrive before the connection to the actor's node is made, or when no peer told this node
//!   about it): every peer is asked where the node is (`WhereIsNode`), one that knows answers with
//!   its address, and the transitive node dials it. Meanwhile the proxy keeps what it is sent, in
//!   order and bounded; once the session is up it sends it and becomes an ordinary proxy made on
//!   demand. If no session comes within
//!   [`with_reference_wait`](super::NodeServer::with_reference_wait), it stops with
//!   [`UNREACHABLE`] and the calls it kept fail;
//! * otherwise a *gone* cell: stopped with [`UNREACHABLE`] or [`NO_SUCH_ACTOR`]. Casts to it fail
//!   with ractor's `SendErr`; it never delivers anything. This happens for an actor of a node this
//!   node has no session with when no node of this process is transitive, for a node that
//!   restarted since the reference was made (another incarnation), and for a local actor that has
//!   stopped.
//!
//! # Names
//! ractor's name registry accepts local actors only, so proxies are found by name through
//! [`where_is`](super::names::where_is), which looks in ractor's registry first. When several
//! nodes announce an actor under the same name, the rule is the same on every node: a local actor
//! always wins on its own node; among remote actors, the one on the node with the smallest node id
//! wins. When the winner stops, the next one takes its place.
//!
//! ractor's own `ractor::registry::where_is` finds the same winner when its message type is
//! registered on both nodes (see [`register_message_type`](super::register_message_type)): a
//! local *name forwarder* holds the name there for it, forwards what it receives to the proxy,
//! and ends as the proxy ends. A reference to a forwarder is encoded as one to the remote actor.
//! See the `names` module for the details, and [`NAME_MOVED`](super::NAME_MOVED).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{ActorCell, ActorId, ActorRef, ActorRuntime};

use super::exit::{NO_SUCH_ACTOR, PROXY_LIMIT, UNREACHABLE};
use super::graveyard::{gone, start_in_graveyard, start_now};
use super::quota::{self, Allowance};
use super::session::message::{NodeSessionMessage, SessionEvent};
use super::NodeId;
use crate::call::InFlightCalls;
use crate::error::FieldError;
use crate::net::WriterHandle;
use crate::protocol::reference::WireReference;
use crate::remote_actor::{
    end_proxy, instruct, PendingLink, ProxyExit, ProxyInstruction, ProxySender, RemoteActor,
    RemoteActorMessage, WaitingProxy,
};

/// What the directory knows of one authenticated session.
#[derive(Clone)]
pub(crate) struct PeerLink {
    pub(crate) session: ActorRef<NodeSessionMessage>,
    pub(crate) incarnation: u64,
    pub(crate) writer: WriterHandle,
    pub(crate) in_flight: Arc<InFlightCalls>,
    pub(crate) max_frame: u32,
    /// Proxies of this peer's actors (`with_max_proxies_per_peer`).
    pub(crate) proxies: Arc<Allowance>,
    /// Proxies of every peer's actors on this node (`with_max_proxies`).
    pub(crate) node_proxies: Arc<Allowance>,
    /// The session's figures, which proxies count their casts and calls in.
    pub(crate) stats: Arc<crate::node::stats::LinkCounters>,
    /// Whether the peer takes messages with metadata (protocol 2.6 and later).
    pub(crate) carries_metadata: bool,
    /// Whether the peer takes traced messages (protocol 2.8 and later).
    #[cfg(feature = "trace-context")]
    pub(crate) carries_trace: bool,
}

impl PeerLink {
    /// What a proxy of the peer's actor `pid` sends with: this session's writer, and its set of
    /// calls in flight. `None` if the peer's or the node's proxies are at their bound.
    fn proxy_sender(&self, pid: u64) -> Option<ProxySender> {
        let quota = quota::take(&self.proxies, Some(&self.node_proxies))?;
        Some(ProxySender {
            pid,
            writer: self.writer.clone(),
            in_flight: Arc::clone(&self.in_flight),
            max_frame: self.max_frame,
            stats: Arc::clone(&self.stats),
            _quota: quota,
            carries_metadata: self.carries_metadata,
            #[cfg(feature = "trace-context")]
            carries_trace: self.carries_trace,
        })
    }
}

/// Starts a proxy of the actor `pid` on `node`, named `name`, supervised by `link`'s session: the
/// one way a proxy of a connected peer's actor is made. Only [`Directory::running_or_start`]
/// calls it, which files the proxy. A proxy's `pre_start` never waits, so the spawn completes at
/// its first poll (see [`start_now`]) and nothing here waits. `Err` is the exit reason of the cell
/// to resolve to instead: [`PROXY_LIMIT`] if the peer's or the node's proxies are at their bound
/// (see [`PeerLink::proxies`]).
fn start_proxy(
    node: NodeId,
    pid: u64,
    link: &PeerLink,
    name: Option<&str>,
) -> Result<(ActorRef<RemoteActorMessage>, ActorId), &'static str> {
    let sender = link.proxy_sender(pid).ok_or(PROXY_LIMIT)?;
    let id = ActorId::Remote { node_id: node, pid };
    // ractor's name registry takes local actors only: names of proxies are in this directory
    // (see `where_is`).
    let spawn = ActorRuntime::spawn_linked_remote(
        name.map(str::to_owned),
        RemoteActor,
        id,
        sender,
        link.session.get_cell(),
    );
    let proxy = start_now(spawn).ok_or(UNREACHABLE)?;
    Ok((proxy, link.session.get_id()))
}

/// A proxy of a peer's actor, as [`announced_proxy`] and [`Directory::running_or_start`] find it.
pub(crate) enum FoundProxy<M: ractor::Message> {
    /// One was running already: started by another session of this process (several local nodes
    /// linked to the same peer), or by a reference.
    Running(ActorCell),
    /// Started just now, and filed as the one that stands for the actor.
    Started(ActorRef<M>),
}

#[derive(Default)]
struct Directory {
    /// The nodes running in this process, by node id, with their incarnation; in start order.
    local: Vec<(NodeId, u64)>,
    /// Authenticated sessions by peer node id (several when several nodes of this process are
    /// connected to the same peer).
    peers: HashMap<NodeId, Vec<PeerLink>>,
    /// Every running proxy, by the node and pid it stands for, with the session that owns it.
    proxies: HashMap<(NodeId, u64), (ActorCell, ActorId)>,
    /// Names announced by peers: name -> node id -> (proxy, session). The smallest node id wins.
    names: HashMap<String, BTreeMap<NodeId, (ActorCell, ActorId)>>,
    /// The names each actor of a peer was announced under: what a proxy's end must look at in
    /// `names`, so that forgetting one proxy costs its own names, not every name.
    names_of: HashMap<(NodeId, u64), Vec<String>>,
    /// Proxies created in total, for tests of announcement modes.
    proxies_created: u64,
    /// The nodes of this process that connect to the peers of their peers, with how long a
    /// reference waits for a session; while there is one, a reference to an actor of a node with
    /// no session yet waits for that session (as long as the longest wait).
    transitive: Vec<(NodeId, Duration)>,
    /// Proxies waiting for a session to their node, by node id.
    waiting: HashMap<NodeId, Vec<Waiting>>,
}

/// A proxy made for a reference to an actor of a node with no session yet.
struct Waiting {
    pid: u64,
    incarnation: u64,
    proxy: ActorRef<RemoteActorMessage>,
    link: Arc<PendingLink>,
}

impl Directory {
    /// The running proxy of `pid` on `node`, or the one `start` starts now, filed as owned by the
    /// owner `start` returns. Looking and starting happen under one lock of the directory, so two
    /// tasks never start proxies of the same actor side by side. They would share the actor's id,
    /// and ractor cleans up a stopping actor by id (it leaves every process group that id is in):
    /// stopping the spare would take the kept proxy out of the groups it had just joined. So
    /// `start` must neither wait nor lock the directory: a proxy's spawn completes at once (see
    /// [`start_now`]). `Err` is `start`'s: the exit reason of the cell to resolve to instead.
    fn running_or_start<M: ractor::Message>(
        &mut self,
        node: NodeId,
        pid: u64,
        start: impl FnOnce() -> Result<(ActorRef<M>, ActorId), &'static str>,
    ) -> Result<FoundProxy<M>, &'static str> {
        if let Some((running, _)) = self
            .proxies
            .get(&(node, pid))
            .filter(|(existing, _)| is_running(existing))
        {
            return Ok(FoundProxy::Running(running.clone()));
        }
        let (proxy, owner) = start()?;
        self.proxies.insert((node, pid), (proxy.get_cell(), owner));
        self.proxies_created += 1;
        Ok(FoundProxy::Started(proxy))
    }

    /// Files `name` as one that the running proxy of `pid` on `node` was announced under.
    fn file_name(&mut self, node: NodeId, pid: u64, name: &str) {
        let Some(kept) = self.proxies.get(&(node, pid)).cloned() else {
            return;
        };
        self.names
            .entry(name.to_owned())
            .or_default()
            .insert(node, kept);
        let names = self.names_of.entry((node, pid)).or_default();
        if !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
    }

    /// Takes the proxies waiting for a session to `node`, now that `link` is one; those that will
    /// be handed to it are filed as owned by its session.
    fn take_waiting(&mut self, node: NodeId, link: &PeerLink) -> Vec<Waiting> {
        let waiting = self.waiting.remove(&node).unwrap_or_default();
        for entry in &waiting {
            if entry.incarnation == link.incarnation {
                if let Some(kept) = self.proxies.get_mut(&(node, entry.pid)) {
                    kept.1 = link.session.get_id();
                }
            }
        }
        waiting
    }
}

fn directory() -> MutexGuard<'static, Directory> {
    static DIRECTORY: LazyLock<Mutex<Directory>> = LazyLock::new(Mutex::default);
    // The maps stay consistent even if a holder panicked.
    DIRECTORY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A node server of this process started; `reference_wait` if it connects to its peers' peers
/// (see [`NodeServer::with_reference_wait`](super::NodeServer::with_reference_wait)).
pub(crate) fn local_node_up(node: NodeId, incarnation: u64, reference_wait: Option<Duration>) {
    let mut directory = directory();
    directory.local.push((node, incarnation));
    if let Some(wait) = reference_wait {
        directory.transitive.push((node, wait));
    }
}

/// A node server of this process stopped.
pub(crate) fn local_node_down(node: NodeId, incarnation: u64) {
    let mut directory = directory();
    directory
        .local
        .retain(|entry| *entry != (node, incarnation));
    if let Some(at) = directory.transitive.iter().position(|(n, _)| *n == node) {
        directory.transitive.remove(at);
    }
}

/// A session authenticated its peer. Proxies that wait for it are handed the session.
pub(crate) fn peer_up(node: NodeId, link: &PeerLink) {
    let waiting = {
        let mut directory = directory();
        directory.peers.entry(node).or_default().push(link.clone());
        directory.take_waiting(node, link)
    };
    settle_waiting(waiting, link);
}

/// Hands each of `waiting` (see [`Directory::take_waiting`]) to `link`, or ends it if it stands
/// for another run of the node.
fn settle_waiting(waiting: Vec<Waiting>, link: &PeerLink) {
    for entry in waiting {
        if !is_running(&entry.proxy.get_cell()) {
            continue;
        }
        if entry.incarnation == link.incarnation {
            hand_over(entry, link);
        } else {
            // The node restarted since the reference was made: its actor is gone.
            end_proxy(
                &entry.proxy.get_cell(),
                ProxyExit::Stopped(Some(UNREACHABLE.to_owned())),
            );
        }
    }
}

/// Gives a waiting proxy its session: it sends what it kept, and the session supervises it and
/// asks the peer to report the actor's end, as for a proxy made on demand.
fn hand_over(entry: Waiting, link: &PeerLink) {
    let Some(sender) = link.proxy_sender(entry.pid) else {
        tracing::warn!(
            pid = entry.pid,
            "a waiting reference gets no proxy: the proxy limit is reached"
        );
        end_proxy(
            &entry.proxy.get_cell(),
            ProxyExit::Stopped(Some(PROXY_LIMIT.to_owned())),
        );
        return;
    };
    entry.link.fill(sender);
    entry.proxy.get_cell().link(link.session.get_cell());
    instruct(&entry.proxy.get_cell(), ProxyInstruction::LookForSession);
    let _ = link
        .session
        .cast(NodeSessionMessage::internal(SessionEvent::Adopt {
            pid: entry.pid,
            proxy: entry.proxy,
        }));
}

/// A session ended: its link, proxies and names are forgotten.
pub(crate) fn peer_down(node: NodeId, session: ActorId) {
    let mut directory = directory();
    directory.proxies.retain(|_, (_, owner)| *owner != session);
    directory.names.retain(|_, claims| {
        claims.retain(|_, (_, owner)| *owner != session);
        !claims.is_empty()
    });
    let Directory {
        names, names_of, ..
    } = &mut *directory;
    names_of.retain(|(of, _), claimed| {
        *of != node || {
            claimed.retain(|name| names.get(name).is_some_and(|c| c.contains_key(of)));
            !claimed.is_empty()
        }
    });
    if let Some(links) = directory.peers.get_mut(&node) {
        links.retain(|link| link.session.get_id() != session);
        if links.is_empty() {
            directory.peers.remove(&node);
        }
    }
}

/// The session to `node` that carries requests to it, if any.
pub(crate) fn link_to(node: NodeId) -> Option<PeerLink> {
    directory()
        .peers
        .get(&node)
        .and_then(|links| links.first().cloned())
}

/// The proxy of the actor `pid` that `link`'s peer `node` announced, under `name` if any: the
/// running one (the name is filed for it), or one started now, supervised by `link`'s session.
/// `Err` is why none could start ([`PROXY_LIMIT`] at the bound).
pub(crate) fn announced_proxy(
    node: NodeId,
    pid: u64,
    link: &PeerLink,
    name: Option<&str>,
) -> Result<FoundProxy<RemoteActorMessage>, &'static str> {
    let mut directory = directory();
    let found = directory.running_or_start(node, pid, || start_proxy(node, pid, link, name))?;
    if let Some(name) = name {
        directory.file_name(node, pid, name);
    }
    Ok(found)
}

/// A proxy stopped (or is stopping): it no longer resolves references nor names.
pub(crate) fn proxy_down(proxy: &ActorCell) {
    let id = proxy.get_id();
    let ActorId::Remote { node_id, pid } = id else {
        return;
    };
    let mut directory = directory();
    // A newer proxy of the same actor (after a reconnection) is still running: keep it.
    if directory
        .proxies
        .get(&(node_id, pid))
        .is_some_and(|(p, _)| !is_running(p))
    {
        directory.proxies.remove(&(node_id, pid));
    }
    directory.forget_names_of(node_id, pid);
}

impl Directory {
    /// Drops the claims of `pid` on `node` to its names whose proxy no longer runs (a newer
    /// proxy's stay); returns how many claims it looked at: as many as the actor has names.
    fn forget_names_of(&mut self, node: NodeId, pid: u64) -> usize {
        let Some(names) = self.names_of.remove(&(node, pid)) else {
            return 0;
        };
        let mut kept = Vec::new();
        for name in names.iter() {
            let Some(claims) = self.names.get_mut(name) else {
                continue;
            };
            if claims.get(&node).is_some_and(|(p, _)| !is_running(p)) {
                claims.remove(&node);
            } else if claims.contains_key(&node) {
                kept.push(name.clone());
            }
            if claims.is_empty() {
                self.names.remove(name);
            }
        }
        let looked_at = names.len();
        if !kept.is_empty() {
            self.names_of.insert((node, pid), kept);
        }
        looked_at
    }
}

/// Whether `proxy` still stands for its actor (it has not begun to stop). The one threshold for
/// "a proxy that counts" in `references`, `names` and the session.
pub(crate) fn is_running(proxy: &ActorCell) -> bool {
    proxy.get_status() < ractor::ActorStatus::Draining
}

/// The running proxy of `pid` on `node`, if any.
///
/// A proxy that has stopped but whose end its session has not handled yet is not returned.
pub(crate) fn proxy_of(node: NodeId, pid: u64) -> Option<ActorCell> {
    directory()
        .proxies
        .get(&(node, pid))
        .map(|(proxy, _)| proxy.clone())
        .filter(is_running)
}

/// The proxy that wins `name` among the remote actors announced under it, if any: the one of the
/// node with the smallest node id.
pub(crate) fn remote_winner(name: &str) -> Option<ActorCell> {
    directory().names.get(name).and_then(|claims| {
        claims
            .values()
            .map(|(proxy, _)| proxy)
            .find(|proxy| is_running(proxy))
            .cloned()
    })
}

/// The running proxies of the actors `pids` of `node` that were announced under a name, with
/// their names.
pub(crate) fn named_proxies_of(
    node: NodeId,
    pids: &std::collections::HashSet<u64>,
) -> Vec<(ActorCell, String)> {
    directory()
        .names
        .iter()
        .filter_map(|(name, claims)| {
            claims
                .get(&node)
                .filter(|(proxy, _)| pids.contains(&proxy.get_id().pid()) && is_running(proxy))
                .map(|(proxy, _)| (proxy.clone(), name.clone()))
        })
        .collect()
}

/// How many proxies this process has started since it began (all nodes together). For tests and
/// metrics; not part of the stable API.
#[doc(hidden)]
pub fn proxies_created() -> u64 {
    directory().proxies_created
}

/// How many proxies of actors of `node` are filed now, running or not yet forgotten.
#[cfg(test)]
pub(crate) fn proxies_of_node(node: NodeId) -> usize {
    directory()
        .proxies
        .keys()
        .filter(|(of, _)| *of == node)
        .count()
}

/// How many proxies are running now in this process. Not part of the stable API.
#[doc(hidden)]
pub fn proxies_running() -> usize {
    directory().proxies.len()
}

/// The reference to `cell` as it travels. The caller replaces a name forwarder by the proxy it
/// stands for (see `names::forwarded_to`).
pub(crate) fn encode(cell: &ActorCell) -> Result<WireReference, FieldError> {
    match cell.get_id() {
        ActorId::Local(pid) => {
            if !cell.supports_remoting() {
                return Err(FieldError::new(format!(
                    "actor {pid} cannot be referenced from another node: its message type does \
                     not support remoting"
                )));
            }
            let (node, incarnation) = directory().local.first().copied().ok_or_else(|| {
                FieldError::new("cannot send a reference to a local actor: no node runs here")
            })?;
            Ok(WireReference {
                node,
                incarnation,
                pid,
            })
        }
        ActorId::Remote { node_id, pid } => Ok(WireReference {
            node: node_id,
            incarnation: link_to(node_id).map_or(0, |link| link.incarnation),
            pid,
        }),
    }
}

/// The cell a reference stands for here; see the module docs. Never waits. Fails only outside a
/// tokio runtime, where no cell can be started.
pub(crate) fn resolve(reference: WireReference) -> Result<ActorCell, FieldError> {
    let WireReference {
        node,
        incarnation,
        pid,
    } = reference;
    let local = directory()
        .local
        .iter()
        .find(|(id, _)| *id == node)
        .copied();
    if let Some((_, current)) = local {
        if current != incarnation {
            return gone(reference, UNREACHABLE);
        }
        // Only an actor a peer may address: not the node server, a session, or any other actor
        // whose messages cannot be remoted.
        return match ractor::registry::where_is_pid(ActorId::Local(pid))
            .filter(ActorCell::supports_remoting)
        {
            Some(cell) => Ok(cell),
            None => gone(reference, NO_SUCH_ACTOR),
        };
    }
    if let Some(proxy) = proxy_of(node, pid) {
        return Ok(proxy);
    }
    match link_to(node) {
        Some(link) if link.incarnation == incarnation => match proxy_on_demand(node, pid, &link) {
            Ok(proxy) => Ok(proxy),
            Err(reason) => gone(reference, reason),
        },
        None => match may_wait().and_then(|wait| waiting_proxy(reference, wait)) {
            Some(proxy) => Ok(proxy),
            None => gone(reference, UNREACHABLE),
        },
        Some(_) => gone(reference, UNREACHABLE),
    }
}

/// Whether a reference to an actor of a node with no session may wait for one: a node of this
/// process dials the peers of its peers, and not too many proxies wait already. How long if so.
fn may_wait() -> Option<Duration> {
    let directory = directory();
    if directory.waiting.values().map(Vec::len).sum::<usize>() >= MAX_WAITING {
        return None;
    }
    directory.transitive.iter().map(|(_, wait)| *wait).max()
}

/// Starts a proxy of an actor on a node with no session yet, that keeps what it is sent until the
/// session is up (see [`WaitingProxy`]); asks every peer where the node is, so that a transitive
/// node can dial it, and gives up after `wait`.
fn waiting_proxy(reference: WireReference, wait: Duration) -> Option<ActorCell> {
    let WireReference {
        node,
        incarnation,
        pid,
    } = reference;
    let link = Arc::new(PendingLink::default());
    let id = ActorId::Remote { node_id: node, pid };
    let mut directory = directory();
    let started = directory.running_or_start(node, pid, || {
        let (proxy, graveyard) = start_in_graveyard(|graveyard| {
            ActorRuntime::spawn_linked_remote(None, WaitingProxy, id, Arc::clone(&link), graveyard)
        })
        .ok_or(UNREACHABLE)?;
        Ok((proxy, graveyard.get_id()))
    });
    let proxy = match started.ok()? {
        FoundProxy::Running(existing) => return Some(existing),
        FoundProxy::Started(proxy) => proxy,
    };
    let entry = Waiting {
        pid,
        incarnation,
        proxy: proxy.clone(),
        link,
    };
    let first = !directory.waiting.contains_key(&node);
    directory.waiting.entry(node).or_default().push(entry);
    // The session may have come up since `resolve` looked.
    if let Some(link) = directory.peers.get(&node).and_then(|l| l.first()).cloned() {
        let waiting = directory.take_waiting(node, &link);
        drop(directory);
        settle_waiting(waiting, &link);
        return Some(proxy.get_cell());
    }
    let sessions: Vec<ActorRef<NodeSessionMessage>> = if first {
        directory
            .peers
            .values()
            .flatten()
            .map(|link| link.session.clone())
            .collect()
    } else {
        Vec::new()
    };
    drop(directory);
    for session in sessions {
        let _ = session.cast(NodeSessionMessage::internal(SessionEvent::AskWhereIs(node)));
    }
    let cell = proxy.get_cell();
    let timer = cell.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        stop_waiting(node, &timer);
    });
    Some(cell)
}

/// A waiting proxy's time is up: it no longer waits, and stops unless its session came.
fn stop_waiting(node: NodeId, proxy: &ActorCell) {
    {
        let mut directory = directory();
        if let Some(entries) = directory.waiting.get_mut(&node) {
            entries.retain(|entry| entry.proxy.get_id() != proxy.get_id());
            if entries.is_empty() {
                directory.waiting.remove(&node);
            }
        }
    }
    instruct(proxy, ProxyInstruction::StopWaiting);
}

/// How many proxies wait for a session at most; a reference beyond resolves to a gone cell, so
/// that references to nodes that never connect cannot make proxies without bound.
const MAX_WAITING: usize = 4096;

/// Starts a proxy of `pid` on `node` now, supervised by the session, and tells the session, which
/// asks the peer to report the actor's end. Fails with the exit reason of the cell to resolve to
/// instead.
fn proxy_on_demand(node: NodeId, pid: u64, link: &PeerLink) -> Result<ActorCell, &'static str> {
    let found = directory().running_or_start(node, pid, || start_proxy(node, pid, link, None));
    let proxy = match found {
        Ok(FoundProxy::Running(existing)) => return Ok(existing),
        Ok(FoundProxy::Started(proxy)) => proxy,
        Err(reason) => {
            tracing::debug!(node, pid, reason, "no proxy on demand");
            return Err(reason);
        }
    };
    let _ = link
        .session
        .cast(NodeSessionMessage::internal(SessionEvent::Adopt {
            pid,
            proxy: proxy.clone(),
        }));
    Ok(proxy.get_cell())
}

#[cfg(test)]
#[path = "tests/references.rs"]
mod tests;
