//! The reconciler: keeps a node connected to every node that its [`Discovery`] finds.
//!
//! [`Discovery`]: crate::discovery::Discovery
//!
//! A task asks the discovery source once per interval and hands the addresses to the server. For
//! each address that is not this node and that the server has no session with, the server dials
//! it, unless a dial of it is under way or its backoff (the node's [`ReconnectPolicy`], capped and
//! jittered) has not run out. Every round looks at *every* address again, so a node that was
//! missing, failed to answer, or was lost later is dialed again at the next round whose time has
//! come, for as long as discovery lists it.
//!
//! A node is told apart from its address in three ways, so that an address is not dialed again
//! while its node is connected: the session this reconciler opened to it is still running; the
//! peer that authenticated on that session (its name is learned even when the session is then
//! refused as a duplicate) has a session, whichever side dialed; or a peer announced this address
//! as its own. An address that turns out to be this node's own listener (the dialed socket is
//! this node's listening socket) is never dialed again.
//!
//! When every node of a cluster starts at once and each dials all the others, both nodes of a
//! pair may dial each other: the server's admission rule keeps the same one of the two sessions
//! on both sides, so the nodes form one cluster. But the other session costs a connection, two key
//! exchanges and a session set up only to be torn down (or, when it was admitted first, the
//! teardown of a session already in use, its proxies and groups). So a pair first agrees, without
//! talking, on which of the two dials first ([`dials_first`], from both addresses as discovery
//! lists them): the other node waits [`FIRST_DIAL_GRACE`] (or two rounds, if the interval is that
//! short) from the round that finds the address,
//! and dials it then only if no session with it came in meanwhile. A node that cannot tell its own
//! address as the others see it (listening on every address, advertising a name they do not use)
//! may decide alike with its peer or not: at worst both dial at once, as without the rule, or both
//! wait the grace (and, if the other is not up yet, the next round: neither retries quickly).
//!
//! A dial due is also passed over, once, while a connection this node accepted says in its hello
//! (before any proof) that it comes from the node at that address: that node is dialing this one,
//! and a second dial would only be closed by the admission rule after its handshake, after a key
//! exchange on both nodes and, when admitted first, a session set up to be torn down. Under load
//! the grace does not keep pairs from crossing: a dial waits its turn among the dials under way,
//! and a handshake takes longer than the grace. The hello is not proved, so it holds off one dial
//! only: the next, at the next round or as soon as that connection ends without a peer, is made
//! whatever is claimed then ([`Reconciler::introductions`]).
//!
//! The grace is a time of its own, with a dial of its own when it ends, not a number of rounds:
//! a node that starts after its peers is mostly waited on by peers whose dials it refused while it
//! was not up, and which try again only at their next round (up to an interval later, two seconds
//! by default). Waiting rounds as well, it met half its peers an interval or two after it started;
//! with the grace, a second after.
//!
//! A round does not dial every address it found at once: at most `max_dials` dials are under way
//! (from connecting until the session has authenticated or failed), in an order of this node's
//! own, and the next address due is dialed as soon as one ends. So N nodes starting from one list
//! open a bounded number of handshakes each instead of N − 1, and each listener meets about as
//! many at once, well inside what it lets wait to authenticate, instead of closing the rest (as
//! 127.0.0.1, one address for every peer, made it do beyond 32).
//!
//! A dial that finds nobody listening is tried again when its backoff runs out, the first
//! [`FAST_RETRIES`] times, rather than at the next round, if this node is the one of the pair to
//! dial first: of two nodes starting together, that one may find the other not up yet, and the
//! other leaves the pair to it for the grace. The other node's dials (made when its grace ended)
//! are not tried again before the next round: the node at that address dials it as soon as it is
//! up. While hundreds of nodes start over seconds, most of what a node dials is not up yet, and
//! each refused connection costs both kernels tens of microseconds: these retries were a third of
//! the refused connections of a 256-node start on one machine.
//!
//! How many dials may be under way adapts to how long handshakes take ([`DialWindow`]): a node
//! whose handshakes come back slowly, or are cut off, is overloaded, or its peers are (hundreds of
//! nodes starting together on a few cores), and more handshakes at once would only make each
//! slower, fill the listeners' slots for connections waiting to authenticate (which close the
//! rest), and delay the heartbeats of the sessions already up until they look silent. So the
//! window halves when a handshake takes longer than [`SLOW_HANDSHAKE`] or ends before it
//! authenticated, at most once per [`SLOW_HANDSHAKE`], and grows by one with each handshake
//! that completes in time, up to `max_dials`, as TCP's congestion window does.
//!
//! [`SLOW_HANDSHAKE`]: window::SLOW_HANDSHAKE
//!
//! [`ReconnectPolicy`]: crate::node::ReconnectPolicy

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use rand::seq::SliceRandom;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::message::{DialOutcome, NodeServerMessage, ServerEvent};
use super::transitive::{host_of, TRANSITIVE_DIAL_TIMEOUT};
use super::{NodeServerState, SessionStatus};
use crate::discovery::{DiscoveryConfig, ListedNow};
use crate::discovery::{DISCOVERY_TIMEOUT, MAX_DISCOVERED_ADDRESSES};
use crate::node::reconnect::DialTarget;
use crate::protocol::listed::{listed_digest, ListedDigest};
use crate::protocol::message::WireNodeName;
use window::DialWindow;

