//! The server's membership view: one member per node name, its status kept from the sessions'
//! lives, and the subscriptions told of each change. See [`crate::node::membership`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use ractor::{ActorId, ActorRef};

use super::message::{NodeServerMessage, ServerEvent};
use super::{NodeServerState, SessionStatus};
use crate::error::SessionEnd;
use crate::node::downing::Seen;
use crate::node::events::{Member, MemberEvent, MemberStatus, MemberSubscription};
use crate::node::membership::MAX_FORMER_MEMBERS;
use crate::node::session::SessionEvent;
use crate::node::{NodeId, NodeSessionMessage};

/// How long a stopping node waits for its sessions to queue the news that it is leaving.
const LEAVE_NOTICE_TIMEOUT: Duration = Duration::from_secs(1);

struct Entry {
    member: Member,
    /// When the status last changed, in changes counted by the table: the oldest former member
    /// is forgotten first.
    changed: u64,
}

/// The members a node knows, and who is told of their changes.
pub(super) struct MemberTable {
    local: Member,
    peers: HashMap<String, Entry>,
    changes: u64,
    /// Bumped by every change that is told: downing looks at the view again only when it moved.
    version: u64,
    subscriptions: HashMap<String, Box<dyn MemberSubscription>>,
}

impl MemberTable {
    pub(super) fn new(name: String, node_id: NodeId, incarnation: u64, address: String) -> Self {
        Self {
            local: Member {
                name,
                node_id,
                incarnation,
                address,
                status: MemberStatus::Up,
            },
            peers: HashMap::new(),
            changes: 0,
            version: 0,
            subscriptions: HashMap::new(),
        }
    }

    /// Every member, this node included, sorted by name.
    pub(super) fn list(&self) -> Vec<Member> {
        let mut members: Vec<Member> = std::iter::once(self.local.clone())
            .chain(self.peers.values().map(|e| e.member.clone()))
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members
    }

    pub(super) fn subscribe(&mut self, id: String, subscription: Box<dyn MemberSubscription>) {
        for member in self.list() {
            subscription.member_changed(MemberEvent {
                member,
                previous: None,
                reason: None,
            });
        }
        self.subscriptions.insert(id, subscription);
    }

    pub(super) fn unsubscribe(&mut self, id: &str) {
        self.subscriptions.remove(id);
    }

    fn tell(&mut self, member: &Member, previous: Option<MemberStatus>, reason: Option<&str>) {
        self.version += 1;
        for subscription in self.subscriptions.values() {
            subscription.member_changed(MemberEvent {
                member: member.clone(),
                previous,
                reason: reason.map(str::to_owned),
            });
        }
    }

    /// The local node is leaving.
    pub(super) fn leaving(&mut self) {
        self.set_local(MemberStatus::Leaving, None);
    }

    /// Sets the local node's status, if it differs.
    pub(super) fn set_local(&mut self, status: MemberStatus, reason: Option<&str>) {
        if self.local.status != status {
            let previous = self.local.status;
            self.local.status = status;
            let local = self.local.clone();
            self.tell(&local, Some(previous), reason);
        }
    }

    /// A count that changes whenever a member does.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// The peer called `name`, if known.
    pub(super) fn peer(&self, name: &str) -> Option<&Member> {
        self.peers.get(name).map(|e| &e.member)
    }

    /// The peers a downing decision is about: up (reachable) or unreachable. Members down, left
    /// or leaving are out of it.
    pub(super) fn downing_view(&self) -> BTreeMap<String, Seen> {
        self.peers
            .iter()
            .filter_map(|(name, e)| {
                let reachable = match e.member.status {
                    MemberStatus::Up => true,
                    MemberStatus::Unreachable => false,
                    _ => return None,
                };
                let seen = Seen {
                    node_id: e.member.node_id,
                    reachable,
                };
                Some((name.clone(), seen))
            })
            .collect()
    }

    /// A session with `name` was admitted.
    pub(super) fn up(&mut self, name: &str, node_id: NodeId, incarnation: u64, address: &str) {
        self.changes += 1;
        let changed = self.changes;
        let (member, previous) = match self.peers.get_mut(name) {
            Some(entry) => {
                let previous = entry.member.status;
                let same = previous == MemberStatus::Up
                    && entry.member.incarnation == incarnation
                    && entry.member.address == address;
                if same {
                    return;
                }
                entry.member.status = MemberStatus::Up;
                entry.member.incarnation = incarnation;
                address.clone_into(&mut entry.member.address);
                entry.changed = changed;
                (entry.member.clone(), Some(previous))
            }
            None => {
                let member = Member {
                    name: name.to_owned(),
                    node_id,
                    incarnation,
                    address: address.to_owned(),
                    status: MemberStatus::Up,
                };
                self.peers.insert(
                    name.to_owned(),
                    Entry {
                        member: member.clone(),
                        changed,
                    },
                );
                (member, None)
            }
        };
        self.tell(&member, previous, None);
        self.forget_oldest_former();
    }

