//! The server's side of downing (see [`crate::node::downing`]): feeding each new view to the
//! decider, waking it at its deadline, and carrying out its verdicts: closing sessions, fencing
//! incarnations, telling the members' subscribers.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use ractor::ActorRef;

use super::message::{NodeServerMessage, ServerEvent};
use super::{NodeServerState, SessionStatus};
use crate::node::downing::{Decider, Downing, Verdict};
use crate::node::events::MemberStatus;
use crate::node::membership::MAX_FORMER_MEMBERS;
use crate::node::session::message::{NodeSessionMessage, SessionEvent};
use crate::node::NodeId;

/// Downing on one node: the decider, the incarnations it downed, and the timer that wakes it.
pub(super) struct DowningState {
    decider: Decider,
    /// Downed runs of nodes, `(name, incarnation)`: never admitted again. At most
    /// [`MAX_FORMER_MEMBERS`], the oldest forgotten first (as the view forgets former members).
    fenced: HashSet<(String, u64)>,
    fenced_order: VecDeque<(String, u64)>,
    /// The members' version the decider last saw.
    seen_version: Option<u64>,
    /// Wakes the server at the decider's deadline.
    timer: Option<(Instant, tokio::task::JoinHandle<()>)>,
}

impl Drop for DowningState {
    fn drop(&mut self) {
        if let Some((_, timer)) = &self.timer {
            timer.abort();
        }
    }
}

impl DowningState {
    pub(super) fn new(config: Downing, local_id: NodeId) -> Self {
        Self {
            decider: Decider::new(config, local_id, Instant::now()),
            fenced: HashSet::new(),
            fenced_order: VecDeque::new(),
            seen_version: None,
            timer: None,
        }
    }

    fn fence(&mut self, name: &str, incarnation: u64) {
        let key = (name.to_owned(), incarnation);
        if self.fenced.insert(key.clone()) {
            self.fenced_order.push_back(key);
        }
        while self.fenced_order.len() > MAX_FORMER_MEMBERS {
            if let Some(oldest) = self.fenced_order.pop_front() {
                self.fenced.remove(&oldest);
            }
        }
    }
}

impl NodeServerState {
    /// Whether this run of `name` was downed, and so may not be admitted.
    pub(super) fn is_fenced(&self, name: &str, incarnation: u64) -> bool {
        self.downing
            .as_ref()
            .is_some_and(|d| d.fenced.contains(&(name.to_owned(), incarnation)))
    }

    /// Called after every message the server handles: shows the decider the view if it changed,
    /// and arms the timer for its deadline.
    pub(super) fn review_downing(&mut self, myself: &ActorRef<NodeServerMessage>) {
        let version = self.members.version();
        let Some(downing) = self.downing.as_mut() else {
            return;
        };
        if downing.seen_version != Some(version) {
            downing.seen_version = Some(version);
            downing
                .decider
                .observe(Instant::now(), self.members.downing_view());
        }
        let deadline = downing.decider.deadline();
        if downing.timer.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        if let Some((_, timer)) = downing.timer.take() {
            timer.abort();
        }
        if let Some(at) = deadline {
            let server = myself.clone();
            let task = tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                let _ = server.cast(NodeServerMessage::internal(ServerEvent::DowningDue));
            });
            downing.timer = Some((at, task));
        }
    }

    /// The decider's deadline came: carries out its verdict, if it has one.
    pub(super) fn downing_due(&mut self) {
        let Some(downing) = self.downing.as_mut() else {
            return;
        };
        // The timer has fired; a new one is armed by `review_downing`.
        downing.timer = None;
        if let Some(verdict) = downing.decider.poll(Instant::now()) {
            self.carry_out(verdict);
        }
    }

    /// Downs the members the verdict names, and this node if it says so.
    fn carry_out(&mut self, verdict: Verdict) {
        let Verdict {
            down,
            local_down,
            reason,
        } = verdict;
        if local_down {
            tracing::warn!(%reason, downed = ?down, "downing: this node is down");
        } else {
            tracing::warn!(%reason, downed = ?down, "downing: members downed");
        }
        for name in &down {
            let Some(incarnation) = self.members.peer(name).map(|m| m.incarnation) else {
                continue;
            };
            if let Some(downing) = self.downing.as_mut() {
                downing.fence(name, incarnation);
            }
            // Not dialed again (dropping a `Wanted` aborts its redial).
            self.wanted.remove(name);
            for entry in self.sessions.values_mut() {
                let peer = entry.info.peer_name.as_ref().map(|n| n.name.as_str());
                if peer == Some(name.as_str()) && entry.status == SessionStatus::Authenticated {
                    entry.deliberate = true;
                    let _ =
                        entry
                            .info
                            .actor
                            .cast(NodeSessionMessage::internal(SessionEvent::Close(
                                reason.clone(),
                            )));
                }
            }
            self.members.set(name, MemberStatus::Down, Some(&reason));
        }
        if local_down {
            self.members.set_local(MemberStatus::Down, Some(&reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::downing::DowningStrategy;

    #[test]
    fn fenced_runs_are_bounded_and_the_oldest_forgotten_first() {
        let mut downing = DowningState::new(Downing::new(DowningStrategy::KeepMajority), 1);
        for i in 0..MAX_FORMER_MEMBERS + 10 {
            downing.fence(&format!("n{i}"), 7);
        }
        // The same run downed twice is fenced once.
        downing.fence("n1023", 7);
        assert_eq!(downing.fenced.len(), MAX_FORMER_MEMBERS);
        assert_eq!(downing.fenced_order.len(), MAX_FORMER_MEMBERS);
        assert!(!downing.fenced.contains(&("n9".to_owned(), 7)));
        assert!(downing.fenced.contains(&("n10".to_owned(), 7)));
        // Another run of a fenced node is not fenced.
        assert!(!downing.fenced.contains(&("n10".to_owned(), 8)));
    }
}