mod window;

/// How long a node leaves a newly found address to its node, when that node is to dial first
/// (see [`dials_first`]), before it dials the address itself. Long enough for a peer that starts
/// with it to come to this address through its own bound on dials under way; short beside the
/// round interval, which is what a peer that found this node not yet up waits before trying again.
const FIRST_DIAL_GRACE: Duration = Duration::from_secs(1);

/// With a discovery interval this short, the grace is this many rounds instead (as it was before
/// the grace): a peer's next round comes sooner than [`FIRST_DIAL_GRACE`].
const GRACE_ROUNDS: u32 = 2;

/// How many failed dials of an address are tried again when their backoff runs out rather than
/// at the next round (with the default backoff, jittered: within 0.1, 0.2 and 0.4 s of each).
const FAST_RETRIES: u32 = 3;

/// What the reconciler knows about one discovered address.
#[derive(Debug)]
struct Target {
    /// The session opened over the last successful dial, until it is seen to have ended.
    session: Option<ActorId>,
    /// The node that authenticated at this address, once known.
    peer: Option<String>,
    dialing: bool,
    /// Dials that did not end in a session, since the last time the address was connected.
    attempts: u32,
    /// When the dial under way, or whose session is authenticating, started.
    dialed_at: Option<Instant>,
    /// Left to its node until then, as it dials this one first (see [`dials_first`]).
    deferred_until: Option<Instant>,
    /// No dial before this instant (the backoff after a failed one).
    not_before: Instant,
    /// A dial of it was passed over because its node was dialing this one, since it was last
    /// dialed or seen connected: the next is not (see [`Reconciler::introductions`]).
    yielded: bool,
}