    /// Sets the status of a known peer, if it differs.
    pub(super) fn set(&mut self, name: &str, status: MemberStatus, reason: Option<&str>) {
        self.changes += 1;
        let changed = self.changes;
        let Some(entry) = self.peers.get_mut(name) else {
            return;
        };
        let previous = entry.member.status;
        if previous == status {
            return;
        }
        entry.member.status = status;
        entry.changed = changed;
        let member = entry.member.clone();
        self.tell(&member, Some(previous), reason);
        self.forget_oldest_former();
    }

    /// The admitted session with `name` ended: the peer left if it said it was leaving; a peer
    /// already down stays so; otherwise it is unreachable if `until_downed` (a downing strategy
    /// decides when it is down), and down if not.
    pub(super) fn session_lost(&mut self, name: &str, reason: Option<&str>, until_downed: bool) {
        let Some(status) = self.peers.get(name).map(|e| e.member.status) else {
            return;
        };
        let reason = Some(reason.unwrap_or("the session ended"));
        match status {
            MemberStatus::Leaving => self.set(name, MemberStatus::Left, None),
            MemberStatus::Down | MemberStatus::Left => {}
            _ if until_downed => self.set(name, MemberStatus::Unreachable, reason),
            _ => self.set(name, MemberStatus::Down, reason),
        }
    }

    fn forget_oldest_former(&mut self) {
        let former = |e: &Entry| matches!(e.member.status, MemberStatus::Down | MemberStatus::Left);
        let count = self.peers.values().filter(|e| former(e)).count();
        if count <= MAX_FORMER_MEMBERS {
            return;
        }
        let oldest = self
            .peers
            .iter()
            .filter(|(_, e)| former(e))
            .min_by_key(|(_, e)| e.changed)
            .map(|(name, _)| name.clone());
        if let Some(name) = oldest {
            self.peers.remove(&name);
        }
    }
}

impl NodeServerState {
    /// The name of the admitted peer of `session`.
    fn admitted_peer(&self, session: &ActorId) -> Option<String> {
        self.sessions
            .get(session)
            .filter(|e| e.status == SessionStatus::Authenticated)
            .and_then(|e| e.info.peer_name.as_ref())
            .map(|n| n.name.clone())
    }

    /// The peer of `session` is leaving: it is not dialed again when its session closes, and it
    /// shows as leaving, then left.
    pub(super) fn peer_leaving(&mut self, session: &ActorId) {
        let Some(peer) = self.admitted_peer(session) else {
            return;
        };
        if let Some(entry) = self.sessions.get_mut(session) {
            entry.deliberate = true;
        }
        self.members.set(&peer, MemberStatus::Leaving, None);
    }

    /// The admitted session with `peer` (its name, why the session ended, whether it is
    /// unreachable until downed) ended with `end`: its member is lost, unless the peer closed it
    /// because it keeps another session with this node. Then the other session is being admitted
    /// here too (both sides apply the same rule), so the member stays as it is for a handshake
    /// timeout, and is lost only if no session with the peer was admitted by then. Without this,
    /// every crossed dial whose two sessions were admitted in opposite orders on the two nodes
    /// showed the peer down and up again.
    pub(super) fn session_lost(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        peer: (String, Option<String>, bool),
        end: &SessionEnd,
    ) {
        if !end.peer_kept_another_session() {
            let (name, reason, until_downed) = peer;
            self.members
                .session_lost(&name, reason.as_deref(), until_downed);
            return;
        }
        tracing::debug!(peer = %peer.0, "the peer keeps another session with this node");
        let grace = self.config.handshake_timeout;
        let event = ServerEvent::LostUnlessBack(peer);
        // A detached timer: if the server stops first, there is no one to tell.
        drop(myself.send_after(grace, move || NodeServerMessage::internal(event)));
    }

    /// A handshake timeout after the peer closed a session for another one (see
    /// [`Self::session_lost`]): lost if no session with it is admitted now.
    pub(super) fn lost_unless_back(&mut self, peer: (String, Option<String>, bool)) {
        let (name, reason, until_downed) = peer;
        let back = self.sessions.values().any(|e| {
            e.status == SessionStatus::Authenticated
                && e.info.peer_name.as_ref().is_some_and(|n| n.name == name)
        });
        if !back {
            self.members
                .session_lost(&name, reason.as_deref(), until_downed);
        }
    }

