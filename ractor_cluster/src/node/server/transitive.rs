//! Transitive mode: a node connects to the peers of its peers.
//!
//! Every node, in either mode, tells a peer about the nodes it is connected to when the peer's
//! session is ready (as the published crate's nodes answer any peer that asks for their sessions
//! when it connects). Only a transitive receiver dials them, so a transitive node that dialed an
//! isolated one still reaches the rest of the cluster. A peer that connects later is not
//! announced to the others: a transitive node meets it when it connects to them itself, or when
//! it needs it (`WhereIsNode`, PROTOCOL.md rule R3).
//!
//! Hidden peers are never named to anyone, and are the exception to the above: they are told of
//! every visible peer that becomes ready later too, since no member dials a hidden node (it is not
//! named to them), and a hidden node that is to see the whole cluster has no other way to learn
//! who joined.

use std::collections::HashSet;
use std::time::Duration;

use ractor::{ActorId, ActorRef};

use super::message::NodeServerMessage;
use super::message::ServerEvent;
use super::{NodeServerState, SessionEntry, SessionStatus};
use crate::node::events::NodeName;
use crate::node::reconnect::DialTarget;
use crate::node::session::message::{NodeSessionMessage, SessionEvent};
use crate::node::NodeId;
use crate::protocol::listed::ListedDigest;
use crate::protocol::message::PeerAnnouncement;

/// How long a node tries to connect (and finish the TLS handshake, if any) to a peer it learned
/// about in transitive mode.
pub(super) const TRANSITIVE_DIAL_TIMEOUT: Duration = Duration::from_secs(10);

impl NodeServerState {
    /// Tells the peer of a session that just became ready about the other peers of this node,
    /// but for those its discovery lists too (`peer_view`, 2.10: see `Reconciler::shares_view`).
    pub(super) fn share_peers(&self, session: ActorId, peer_view: Option<ListedDigest>) {
        let Some(entry) = self.sessions.get(&session) else {
            return;
        };
        if self.config.hidden {
            // A hidden node introduces no one: it would join clusters that share a cookie.
            return;
        }
        // A peer whose discovery lists what this node's does is told only of the peers the
        // list leaves out (see `established`); any other peer, of all of them.
        let same_view = peer_view.as_ref().is_some_and(|view| {
            self.reconciler
                .as_ref()
                .is_some_and(|r| r.shares_view(view))
        });
        let candidates: Box<dyn Iterator<Item = (&ActorId, &SessionEntry)>> = if same_view {
            Box::new(
                self.established
                    .unlisted()
                    .filter_map(|id| self.sessions.get_key_value(id)),
            )
        } else {
            Box::new(self.sessions.iter())
        };
        let peers = candidates
            .filter(|(id, e)| {
                **id != session && e.status == SessionStatus::Authenticated && !e.hidden
            })
            .filter_map(|(_, e)| e.info.peer_name.as_ref())
            .map(|name| self.announcement_of(name))
            .collect::<Vec<_>>();
        if !peers.is_empty() {
            let _ = entry
                .info
                .actor
                .cast(NodeSessionMessage::internal(SessionEvent::SendPeers(peers)));
        }
    }

    /// Tells every ready hidden peer about the peer of `session`, which just became ready, if it
    /// is visible (see the module docs).
    pub(super) fn tell_hidden_peers(&self, session: ActorId) {
        if self.config.hidden {
            return;
        }
        let Some(name) = self
            .sessions
            .get(&session)
            .filter(|e| !e.hidden)
            .and_then(|e| e.info.peer_name.as_ref())
        else {
            return;
        };
        let announcement = self.announcement_of(name);
        for (id, entry) in &self.sessions {
            if *id != session
                && entry.hidden
                && entry.ready
                && entry.status == SessionStatus::Authenticated
            {
                let _ =
                    entry
                        .info
                        .actor
                        .cast(NodeSessionMessage::internal(SessionEvent::SendPeers(vec![
                            announcement.clone(),
                        ])));
            }
        }
    }

