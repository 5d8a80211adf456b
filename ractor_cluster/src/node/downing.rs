//! Downing: which side of a partition stays, decided on every node alone, from its own view.
//!
//! A node's failure detector only says that a peer is silent; it cannot tell a crashed peer from
//! one behind a cut link. If both sides of a partition carried on, each would believe the other
//! dead and act alone (a split brain). With a [`Downing`] set
//! ([`NodeServer::with_downing`](crate::NodeServer::with_downing); off by default, as in Akka), a
//! peer that falls silent stays [`Unreachable`](crate::membership::MemberStatus::Unreachable)
//! (dialed again, and admitted again if it comes back) until the view has not changed for
//! [`stable_after`](Downing::stable_after). Then the [`DowningStrategy`] decides, from the counts
//! of reachable and unreachable members, which side stays:
//!
//! * **This node's side stays**: every unreachable member is *downed*: its status becomes
//!   [`Down`](crate::membership::MemberStatus::Down) (a member event says why), its session (if
//!   one still runs) is closed, which stops its proxies with [`NODE_LOST`](crate::node::NODE_LOST)
//!   and fails its pending calls, it is no longer dialed, and that incarnation of it is fenced: it
//!   is refused if it connects again. Only a new run of that node (a restart) is admitted.
//! * **This node's side lost**: the unreachable members are downed the same way, and this node's
//!   own member goes [`Down`](crate::membership::MemberStatus::Down), with the reason in its
//!   member event: that is how the application learns it is on the losing side. What to do then
//!   (stop, restart to join again as a new incarnation, keep serving read-only) is the
//!   application's choice; this node decides nothing more.
//!
//! Every node of one side sees the same counts, so the nodes of a side decide alike without
//! talking about it. If the view keeps changing for longer than
//! [`down_all_when_unstable`](Downing::down_all_when_unstable) beyond `stable_after` (links
//! flapping, nodes failing one after the other), no side can be trusted to decide: every node
//! downs every peer and itself.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ractor::Actor;
//! use ractor_cluster::downing::{Downing, DowningStrategy};
//! use ractor_cluster::NodeServer;
//!
//! let server = NodeServer::new(0, "cookie".into(), "alpha".into(), "localhost".into(), None, None)
//!     .with_downing(Downing::new(DowningStrategy::KeepMajority).stable_after(Duration::from_secs(10)));
//! let (node, _handle) = Actor::spawn(None, server, ()).await?;
//! # Ok(()) }
//! ```
//!
//! The decision itself is a pure function of member sets ([`DowningStrategy::decide`]); the
//! timing around it is kept by a state machine that is given the time, so both are tested with
//! scripted views.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::NodeId;

/// Default time the view must stay unchanged before the strategy decides (20 s, as Akka's
/// split brain resolver); see [`Downing::stable_after`].
pub const DEFAULT_STABLE_AFTER: Duration = Duration::from_secs(20);

/// How the side that stays is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DowningStrategy {
    /// The side with more members stays; on a tie, the side with the member of the lowest node
    /// id. For a cluster whose size changes (nodes added and removed as load goes): it needs no
    /// setting, but when more than half of the nodes fail at once the survivors down themselves.
    KeepMajority,
    /// The side that reaches at least `size` members stays; a side smaller than that, and every
    /// side if the unreachable side could reach it too, lose. For a cluster of a fixed size N:
    /// with `size` = N/2 + 1 at most one side ever stays, however the cluster splits, but if
    /// more than N − `size` nodes fail, the whole cluster downs itself.
    StaticQuorum {
        /// The fewest members, this node included, the staying side must have.
        size: usize,
    },
}

/// Which side a node is on, as a [`DowningStrategy`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This node's side stays: the unreachable members are downed.
    Stays,
    /// This node's side lost.
    Lost,
}

impl DowningStrategy {
    /// Decides the side of a node that reaches `reachable` (its own id included) and not
    /// `unreachable`.
    pub fn decide(&self, reachable: &[NodeId], unreachable: &[NodeId]) -> Side {
        let stays = match *self {
            Self::KeepMajority => match reachable.len().cmp(&unreachable.len()) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => {
                    let lowest = |ids: &[NodeId]| ids.iter().min().copied();
                    match (lowest(reachable), lowest(unreachable)) {
                        (Some(here), Some(there)) => here < there,
                        (here, _) => here.is_some(),
                    }
                }
            },
            Self::StaticQuorum { size } => reachable.len() >= size && unreachable.len() < size,
        };
        if stays {
            Side::Stays
        } else {
            Side::Lost
        }
    }

    fn label(&self) -> String {
        match self {
            Self::KeepMajority => "keep-majority".to_owned(),
            Self::StaticQuorum { size } => format!("static quorum of {size}"),
        }
    }
}

