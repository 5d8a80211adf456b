//! The admitted sessions, indexed by what the server looks them up by: the peer's name, and the
//! addresses discovery may list the peer under.
//!
//! The server keeps one `Authenticated` session per peer (see `admission`), and asks "is there
//! one with this peer, or at this address?" at every admission and whenever a discovery dial may
//! have ended. Answered by scanning every session, or by building a set from them, that is work
//! in proportion to the cluster's size per question, so in proportion to its square while a
//! cluster forms: at 256 nodes, building such a set whenever a dial might go was a fifth of all
//! the CPU the nodes used to form (`perf`). This index is kept as sessions are admitted and
//! leave that status, so each question costs one lookup.
//!
//! It also keeps which admitted peers discovery did not list (see [`Established::unlisted`]):
//! when a session becomes ready, its peer is told of this node's other peers but those its own
//! discovery lists too, which, in a cluster found from one list, is all of them. Checking each
//! peer against the list cost a lookup per peer per session (3.5 % of a forming 128-node
//! cluster's CPU, `perf`); with this set the common case looks at none.
//!
//! And it keeps the admitted visible peers in ring order (see `watch`), so that deciding which
//! of them this node watches, at every admission and end, looks at the few nearest it rather
//! than sorting them all.

use std::collections::{BTreeMap, HashMap, HashSet};

use ractor::ActorId;

use crate::node::NodeId;
use crate::protocol::identity::node_id_of;

/// Where a peer stands on the ring of `watch`: its node id, then its name, should two ids collide.
pub(super) type RingKey = (NodeId, String);

/// The admitted sessions by peer name, and how many of them each address stands for.
#[derive(Debug, Default)]
pub(super) struct Established {
    by_name: HashMap<String, ActorId>,
    addrs: HashMap<String, usize>,
    unlisted: HashSet<ActorId>,
    ring: BTreeMap<RingKey, ActorId>,
}

impl Established {
    /// `session`, with the peer `name`, was admitted; discovery may list the peer under `addrs`
    /// (the address it advertises, and the one it connects from with its advertised port).
    pub(super) fn admitted<'a>(
        &mut self,
        session: ActorId,
        name: &str,
        addrs: impl IntoIterator<Item = &'a str>,
    ) {
        self.by_name.insert(name.to_owned(), session);
        for addr in addrs {
            *self.addrs.entry(addr.to_owned()).or_default() += 1;
        }
    }

    /// `session`, admitted with the peer `name` and the addresses `addrs` (as it was admitted),
    /// is admitted no longer: superseded, or ended.
    pub(super) fn left<'a>(
        &mut self,
        session: ActorId,
        name: &str,
        addrs: impl IntoIterator<Item = &'a str>,
    ) {
        if self.by_name.get(name) == Some(&session) {
            self.by_name.remove(name);
        }
        self.unlisted.remove(&session);
        let key = (node_id_of(name), name.to_owned());
        if self.ring.get(&key) == Some(&session) {
            self.ring.remove(&key);
        }
        for addr in addrs {
            if let Some(count) = self.addrs.get_mut(addr) {
                *count -= 1;
                if *count == 0 {
                    self.addrs.remove(addr);
                }
            }
        }
    }

    /// The admitted session with the peer `name`, if any.
    pub(super) fn session_with(&self, name: &str) -> Option<ActorId> {
        self.by_name.get(name).copied()
    }

    /// How many sessions are admitted.
    pub(super) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Puts the admitted session `session` with the visible peer `name` on the ring.
    pub(super) fn on_ring(&mut self, session: ActorId, node: NodeId, name: &str) {
        self.ring.insert((node, name.to_owned()), session);
    }

    /// The admitted sessions with visible peers, in ring order.
    pub(super) fn ring(&self) -> &BTreeMap<RingKey, ActorId> {
        &self.ring
    }

    /// Notes whether the last discovery round listed the peer of the admitted session `session`
    /// (by the address it advertises). Set for each admitted session with a visible peer, at its
    /// admission and whenever a round lists something else.
    pub(super) fn set_listed(&mut self, session: ActorId, listed: bool) {
        if listed {
            self.unlisted.remove(&session);
        } else {
            self.unlisted.insert(session);
        }
    }

    /// The admitted sessions whose visible peers the last discovery round did not list.
    pub(super) fn unlisted(&self) -> impl Iterator<Item = &ActorId> {
        self.unlisted.iter()
    }

    /// Whether an admitted session's peer is `peer` (if known) or is listed at `addr`.
    pub(super) fn has(&self, peer: Option<&str>, addr: &str) -> bool {
        peer.is_some_and(|peer| self.by_name.contains_key(peer)) || self.addrs.contains_key(addr)
    }
}