/// The server's reconciler state: the discovery task and what it found.
pub(crate) struct Reconciler {
    task: JoinHandle<()>,
    /// The server, which each dial reports to.
    server: ActorRef<NodeServerMessage>,
    /// The address this node listens on, to recognise a dial to itself.
    listen: SocketAddr,
    /// This node's address as discovery lists it, as far as this node can tell: which node of a
    /// pair dials first is decided from it (see [`dials_first`]).
    own_address: String,
    targets: HashMap<String, Target>,
    /// The address each session this reconciler opened was dialed at, until the session ends: a
    /// session's authentication and end find their target in one lookup.
    by_session: HashMap<ActorId, String>,
    /// Addresses that turned out to be this node.
    own: HashSet<String>,
    /// Dials under way at most, now.
    window: DialWindow,
    /// Addresses the last round found due, in the order they are to be dialed.
    due: VecDeque<String>,
    /// What the last round that found anything listed (this node's own address included), and
    /// its digest, which the sessions tell their peers (2.10, see `shares_view`).
    listed: HashSet<String>,
    digest: Option<ListedDigest>,
    published: Arc<ListedNow>,
    /// How long a node to dial first is given (see [`FIRST_DIAL_GRACE`]).
    grace: Duration,
    /// Listed addresses whose node, by its hello, is dialing this one: the accepted session that
    /// says so, until it ends. Unproved until the session authenticates, so a dial due is passed
    /// over for it only once (`Target::yielded`), and made as soon as that session ends without a
    /// peer. At most one entry per target.
    introductions: HashMap<String, ActorId>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("targets", &self.targets.len())
            .field("own", &self.own)
            .field("due", &self.due.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Reconciler {
    /// Starts asking `config.source`, one round per interval (the first at once), and sends each
    /// answer to `server`, which dials at most `max_dials` of the addresses at once. `advertised`
    /// is the `host:port` this node tells its peers to reach it at.
    pub(crate) fn start(
        config: DiscoveryConfig,
        listen: SocketAddr,
        advertised: &str,
        server: ActorRef<NodeServerMessage>,
        max_dials: usize,
        published: Arc<ListedNow>,
    ) -> Self {
        let DiscoveryConfig { source, interval } = config;
        let reports_to = server.clone();
        let interval = interval.max(Duration::from_millis(1));
        let grace = FIRST_DIAL_GRACE.min(interval.saturating_mul(GRACE_ROUNDS));
        let patience = interval.max(DISCOVERY_TIMEOUT);
        let task = tokio::spawn(async move {
            loop {
                let found = match tokio::time::timeout(patience, source.discover()).await {
                    Ok(Ok(found)) => Ok(found),
                    Ok(Err(err)) => Err(err.to_string()),
                    Err(_) => Err(format!("discovery timed out after {patience:?}")),
                };
                let event = ServerEvent::Discovered(found);
                if server.cast(NodeServerMessage::internal(event)).is_err() {
                    return;
                }
                tokio::time::sleep(interval).await;
            }
        });
        // A node bound to one address is listed under it (as DNS lists a pod's address); one bound
        // to every address can only go by what it advertises.
        let own_address = if listen.ip().is_unspecified() {
            advertised.to_owned()
        } else {
            listen.to_string()
        };
        Self {
            task,
            server: reports_to,
            listen,
            own_address,
            targets: HashMap::new(),
            by_session: HashMap::new(),
            own: HashSet::new(),
            window: DialWindow::new(max_dials),
            due: VecDeque::new(),
            listed: HashSet::new(),
            digest: None,
            published,
            grace,
            introductions: HashMap::new(),
        }
    }

    /// Whether a peer whose discovery listed what `view` digests lists what this node's last
    /// round did. Such a peer is not told of the peers at those addresses: it would not dial one
    /// from a `PeersKnown` (`dial` leaves listed addresses to the reconciler).
    pub(crate) fn shares_view(&self, view: &ListedDigest) -> bool {
        self.digest.as_ref() == Some(view)
    }

    /// Whether the last round that found anything listed `addr`.
    pub(crate) fn listed_now(&self, addr: &str) -> bool {
        self.listed.contains(addr)
    }

    /// Keeps what a round listed, and tells the sessions its digest if it changed; whether it
    /// did.
    fn remember_listed(&mut self, found: &[String]) -> bool {
        let digest = listed_digest(found.iter().map(String::as_str));
        if self.digest == Some(digest) {
            return false;
        }
        self.listed = found.iter().cloned().collect();
        self.digest = Some(digest);
        self.published.set(digest);
        true
    }

    /// When the grace given to the nodes at `addrs` ends, each is due a dial of this node's if it
    /// still needs one (see `retry_discovered`), rather than at the next round.
    fn grace_given(&self, mut addrs: Vec<String>) {
        addrs.shuffle(&mut rand::rng());
        let server = self.server.clone();
        let grace = self.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            for addr in addrs {
                let event = ServerEvent::DiscoveryRetry(addr);
                if server.cast(NodeServerMessage::internal(event)).is_err() {
                    return;
                }
            }
        });
    }

    /// Whether the last discovery round listed `addr` (and it is not this node's).
    pub(crate) fn lists(&self, addr: &str) -> bool {
        self.targets.contains_key(addr)
    }

    /// A session authenticated `peer`: if this reconciler dialed it, that address is `peer`'s.
    /// Learned before the server decides whether to keep the session, so that an address whose
    /// session lost the tie-break to the peer's own dial is known to be connected all the same.
    pub(crate) fn authenticated(&mut self, session: &ActorId, peer: &str) {
        if let Some(target) = self.target_of(session) {
            target.peer = Some(peer.to_owned());
            if let Some(started) = target.dialed_at.take() {
                let now = Instant::now();
                self.window
                    .completed(now.saturating_duration_since(started), now);
            }
        }
    }