/// A downing policy: a [`DowningStrategy`] and its timing. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downing {
    strategy: DowningStrategy,
    stable_after: Duration,
    down_all_when_unstable: Option<Duration>,
}

impl Downing {
    /// `strategy`, deciding once the view has been unchanged for [`DEFAULT_STABLE_AFTER`], and
    /// downing everyone when it has not settled within three quarters of that more.
    pub fn new(strategy: DowningStrategy) -> Self {
        Self {
            strategy,
            stable_after: DEFAULT_STABLE_AFTER,
            down_all_when_unstable: Some(DEFAULT_STABLE_AFTER * 3 / 4),
        }
    }

    /// Decides once the view (which members are reachable) has been unchanged for `stable_after`
    /// (default [`DEFAULT_STABLE_AFTER`]). Longer than the nodes' `down_after`, so that a silent
    /// peer's session has ended by then; long enough for a crashed node to be restarted and
    /// admitted back before anyone decides. Also sets
    /// [`down_all_when_unstable`](Self::down_all_when_unstable) to three quarters of it, as
    /// Akka does; set that after this to choose another.
    pub fn stable_after(mut self, stable_after: Duration) -> Self {
        self.stable_after = stable_after;
        self.down_all_when_unstable = Some(stable_after * 3 / 4);
        self
    }

    /// If members have been unreachable for `stable_after` plus this long without the view
    /// staying unchanged for `stable_after`, every node downs every peer and itself (default:
    /// three quarters of `stable_after`); `None` waits for a stable view however long it takes.
    pub fn down_all_when_unstable(mut self, limit: Option<Duration>) -> Self {
        self.down_all_when_unstable = limit;
        self
    }

    /// The strategy.
    pub fn strategy(&self) -> DowningStrategy {
        self.strategy
    }
}

/// One member as the decider sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) node_id: NodeId,
    pub(crate) reachable: bool,
}

/// What a node must do, as the [`Decider`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The members to down, by name.
    pub(crate) down: Vec<String>,
    /// Whether this node is down too (its side lost, or everyone is downed).
    pub(crate) local_down: bool,
    /// Why, for the logs and the member events.
    pub(crate) reason: String,
}

/// When to decide, and what: fed each new view with the time, asked at its deadline. No clock,
/// no I/O.
#[derive(Debug)]
pub(crate) struct Decider {
    config: Downing,
    /// The peers in the decision (neither down nor left), by name; the local node is not listed.
    view: BTreeMap<String, Seen>,
    local_id: NodeId,
    /// When the view last changed.
    changed_at: Instant,
    /// When a member was first unreachable, while some are.
    unstable_since: Option<Instant>,
    /// This node is down: it decides nothing more.
    done: bool,
}

impl Decider {
    pub(crate) fn new(config: Downing, local_id: NodeId, now: Instant) -> Self {
        Self {
            config,
            view: BTreeMap::new(),
            local_id,
            changed_at: now,
            unstable_since: None,
            done: false,
        }
    }

    /// The peers in the decision are now `view` (peers down or left are not in it).
    pub(crate) fn observe(&mut self, now: Instant, view: BTreeMap<String, Seen>) {
        if view == self.view {
            return;
        }
        self.view = view;
        self.changed_at = now;
        if self.view.values().any(|s| !s.reachable) {
            self.unstable_since.get_or_insert(now);
        } else {
            self.unstable_since = None;
        }
    }