    /// Answers a peer that asked where `node` is, through its session `asker`, if this node has an
    /// authenticated session with `node`.
    pub(super) fn where_is_node(&self, node: NodeId, asker: &ActorRef<NodeSessionMessage>) {
        let known = self
            .sessions
            .values()
            .filter(|e| {
                e.status == SessionStatus::Authenticated
                    && !e.hidden
                    && e.info.peer_node_id() == Some(node)
            })
            .find_map(|e| e.info.peer_name.as_ref());
        if let Some(name) = known {
            let peer = self.announcement_of(name);
            let _ = asker.cast(NodeSessionMessage::internal(SessionEvent::SendPeers(vec![
                peer,
            ])));
        }
    }

    /// How a peer learns to reach `node` (dialed the way the user dialed: see [`Self::dial`]).
    fn announcement_of(&self, node: &NodeName) -> PeerAnnouncement {
        PeerAnnouncement {
            name: node.name.clone(),
            connection_string: node.connection_string.clone(),
            tls: self.tls_connector.is_some(),
        }
    }

    /// Connects to the peers of a peer that this node has no session with, nor is dialing.
    ///
    /// A peer announced by two nodes at once is dialed once: a second connection would only be
    /// opened to be closed again (see [`admit`](Self::admit)).
    pub(super) fn dial(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        peers: Vec<PeerAnnouncement>,
    ) {
        // Dials from connecting until authenticated: a peer cannot make this node open
        // connections to any number of addresses at once (`with_max_transitive_dials`).
        let mut under_way = self.dialing.len()
            + self
                .sessions
                .values()
                .filter(|e| {
                    !e.info.is_server
                        && e.status == SessionStatus::Opened
                        && e.dialed_peer.is_some()
                })
                .count();
        // Every peer of every session announces all its peers while a cluster forms: looked up
        // in a set built once per list, a list costs time in proportion to its length, not to
        // its length times this node's sessions.
        let mut in_session: HashSet<&str> = HashSet::with_capacity(self.sessions.len());
        for entry in self.sessions.values() {
            in_session.extend(entry.info.peer_name.as_ref().map(|n| n.name.as_str()));
            in_session.extend(entry.dialed_peer.as_deref());
        }
        for peer in peers {
            let known = peer.name == self.config.local.name
                || self.dialing.contains(&peer.name)
                || self
                    .wanted
                    .get(&peer.name)
                    .is_some_and(|w| w.task.is_some())
                || in_session.contains(peer.name.as_str());
            if known {
                continue;
            }
            // A peer that discovery lists is the reconciler's to dial: it agrees with the peer on
            // which of the two dials first, where a dial from here too would cross the peer's.
            if self
                .reconciler
                .as_ref()
                .is_some_and(|r| r.lists(&peer.connection_string))
            {
                continue;
            }
            if under_way >= self.max_transitive_dials {
                tracing::debug!(
                    peer = %peer.name,
                    under_way,
                    "not dialing a transitive peer now: as many dials are under way as allowed"
                );
                continue;
            }
            under_way += 1;
            self.dialing.insert(peer.name.clone());
            let server = myself.clone();
            let connector = self.tls_connector.clone();
            // Transitive peers are dialed the way the user dialed: with TLS if the user ever used
            // `client_connect_enc` on this node, with plain TCP otherwise.
            let target = DialTarget {
                tls: connector.map(|c| (c, host_of(&peer.connection_string).to_owned())),
                addr: peer.connection_string,
            };
            tokio::spawn(async move {
                let stream = match target.dial(TRANSITIVE_DIAL_TIMEOUT).await {
                    Ok(stream) => Some(stream),
                    Err(err) => {
                        tracing::info!(peer = %peer.name, addr = %target.addr, %err, "cannot connect to a transitive peer");
                        None
                    }
                };
                let _ = server.cast(NodeServerMessage::internal(ServerEvent::Dialed {
                    peer: peer.name,
                    stream,
                    target,
                }));
            });
        }
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed), for TLS name checks.
pub(super) fn host_of(connection_string: &str) -> &str {
    let host = connection_string
        .rsplit_once(':')
        .map_or(connection_string, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_strips_port_and_brackets() {
        assert_eq!(host_of("node.example:4697"), "node.example");
        assert_eq!(host_of("[::1]:4697"), "::1");
        assert_eq!(host_of("plain"), "plain");
    }
}