    /// A session ended; `authenticated` if its peer had proved the cookie. One that this
    /// reconciler dialed and that ended before that counts as a failed handshake.
    pub(crate) fn session_ended(&mut self, session: &ActorId, authenticated: bool) {
        let dialed_here = self.target_of(session).and_then(|t| t.dialed_at.take());
        self.by_session.remove(session);
        if dialed_here.is_some() && !authenticated {
            self.window.failed(Instant::now());
        }
        if self.introductions.is_empty() {
            return;
        }
        // Addresses whose dial was passed over for this session are due at once.
        let mut introduced = Vec::new();
        self.introductions.retain(|addr, by| {
            let ended = by == session;
            if ended {
                introduced.push(addr.clone());
            }
            !ended
        });
        for addr in introduced {
            let waiting = self
                .targets
                .get(&addr)
                .is_some_and(|t| t.yielded && !t.dialing && t.session.is_none());
            if waiting && !self.due.contains(&addr) {
                self.due.push_front(addr);
            }
        }
    }

    /// The target whose last dial opened `session`, while it is that target's session.
    fn target_of(&mut self, session: &ActorId) -> Option<&mut Target> {
        let addr = self.by_session.get(session)?;
        self.targets
            .get_mut(addr)
            .filter(|t| t.session.as_ref() == Some(session))
    }
}

/// Whether the node listed at `own` dials the node listed at `other` before that one dials it,
/// when both find each other at once. The two nodes compute the same pair and the same hash, so
/// exactly one of them answers yes; the hash (FNV-1a, fixed here, so that every version of this
/// crate agrees) spreads the first dials evenly, where "the smaller address dials" would have
/// the first node of a list dial all the others and the last dial no one.
fn dials_first(own: &str, other: &str) -> bool {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let own_is_low = own <= other;
    let (low, high) = if own_is_low {
        (own, other)
    } else {
        (other, own)
    };
    let mut hash = OFFSET;
    // A separator no address holds, so that ("ab", "c") and ("a", "bc") are different pairs.
    for byte in low.bytes().chain([0]).chain(high.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(PRIME);
    }
    let low_dials = hash & 1 == 0;
    own_is_low == low_dials
}

/// The address discovery most likely lists for the peer of a session: the IP address its
/// connection comes from with the port it advertises (a pod's address and the port of its
/// listener, where it may advertise a name), if both are known.
pub(super) fn seen_address(peer_addr: &str, advertised: &str) -> Option<String> {
    let ip = peer_addr.parse::<SocketAddr>().ok()?.ip().to_canonical();
    let port = advertised.rsplit_once(':')?.1.parse::<u16>().ok()?;
    Some(SocketAddr::new(ip, port).to_string())
}

/// Whether a connection from `local` to `peer` reached the socket listening on `listen`.
fn reaches_itself(listen: SocketAddr, local: SocketAddr, peer: SocketAddr) -> bool {
    if peer.port() != listen.port() {
        return false;
    }
    let peer_ip = peer.ip().to_canonical();
    if listen.ip().is_unspecified() {
        // Listening on every address: a connection whose two ends share an address stayed on
        // this host, and this port on this host is this node's.
        local.ip().to_canonical() == peer_ip
    } else {
        listen.ip().to_canonical() == peer_ip
    }
}

