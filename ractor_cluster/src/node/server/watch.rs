//! Which peers this node watches, and what it does when one of them falls silent.
//!
//! Every node of a full mesh could watch every other, but then an idle cluster of N nodes sends
//! N(N − 1) heartbeats per interval. Instead the node and its admitted peers form a ring ordered
//! by node id (and name, should two ids collide), and the node watches the
//! `watched_peers / 2` (rounded up) nearest peers on each side of itself. Nodes with the same view
//! pick the same pairs, so in a settled cluster each node watches about `watched_peers` others and
//! is watched by as many; where views differ for a moment, nothing breaks, since each session
//! tells its peer whether it is watched (`Watching`, see `liveness`).
//!
//! A crash closes the connections, which every peer notices at once; a frozen or cut-off node is
//! noticed only by its watchers. A watcher that declares a peer down for silence tells all its
//! other peers (`PeerSilent`, with the peer's incarnation), and each checks the report on its own
//! session with that run of the node before ending it: it probes the peer, and ends the session
//! only if nothing arrives within one heartbeat interval (see `liveness::check`; a peer older
//! than 2.5 answers no probe, and its session ends at once). So a frozen node is down everywhere
//! within `down_after`, one message and one heartbeat interval, while a node that one starved
//! watcher took for silent, but that answers, stays up on every other node.
//!
//! Hidden peers take no place on the ring: they are watched whatever the ring says (a frozen
//! viewer's session ends after `down_after`, as any), a hidden peer's silence is not reported to
//! the others (they may not know it), and a hidden peer's reports are not acted on (it is no
//! member, and has no say in who is).

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use ractor::ActorId;

use super::established::RingKey;
use super::{NodeServerState, SessionStatus};
use crate::node::session::SessionEvent;
use crate::node::{NodeId, NodeSessionMessage};
use crate::protocol::identity::node_id_of;

/// The peers on `ring` that a node whose ring key is `own` watches: those at most
/// `watched_peers / 2` (rounded up) places away from `own` on the ring of all these keys and
/// `own`. Looks at those places only (the ring is kept in order as sessions come and go), so
/// deciding again at each admission does not cost a sort of the whole cluster.
pub(super) fn ring_neighbours(
    ring: &BTreeMap<RingKey, ActorId>,
    own: &RingKey,
    watched_peers: usize,
) -> HashSet<ActorId> {
    let reach = watched_peers.div_ceil(2);
    if ring.len() <= reach.saturating_mul(2) {
        // Every peer is within reach on one side or the other.
        return ring.values().copied().collect();
    }
    let after = ring
        .range((Bound::Excluded(own), Bound::Unbounded))
        .chain(ring.range(..own))
        .take(reach);
    let before = ring
        .range(..own)
        .rev()
        .chain(ring.range((Bound::Excluded(own), Bound::Unbounded)).rev())
        .take(reach);
    after.chain(before).map(|(_, id)| *id).collect()
}

impl NodeServerState {
    /// Decides again which peers this node watches, and tells each session whose answer changed.
    /// Called whenever a session is admitted or an admitted one ends.
    ///
    /// `watching` holds the admitted visible sessions that watch their peer (a session starts
    /// watching, and admission adds it): only those, and the few nearest on the ring, can change.
    /// Hidden peers are always watched, and take no place on the ring.
    pub(super) fn update_watches(&mut self) {
        let own: RingKey = (
            node_id_of(&self.config.local.name),
            self.config.local.name.clone(),
        );
        let wanted = ring_neighbours(self.established.ring(), &own, self.watched_peers);
        let stop = self.watching.difference(&wanted).map(|id| (*id, false));
        let start = wanted.difference(&self.watching).map(|id| (*id, true));
        let changes: Vec<(ActorId, bool)> = stop.chain(start).collect();
        for (id, watch) in changes {
            if let Some(entry) = self
                .sessions
                .get_mut(&id)
                .filter(|e| e.status == SessionStatus::Authenticated)
            {
                if entry.watched != watch {
                    entry.watched = watch;
                    let _ = entry
                        .info
                        .actor
                        .cast(NodeSessionMessage::internal(SessionEvent::Watch(watch)));
                }
            }
        }
        self.watching = wanted;
    }