#[cfg(test)]
mod tests {
    use ractor::ActorId;

    use super::Established;
    use crate::protocol::identity::node_id_of;

    #[test]
    fn an_address_stays_connected_while_any_admitted_session_stands_for_it() {
        let (a, b) = (ActorId::Local(1), ActorId::Local(2));
        let mut index = Established::default();
        index.admitted(a, "a@h", ["10.0.0.1:4000", "10.0.0.9:4000"]);
        index.admitted(b, "b@h", ["10.0.0.2:4000", "10.0.0.9:4000"]);
        assert_eq!(index.len(), 2);
        assert_eq!(index.session_with("a@h"), Some(a));
        assert!(index.has(None, "10.0.0.9:4000"));

        index.left(a, "a@h", ["10.0.0.1:4000", "10.0.0.9:4000"]);
        assert_eq!(index.session_with("a@h"), None);
        assert!(!index.has(Some("a@h"), "10.0.0.1:4000"));
        assert!(index.has(None, "10.0.0.9:4000"), "b still stands for it");
        assert!(index.has(Some("b@h"), "elsewhere:1"));

        index.left(b, "b@h", ["10.0.0.2:4000", "10.0.0.9:4000"]);
        assert_eq!(index.len(), 0);
        assert!(!index.has(None, "10.0.0.9:4000"));
    }

    #[test]
    fn a_session_that_leaves_does_not_take_a_newer_session_with_its_peer_out_of_the_index() {
        let (old, new) = (ActorId::Local(1), ActorId::Local(2));
        let mut index = Established::default();
        index.admitted(old, "a@h", ["10.0.0.1:4000"]);
        // The newer session is admitted before the old one is taken out (a replacement).
        index.admitted(new, "a@h", ["10.0.0.1:4000"]);
        index.left(old, "a@h", ["10.0.0.1:4000"]);
        assert_eq!(index.session_with("a@h"), Some(new));
        assert!(index.has(None, "10.0.0.1:4000"));
    }

    #[test]
    fn a_session_that_leaves_takes_its_place_on_the_ring_but_not_a_newer_ones() {
        let (old, new, other) = (ActorId::Local(1), ActorId::Local(2), ActorId::Local(3));
        let mut index = Established::default();
        let a = node_id_of("a@h");
        index.admitted(old, "a@h", []);
        index.on_ring(old, a, "a@h");
        index.admitted(other, "b@h", []);
        index.on_ring(other, node_id_of("b@h"), "b@h");
        index.admitted(new, "a@h", []);
        index.on_ring(new, a, "a@h");
        index.left(old, "a@h", []);
        let on_ring: Vec<ActorId> = index.ring().values().copied().collect();
        assert_eq!(on_ring.len(), 2);
        assert!(on_ring.contains(&new) && on_ring.contains(&other));
        index.left(new, "a@h", []);
        assert_eq!(index.ring().values().copied().collect::<Vec<_>>(), [other]);
    }

    #[test]
    fn an_unlisted_session_is_forgotten_when_it_is_listed_or_leaves() {
        let (a, b) = (ActorId::Local(1), ActorId::Local(2));
        let mut index = Established::default();
        index.admitted(a, "a@h", ["10.0.0.1:4000"]);
        index.admitted(b, "b@h", ["10.0.0.2:4000"]);
        index.set_listed(a, false);
        index.set_listed(b, false);
        index.set_listed(b, true);
        assert_eq!(index.unlisted().collect::<Vec<_>>(), [&a]);
        index.left(a, "a@h", ["10.0.0.1:4000"]);
        assert_eq!(index.unlisted().count(), 0);
    }
}
