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
//! on both sides, so the nodes form one cluster.
//!
//! [`ReconnectPolicy`]: crate::node::ReconnectPolicy

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::message::{DialOutcome, NodeServerMessage, ServerEvent};
use super::transitive::{host_of, TRANSITIVE_DIAL_TIMEOUT};
use super::{NodeServerState, SessionStatus};
use crate::discovery::{DISCOVERY_TIMEOUT, MAX_DISCOVERED_ADDRESSES};
use crate::node::config::DiscoveryConfig;
use crate::node::reconnect::DialTarget;

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
    /// No dial before this instant (the backoff after a failed one).
    not_before: Instant,
}

/// The server's reconciler state: the discovery task and what it found.
pub(crate) struct Reconciler {
    task: JoinHandle<()>,
    /// The address this node listens on, to recognise a dial to itself.
    listen: SocketAddr,
    targets: HashMap<String, Target>,
    /// Addresses that turned out to be this node.
    own: HashSet<String>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("targets", &self.targets.len())
            .field("own", &self.own)
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
    /// answer to `server`.
    pub(crate) fn start(
        config: DiscoveryConfig,
        listen: SocketAddr,
        server: ActorRef<NodeServerMessage>,
    ) -> Self {
        let DiscoveryConfig { source, interval } = config;
        let interval = interval.max(Duration::from_millis(1));
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
        Self {
            task,
            listen,
            targets: HashMap::new(),
            own: HashSet::new(),
        }
    }

    /// A session authenticated `peer`: if this reconciler dialed it, that address is `peer`'s.
    /// Learned before the server decides whether to keep the session, so that an address whose
    /// session lost the tie-break to the peer's own dial is known to be connected all the same.
    pub(crate) fn authenticated(&mut self, session: &ActorId, peer: &str) {
        if let Some(target) = self
            .targets
            .values_mut()
            .find(|t| t.session.as_ref() == Some(session))
        {
            target.peer = Some(peer.to_owned());
        }
    }
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
    /// A discovery round ended: dials every listed address that needs it.
    pub(crate) fn discovered(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        found: Result<Vec<String>, String>,
    ) {
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
        let listed: HashSet<&str> = found.iter().map(String::as_str).collect();
        // An address no longer listed is forgotten (a dial under way reports back and is
        // dropped then); its session, if any, stays.
        reconciler
            .targets
            .retain(|addr, target| target.dialing || listed.contains(addr.as_str()));
        // Looked up once per address below: built once per round, so that a round costs time in
        // proportion to the cluster's size, not to its square.
        let mut connected_names = HashSet::new();
        let mut connected_addrs = HashSet::new();
        for entry in self.sessions.values() {
            if entry.status != SessionStatus::Authenticated {
                continue;
            }
            if let Some(name) = &entry.info.peer_name {
                connected_names.insert(name.name.as_str());
                connected_addrs.insert(name.connection_string.as_str());
            }
        }
        let now = Instant::now();
        let mut to_dial = Vec::new();
        for addr in found {
            if reconciler.own.contains(&addr) {
                continue;
            }
            let target = reconciler.targets.entry(addr.clone()).or_insert(Target {
                session: None,
                peer: None,
                dialing: false,
                attempts: 0,
                not_before: now,
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
                        }
                        continue;
                    }
                    _ => target.session = None,
                }
            }
            let connected = target
                .peer
                .as_deref()
                .is_some_and(|peer| connected_names.contains(peer))
                || connected_addrs.contains(addr.as_str());
            if connected {
                target.attempts = 0;
                continue;
            }
            if now < target.not_before {
                continue;
            }
            target.dialing = true;
            to_dial.push(addr);
        }
        for addr in to_dial {
            self.dial_discovered(myself, addr);
        }
    }

    fn dial_discovered(&self, myself: &ActorRef<NodeServerMessage>, addr: String) {
        let Some(listen) = self.reconciler.as_ref().map(|r| r.listen) else {
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
        let server = myself.clone();
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
                if let Some(target) = self
                    .reconciler
                    .as_mut()
                    .and_then(|r| r.targets.get_mut(&addr))
                {
                    target.session = session;
                }
            }
            DialOutcome::Itself => {
                tracing::debug!(%addr, "a discovered address is this node's own");
                reconciler.targets.remove(&addr);
                reconciler.own.insert(addr);
            }
            DialOutcome::Failed(err) => {
                let delay = backoff.backoff(target.attempts, rand::random());
                target.attempts = target.attempts.saturating_add(1);
                target.not_before = Instant::now() + delay;
                tracing::info!(%addr, %err, ?delay, attempt = target.attempts, "cannot connect to a discovered node");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reaches_itself;

    fn addr(text: &str) -> std::net::SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_dial_to_the_own_listener_is_recognised() {
        // Bound to one address: only that address and port.
        let listen = addr("127.0.0.2:4697");
        assert!(reaches_itself(
            listen,
            addr("127.0.0.1:50000"),
            addr("127.0.0.2:4697")
        ));
        assert!(!reaches_itself(
            listen,
            addr("127.0.0.2:50000"),
            addr("127.0.0.1:4697")
        ));
        assert!(!reaches_itself(
            listen,
            addr("127.0.0.1:50000"),
            addr("127.0.0.2:4698")
        ));
        // Bound to every address: a connection that stayed on this host, to this port.
        let listen = addr("[::]:4697");
        assert!(reaches_itself(
            listen,
            addr("10.0.0.5:50000"),
            addr("10.0.0.5:4697")
        ));
        assert!(reaches_itself(
            listen,
            addr("[::ffff:127.0.0.1]:50000"),
            addr("127.0.0.1:4697")
        ));
        assert!(!reaches_itself(
            listen,
            addr("10.0.0.5:50000"),
            addr("10.0.0.6:4697")
        ));
    }
}