    /// When to call [`poll`](Self::poll) next, if there is anything to decide.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let since = self.unstable_since.filter(|_| !self.done)?;
        let stable = self.changed_at.checked_add(self.config.stable_after);
        let give_up = self.config.down_all_when_unstable.and_then(|limit| {
            since
                .checked_add(self.config.stable_after)?
                .checked_add(limit)
        });
        match (stable, give_up) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The verdict due at `now`, if any. Once a verdict downs this node, there are no more.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Verdict> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        let unreachable: Vec<(&String, &Seen)> =
            self.view.iter().filter(|(_, s)| !s.reachable).collect();
        let stable = now.saturating_duration_since(self.changed_at) >= self.config.stable_after;
        let verdict = if stable {
            let reachable_ids: Vec<NodeId> = std::iter::once(self.local_id)
                .chain(
                    self.view
                        .values()
                        .filter(|s| s.reachable)
                        .map(|s| s.node_id),
                )
                .collect();
            let unreachable_ids: Vec<NodeId> = unreachable.iter().map(|(_, s)| s.node_id).collect();
            let side = self
                .config
                .strategy
                .decide(&reachable_ids, &unreachable_ids);
            let counts = format!(
                "{} reachable and {} unreachable members",
                reachable_ids.len(),
                unreachable_ids.len()
            );
            Verdict {
                down: unreachable
                    .iter()
                    .map(|(name, _)| (*name).clone())
                    .collect(),
                local_down: side == Side::Lost,
                reason: match side {
                    Side::Stays => format!(
                        "downed by {}: the other side of a partition ({counts} here)",
                        self.config.strategy.label()
                    ),
                    Side::Lost => format!(
                        "this node is on the losing side of a partition ({}, {counts})",
                        self.config.strategy.label()
                    ),
                },
            }
        } else {
            Verdict {
                down: self.view.keys().cloned().collect(),
                local_down: true,
                reason: format!(
                    "the view did not settle within {:?}: every member is downed",
                    self.config.stable_after
                        + self.config.down_all_when_unstable.unwrap_or_default()
                ),
            }
        };
        // The downed members leave the view when the server marks them down, and it changes.
        self.done = verdict.local_down;
        self.unstable_since = None;
        Some(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use DowningStrategy::*;

    #[test]
    fn keep_majority_keeps_the_larger_side() {
        assert_eq!(KeepMajority.decide(&[1, 2, 3], &[4, 5]), Side::Stays);
        assert_eq!(KeepMajority.decide(&[4, 5], &[1, 2, 3]), Side::Lost);
        // A node cut from everyone else.
        assert_eq!(KeepMajority.decide(&[5], &[1, 2, 3, 4]), Side::Lost);
        assert_eq!(KeepMajority.decide(&[1, 2, 3, 4], &[5]), Side::Stays);
    }

    #[test]
    fn keep_majority_on_a_tie_keeps_the_side_with_the_lowest_node_id() {
        assert_eq!(KeepMajority.decide(&[7, 3], &[9, 4]), Side::Stays);
        assert_eq!(KeepMajority.decide(&[9, 4], &[7, 3]), Side::Lost);
        assert_eq!(KeepMajority.decide(&[1], &[2]), Side::Stays);
        assert_eq!(KeepMajority.decide(&[2], &[1]), Side::Lost);
        assert_eq!(
            KeepMajority.decide(&[u64::MAX, 0], &[5, 6]),
            Side::Stays,
            "the lowest id, not the first listed"
        );
    }

    #[test]
    fn static_quorum_keeps_only_a_side_of_at_least_its_size() {
        let quorum = StaticQuorum { size: 3 };
        assert_eq!(quorum.decide(&[1, 2, 3], &[4, 5]), Side::Stays);
        assert_eq!(quorum.decide(&[4, 5], &[1, 2, 3]), Side::Lost);
        // Neither side of 2|2 reaches 3: both lose.
        assert_eq!(quorum.decide(&[1, 2], &[3, 4]), Side::Lost);
        assert_eq!(quorum.decide(&[3, 4], &[1, 2]), Side::Lost);
        // A quorum too small for the cluster: both sides could reach it, so both lose rather
        // than both stay.
        assert_eq!(quorum.decide(&[1, 2, 3], &[4, 5, 6]), Side::Lost);
    }

    fn t0() -> Instant {
        Instant::now()
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A view of peers named by their ids; `up` says which are reachable.
    fn view(peers: &[(NodeId, bool)]) -> BTreeMap<String, Seen> {
        peers
            .iter()
            .map(|&(node_id, reachable)| (format!("n{node_id}"), Seen { node_id, reachable }))
            .collect()
    }

    fn config() -> Downing {
        Downing::new(KeepMajority).stable_after(ms(1000))
    }

    #[test]
    fn nothing_is_decided_while_every_member_is_reachable() {
        let start = t0();
        let mut decider = Decider::new(config(), 1, start);
        decider.observe(start, view(&[(2, true), (3, true)]));
        assert_eq!(decider.deadline(), None);
        assert_eq!(decider.poll(start + ms(60_000)), None);
    }

    #[test]
    fn the_majority_downs_the_minority_once_the_view_is_stable() {
        let start = t0();
        let mut decider = Decider::new(config(), 1, start);
        decider.observe(start, view(&[(2, true), (3, true), (4, true), (5, true)]));
        // 3|2: node 4 goes silent first, node 5 a moment later.
        decider.observe(
            start + ms(100),
            view(&[(2, true), (3, true), (4, false), (5, true)]),
        );
        decider.observe(
            start + ms(300),
            view(&[(2, true), (3, true), (4, false), (5, false)]),
        );
        // Not before the view has been stable for `stable_after`, counted from the last change.
        assert_eq!(decider.deadline(), Some(start + ms(1300)));
        assert_eq!(decider.poll(start + ms(1299)), None);
        let verdict = decider.poll(start + ms(1300)).unwrap();
        assert_eq!(verdict.down, ["n4", "n5"]);
        assert!(!verdict.local_down);
        assert!(
            verdict.reason.contains("keep-majority"),
            "{}",
            verdict.reason
        );
        // Decided once: the downed members leave the view, and there is nothing more to decide.
        assert_eq!(decider.poll(start + ms(1400)), None);
        decider.observe(start + ms(1400), view(&[(2, true), (3, true)]));
        assert_eq!(decider.deadline(), None);
    }

    #[test]
    fn the_minority_learns_it_lost_and_decides_nothing_more() {
        let start = t0();
        let mut decider = Decider::new(config(), 4, start);
        decider.observe(
            start,
            view(&[(1, false), (2, false), (3, false), (5, true)]),
        );
        let verdict = decider.poll(start + ms(1000)).unwrap();
        assert_eq!(verdict.down, ["n1", "n2", "n3"]);
        assert!(verdict.local_down);
        assert!(verdict.reason.contains("losing side"), "{}", verdict.reason);
        decider.observe(start + ms(2000), view(&[(5, false)]));
        assert_eq!(decider.deadline(), None);
        assert_eq!(decider.poll(start + ms(60_000)), None);
    }

    #[test]
    fn a_member_heard_again_before_the_decision_is_not_downed() {
        let start = t0();
        let mut decider = Decider::new(config(), 1, start);
        decider.observe(start, view(&[(2, true), (3, false)]));
        decider.observe(start + ms(500), view(&[(2, true), (3, true)]));
        assert_eq!(decider.deadline(), None);
        assert_eq!(decider.poll(start + ms(5000)), None);
    }

    #[test]
    fn a_view_that_keeps_changing_downs_everyone() {
        let start = t0();
        let config = config().down_all_when_unstable(Some(ms(500)));
        let mut decider = Decider::new(config, 1, start);
        // A link flaps every 400 ms: never stable for 1000 ms.
        let mut now = start;
        let mut verdict = None;
        for i in 0..20 {
            decider.observe(now, view(&[(2, true), (3, i % 2 == 1), (4, false)]));
            now += ms(400);
            if let Some(v) = decider.poll(now) {
                verdict = Some((v, now));
                break;
            }
        }
        let (verdict, at) = verdict.expect("a verdict");
        // Unstable since the start, given up at stable_after + 500 ms.
        assert_eq!(at, start + ms(1600));
        assert_eq!(verdict.down, ["n2", "n3", "n4"]);
        assert!(verdict.local_down);
        assert!(
            verdict.reason.contains("did not settle"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn without_a_limit_an_unstable_view_waits_for_stability() {
        let start = t0();
        let config = config().down_all_when_unstable(None);
        let mut decider = Decider::new(config, 1, start);
        let mut now = start;
        for i in 0..50 {
            decider.observe(now, view(&[(2, true), (3, i % 2 == 1), (4, false)]));
            now += ms(400);
            assert_eq!(decider.poll(now), None);
        }
        // Then it settles: 3 is reachable, 4 is not; 3 against 1.
        now += ms(1000);
        let verdict = decider.poll(now).unwrap();
        assert_eq!(verdict.down, ["n4"]);
        assert!(!verdict.local_down);
    }

    #[test]
    fn stable_after_sets_the_default_instability_limit() {
        let downing = Downing::new(KeepMajority).stable_after(ms(4000));
        assert_eq!(downing.down_all_when_unstable, Some(ms(3000)));
        assert_eq!(
            Downing::new(KeepMajority).stable_after,
            DEFAULT_STABLE_AFTER
        );
    }
}