    /// The admitted session with `peer` (the run `incarnation`) ended for its silence: every other
    /// admitted session tells its peer (a 2.4 one; see `SessionEvent::ReportSilent`).
    pub(super) fn report_silent(&self, peer: &str, incarnation: u64, hidden: bool) {
        if hidden || self.config.hidden {
            // Others may not know a hidden peer; a hidden node has no say (see the module docs).
            return;
        }
        let node = node_id_of(peer);
        for entry in self.sessions.values() {
            let other = entry
                .info
                .peer_name
                .as_ref()
                .is_some_and(|n| n.name != peer);
            if entry.status == SessionStatus::Authenticated && other {
                let _ = entry.info.actor.cast(NodeSessionMessage::internal(
                    SessionEvent::ReportSilent { node, incarnation },
                ));
            }
        }
    }

    /// `reporter` declared `node` (the run `incarnation`) down for silence: the session with that
    /// run of the node, if any, checks the report and ends if it stands. A report about this node
    /// itself, or about another run of the node, changes nothing.
    pub(super) fn reported_silent(&self, node: NodeId, incarnation: u64, reporter: String) {
        let from_hidden = self.sessions.values().any(|e| {
            e.hidden
                && e.status == SessionStatus::Authenticated
                && e.info
                    .peer_name
                    .as_ref()
                    .is_some_and(|n| n.name == reporter)
        });
        if from_hidden {
            tracing::debug!(%reporter, "ignoring a hidden peer's report of a silent node");
            return;
        }
        let session = self.sessions.values().find(|e| {
            e.status == SessionStatus::Authenticated
                && e.incarnation == incarnation
                && e.info
                    .peer_name
                    .as_ref()
                    .is_some_and(|n| node_id_of(&n.name) == node)
        });
        if let Some(entry) = session {
            tracing::info!(
                peer = ?entry.info.peer_name.as_ref().map(|n| n.name.as_str()),
                %reporter,
                "a peer's watcher reports it silent"
            );
            let _ =
                entry
                    .info
                    .actor
                    .cast(NodeSessionMessage::internal(SessionEvent::ReportedSilent(
                        reporter,
                    )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peers `own` watches among `0..n` (its own number excluded), in order.
    fn watched_by(own: u64, n: u64, watched_peers: usize) -> Vec<u64> {
        let key = |p: u64| (p, String::new());
        let ring: BTreeMap<RingKey, ActorId> = (0..n)
            .filter(|p| *p != own)
            .map(|p| (key(p), ActorId::Local(p)))
            .collect();
        let mut watched: Vec<u64> = ring_neighbours(&ring, &key(own), watched_peers)
            .into_iter()
            .map(|id| id.pid())
            .collect();
        watched.sort_unstable();
        watched
    }

    #[test]
    fn a_node_watches_its_nearest_peers_on_both_sides_of_the_ring() {
        assert_eq!(watched_by(5, 20, 8), [1, 2, 3, 4, 6, 7, 8, 9]);
        // Around the ends of the ring.
        assert_eq!(watched_by(0, 20, 8), [1, 2, 3, 4, 16, 17, 18, 19]);
        assert_eq!(watched_by(19, 20, 4), [0, 1, 17, 18]);
        // An odd number counts as the even number above it.
        assert_eq!(watched_by(5, 20, 3), [3, 4, 6, 7]);
        // Two nodes whose ids collide are told apart by name.
        let ring: BTreeMap<RingKey, ActorId> = [(7, "b"), (7, "d"), (3, "x"), (9, "a")]
            .into_iter()
            .enumerate()
            .map(|(i, (id, name))| ((id, name.to_owned()), ActorId::Local(i as u64)))
            .collect();
        let watched = ring_neighbours(&ring, &(7, "c".to_owned()), 2);
        assert_eq!(watched, [ActorId::Local(0), ActorId::Local(1)].into());
    }

    #[test]
    fn in_a_small_cluster_every_node_watches_every_other() {
        assert_eq!(watched_by(2, 9, 8), [0, 1, 3, 4, 5, 6, 7, 8]);
        assert_eq!(watched_by(0, 3, 8), [1, 2]);
        assert_eq!(watched_by(7, 300, usize::MAX).len(), 299);
    }

    #[test]
    fn watching_is_mutual_when_the_views_agree() {
        for n in [2, 5, 10, 31, 64] {
            for a in 0..n {
                for b in watched_by(a, n, 8) {
                    assert!(watched_by(b, n, 8).contains(&a), "{a} watches {b} of {n}");
                }
            }
        }
    }

    #[test]
    fn each_node_of_a_large_cluster_is_watched_by_a_bounded_number_of_others() {
        let n = 256;
        let mut watchers = vec![0; n as usize];
        for a in 0..n {
            let watched = watched_by(a, n, 8);
            assert_eq!(watched.len(), 8);
            for b in watched {
                watchers[b as usize] += 1;
            }
        }
        assert!(watchers.iter().all(|w| *w == 8), "{watchers:?}");
    }
}