impl NodeServerState {
    /// A discovery round ended: dials every listed address that needs it, as many at once as
    /// allowed, the rest as those end.
    pub(crate) fn discovered(&mut self, found: Result<Vec<String>, String>) {
        let mut found = match found {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(%err, "discovery found nothing this round");
                return;
            }
        };
        if found.len() > MAX_DISCOVERED_ADDRESSES {
            tracing::warn!(
                found = found.len(),
                kept = MAX_DISCOVERED_ADDRESSES,
                "discovery returned too many addresses; ignoring the rest"
            );
            found.truncate(MAX_DISCOVERED_ADDRESSES);
        }
        let Some(reconciler) = self.reconciler.as_mut() else {
            return;
        };
        if reconciler.remember_listed(&found) {
            // Which admitted peers are listed changed with the list.
            for (id, entry) in &self.sessions {
                let visible = entry.status == SessionStatus::Authenticated && !entry.hidden;
                if let Some(name) = entry.info.peer_name.as_ref().filter(|_| visible) {
                    let listed = reconciler.listed_now(&name.connection_string);
                    self.established.set_listed(*id, listed);
                }
            }
        }
        let listed: HashSet<&str> = found.iter().map(String::as_str).collect();
        // An address no longer listed is forgotten (a dial under way reports back and is
        // dropped then); its session, if any, stays.
        reconciler
            .targets
            .retain(|addr, target| target.dialing || listed.contains(addr.as_str()));
        let connected = &self.established;
        let now = Instant::now();
        let mut to_dial = Vec::new();
        let mut graced = Vec::new();
        for addr in found {
            // This node's own address is not dialed even once when it is listed as this node
            // knows it (see `own_address`); otherwise its first dial tells (`DialOutcome::Itself`).
            if reconciler.own.contains(&addr) || addr == reconciler.own_address {
                continue;
            }
            let own_address = reconciler.own_address.as_str();
            let grace = reconciler.grace;
            let target = reconciler.targets.entry(addr.clone()).or_insert_with(|| {
                let deferred = !dials_first(own_address, &addr);
                if deferred {
                    graced.push(addr.clone());
                }
                Target {
                    session: None,
                    peer: None,
                    dialing: false,
                    attempts: 0,
                    dialed_at: None,
                    deferred_until: deferred.then(|| now + grace),
                    not_before: now,
                    yielded: false,
                }
            });
            if target.dialing {
                continue;
            }
            // The session this reconciler opened, while it runs.
            if let Some(id) = &target.session {
                match self.sessions.get(id) {
                    Some(entry) if entry.status != SessionStatus::Superseded => {
                        if entry.status == SessionStatus::Authenticated {
                            target.attempts = 0;
                            target.yielded = false;
                        }
                        continue;
                    }
                    _ => target.session = None,
                }
            }
            if connected.has(target.peer.as_deref(), &addr) {
                target.attempts = 0;
                target.yielded = false;
                continue;
            }
            if now < target.not_before {
                continue;
            }
            if target.deferred_until.is_some_and(|until| now < until) {
                // The other node dials first: this one, only if it has not after a while (a dial
                // of its own is due when the grace ends, see `grace_given`).
                continue;
            }
            to_dial.push(addr);
        }
        // In an order of this node's own: when many nodes start from one list, they do not all
        // dial its first address first (each listener then meets a share of the dials at once,
        // not every node's). What the last round left undialed is looked at again here, so this
        // round's list replaces it.
        to_dial.shuffle(&mut rand::rng());
        reconciler.due = to_dial.into();
        if !graced.is_empty() {
            reconciler.grace_given(graced);
        }
        self.dial_due();
    }

    /// The client of the accepted session `session` claims, in its hello, to be `claim`: if
    /// discovery lists it, its address is not dialed while that session authenticates (see
    /// [`Reconciler::introductions`]).
    pub(crate) fn introduced(&mut self, session: ActorId, claim: &WireNodeName) {
        let Some(reconciler) = self.reconciler.as_mut() else {
            return;
        };
        let Some(entry) = self
            .sessions
            .get(&session)
            .filter(|e| e.status == SessionStatus::Opened)
        else {
            return;
        };
        let seen = seen_address(&entry.info.peer_addr, &claim.connection_string);
        for addr in std::iter::once(claim.connection_string.clone()).chain(seen) {
            if reconciler.targets.contains_key(&addr) {
                reconciler.introductions.insert(addr, session);
            }
        }
    }

    /// Dials the addresses due, in order, while fewer than the allowed number of dials are under
    /// way. Called when a round ends and whenever a dial may have ended: its connection failed,
    /// or its session authenticated or ended.
    pub(crate) fn dial_due(&mut self) {
        let connected = &self.established;
        let Some(reconciler) = self.reconciler.as_mut() else {
            return;
        };
        if reconciler.due.is_empty() {
            return;
        }
        // A dial is under way from its start until its session has authenticated or ended
        // (`dialed_at` is taken then), or it found no one.
        let mut under_way = reconciler
            .targets
            .values()
            .filter(|t| t.dialing || t.dialed_at.is_some())
            .count();
        let mut to_dial = Vec::new();
        let now = Instant::now();
        while under_way < reconciler.window.now {
            let Some(addr) = reconciler.due.pop_front() else {
                break;
            };
            let Some(target) = reconciler.targets.get_mut(&addr) else {
                continue;
            };
            // Dialed, or connected, since the round found it due.
            if target.dialing || target.session.is_some() {
                continue;
            }
            if connected.has(target.peer.as_deref(), &addr) {
                continue;
            }
            if !target.yielded && reconciler.introductions.contains_key(&addr) {
                // Its node is dialing this one: the session is left to that dial, which spares
                // both nodes a second connection, handshake and session that the admission rule
                // would close. Once only: the claim is not proved yet, and if that session ends
                // without a peer, this dial is due again at once (`Reconciler::session_ended`).
                target.yielded = true;
                continue;
            }
            target.yielded = false;
            target.dialing = true;
            target.dialed_at = Some(now);
            under_way += 1;
            to_dial.push(addr);
        }
        for addr in to_dial {
            self.dial_discovered(addr);
        }
    }

    fn dial_discovered(&self, addr: String) {
        let Some((listen, server)) = self
            .reconciler
            .as_ref()
            .map(|r| (r.listen, r.server.clone()))
        else {
            return;
        };
        // Dialed the way the user dialed (see `dial`): TLS if the user ever did.
        let target = DialTarget {
            tls: self
                .tls_connector
                .clone()
                .map(|c| (c, host_of(&addr).to_owned())),
            addr,
        };
        tokio::spawn(async move {
            let outcome = match target.dial(TRANSITIVE_DIAL_TIMEOUT).await {
                Ok(stream) => match (stream.local_addr(), stream.peer_addr()) {
                    (Some(local), Some(peer)) if reaches_itself(listen, local, peer) => {
                        DialOutcome::Itself
                    }
                    _ => DialOutcome::Connected(stream),
                },
                Err(err) => DialOutcome::Failed(err),
            };
            let _ = server.cast(NodeServerMessage::internal(ServerEvent::DiscoveryDialed {
                addr: target.addr,
                outcome,
            }));
        });
    }

    /// The backoff after a failed dial of `addr`, or the grace given to its node, ran out: it is
    /// due at once if it still needs a dial (listed, not dialing, no session).
    pub(crate) fn retry_discovered(&mut self, addr: String) {
        let Some(reconciler) = self.reconciler.as_mut() else {
            return;
        };
        let needs_dial = reconciler.targets.get(&addr).is_some_and(|t| {
            let graced = t.deferred_until.is_some_and(|until| Instant::now() < until);
            !t.dialing && t.session.is_none() && !graced
        });
        if needs_dial && !reconciler.due.contains(&addr) {
            reconciler.due.push_front(addr);
        }
        self.dial_due();
    }

    /// A dial to a discovered address ended.
    pub(crate) async fn discovery_dialed(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        addr: String,
        outcome: DialOutcome,
    ) {
        let backoff = self.reconnect;
        let Some(reconciler) = self.reconciler.as_mut() else {
            return;
        };
        let Some(target) = reconciler.targets.get_mut(&addr) else {
            return;
        };
        target.dialing = false;
        match outcome {
            DialOutcome::Connected(stream) => {
                // Counted as an attempt until the session is seen authenticated: a peer that
                // accepts and then fails the handshake is not dialed at every round.
                target.attempts = target.attempts.saturating_add(1);
                target.not_before =
                    Instant::now() + backoff.backoff(target.attempts, rand::random());
                let session = self
                    .open_session(myself, stream, super::Opening::dialed(None, None))
                    .await;
                if let Some(reconciler) = self.reconciler.as_mut() {
                    if let Some(target) = reconciler.targets.get_mut(&addr) {
                        target.session = session;
                        if session.is_none() {
                            // No session to authenticate: this dial is over.
                            target.dialed_at = None;
                        }
                    }
                    if let Some(id) = session {
                        reconciler.by_session.insert(id, addr);
                    }
                }
            }
            DialOutcome::Itself => {
                tracing::debug!(%addr, "a discovered address is this node's own");
                reconciler.targets.remove(&addr);
                reconciler.own.insert(addr);
            }
            DialOutcome::Failed(err) => {
                // Nobody listening is no sign of load (nodes not started yet): the window stays.
                target.dialed_at = None;
                let delay = backoff.backoff(target.attempts, rand::random());
                target.attempts = target.attempts.saturating_add(1);
                target.not_before = Instant::now() + delay;
                tracing::info!(%addr, %err, ?delay, attempt = target.attempts, "cannot connect to a discovered node");
                // The first few times, dialed again when the backoff runs out, not at the next
                // round, by the node of the pair that dials first: the other node leaves the
                // pair to it (see `dials_first`). Only the first few: while hundreds of nodes
                // start over seconds, retrying every address that is not up yet at every backoff
                // would load the machine they start on; the rounds go on dialing those. Not by
                // the other node, whose dial came at the end of its grace: the node at `addr`
                // dials first, as soon as it listens.
                let leaves_pair = !dials_first(&reconciler.own_address, &addr);
                if target.attempts <= FAST_RETRIES && !leaves_pair {
                    let server = reconciler.server.clone();
                    let retry = addr.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let event = ServerEvent::DiscoveryRetry(retry);
                        let _ = server.cast(NodeServerMessage::internal(event));
                    });
                }
            }
        }
        self.dial_due();
    }
}

#[cfg(test)]
mod tests;