    /// The peer of `session` fell silent for half of `down_after`, or was heard from again.
    pub(super) fn reachability(&mut self, session: &ActorId, reachable: bool) {
        let Some(peer) = self.admitted_peer(session) else {
            return;
        };
        let status = self.members.peer(&peer).map(|m| m.status);
        match (status, reachable) {
            (Some(MemberStatus::Up), false) => {
                self.members.set(&peer, MemberStatus::Unreachable, None);
            }
            (Some(MemberStatus::Unreachable), true) => {
                self.members.set(&peer, MemberStatus::Up, None);
            }
            _ => {}
        }
    }

    /// This node is stopping: tells every peer it is leaving (queued on each session before the
    /// sessions are stopped, so it goes out first), waiting at most [`LEAVE_NOTICE_TIMEOUT`].
    pub(super) async fn leave(&mut self) {
        self.members.leaving();
        let notices: FuturesUnordered<_> = self
            .sessions
            .values()
            .filter(|e| e.status == SessionStatus::Authenticated)
            .map(|e| {
                let session = e.info.actor.clone();
                async move {
                    let _ = ractor::call!(session, |reply| NodeSessionMessage::internal(
                        SessionEvent::Leave(reply)
                    ));
                }
            })
            .collect();
        let all = notices.collect::<Vec<()>>();
        if tokio::time::timeout(LEAVE_NOTICE_TIMEOUT, all)
            .await
            .is_err()
        {
            tracing::debug!("some peers were not told that this node is leaving");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A member's name, its previous status and its new one.
    type Change = (String, Option<MemberStatus>, MemberStatus);

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Change>>>);

    impl MemberSubscription for Recorder {
        fn member_changed(&self, event: MemberEvent) {
            self.0
                .lock()
                .unwrap()
                .push((event.member.name, event.previous, event.member.status));
        }
    }

    fn table() -> MemberTable {
        MemberTable::new("me@h".into(), 1, 7, "h:1".into())
    }

    #[test]
    fn statuses_follow_the_sessions_and_subscribers_hear_each_change() {
        let mut table = table();
        let recorder = Recorder::default();
        table.subscribe("r".into(), Box::new(recorder.clone()));
        table.up("b@h", 2, 10, "h:2");
        table.up("b@h", 2, 10, "h:2"); // no change, no event
        table.set("b@h", MemberStatus::Unreachable, None);
        table.set("b@h", MemberStatus::Up, None);
        table.session_lost("b@h", Some("broken pipe"), false);
        table.up("b@h", 2, 11, "h:2"); // restarted
        table.set("b@h", MemberStatus::Leaving, None);
        table.session_lost("b@h", Some("closed"), false);
        use MemberStatus::*;
        let b = |p, s| ("b@h".to_owned(), p, s);
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                ("me@h".to_owned(), None, Up),
                b(None, Up),
                b(Some(Up), Unreachable),
                b(Some(Unreachable), Up),
                b(Some(Up), Down),
                b(Some(Down), Up),
                b(Some(Up), Leaving),
                b(Some(Leaving), Left),
            ]
        );
        let listed = table.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].name, "b@h");
        assert_eq!(listed[0].incarnation, 11);
    }

    #[test]
    fn with_downing_a_lost_peer_is_unreachable_until_downed_and_stays_down() {
        let mut table = table();
        table.up("b@h", 2, 10, "h:2");
        table.session_lost("b@h", Some("silent"), true);
        assert_eq!(table.peer("b@h").unwrap().status, MemberStatus::Unreachable);
        assert!(!table.downing_view()["b@h"].reachable);
        table.set("b@h", MemberStatus::Down, Some("downed"));
        // Its session, closed by the downing, ends afterwards: it stays down, out of the view.
        table.session_lost("b@h", Some("closed"), true);
        assert_eq!(table.peer("b@h").unwrap().status, MemberStatus::Down);
        assert!(table.downing_view().is_empty());
        // A user's disconnect is no failure to decide on: down at once.
        table.up("c@h", 3, 1, "h:3");
        table.session_lost("c@h", None, false);
        assert_eq!(table.peer("c@h").unwrap().status, MemberStatus::Down);
    }

    #[test]
    fn former_members_are_bounded() {
        let mut table = table();
        for i in 0..MAX_FORMER_MEMBERS + 10 {
            let name = format!("n{i}");
            table.up(&name, i as u64, 1, "h:1");
            table.session_lost(&name, None, false);
        }
        assert_eq!(table.list().len(), MAX_FORMER_MEMBERS + 1);
        // The oldest were forgotten.
        assert!(!table.list().iter().any(|m| m.name == "n0"));
    }
}
