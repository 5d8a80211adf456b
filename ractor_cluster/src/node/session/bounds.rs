//! State a session keeps to bound what its peer can make this node hold or do: the process groups
//! the peer's actors are in (`with_max_groups_per_peer`, PROTOCOL.md rule L2), and the rate of
//! its `WhereIsNode` questions (`with_where_is_node_rate`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ractor::ActorRef;

use crate::protocol::limits::MAX_GROUP_NAME_LEN;
use crate::remote_actor::RemoteActorMessage;

/// The groups (scope, name) that the peer's actors joined here, with the pids in each.
#[derive(Debug)]
pub(super) struct PeerGroups {
    groups: HashMap<(String, String), HashSet<u64>>,
    max: usize,
    /// Whether the bound was reported for this session already (once is enough).
    reported: bool,
}

impl PeerGroups {
    pub(super) fn new(max: usize) -> Self {
        Self {
            groups: HashMap::new(),
            max,
            reported: false,
        }
    }

    /// Whether the peer's actors `pids` may join `group` in `scope`: its names are not too long
    /// (rule L2), and the group is one the peer is already in or the peer's groups are below the
    /// bound. Records them if so.
    pub(super) fn join(
        &mut self,
        scope: &str,
        group: &str,
        pids: &[u64],
        proxies: &HashMap<u64, ActorRef<RemoteActorMessage>>,
        peer: &str,
    ) -> bool {
        if scope.len() > MAX_GROUP_NAME_LEN || group.len() > MAX_GROUP_NAME_LEN {
            tracing::warn!(
                peer,
                scope_len = scope.len(),
                group_len = group.len(),
                "ignoring a group join: a scope or group name is longer than {MAX_GROUP_NAME_LEN} bytes"
            );
            return false;
        }
        let key = (scope.to_owned(), group.to_owned());
        if !self.groups.contains_key(&key) && self.groups.len() >= self.max {
            // Groups whose members have all stopped since count no more.
            self.groups.retain(|_, members| {
                members.retain(|pid| proxies.contains_key(pid));
                !members.is_empty()
            });
            if self.groups.len() >= self.max {
                if !self.reported {
                    self.reported = true;
                    tracing::warn!(
                        peer,
                        max = self.max,
                        "ignoring group joins: the peer's actors are in as many groups as this \
                         node keeps for one peer (with_max_groups_per_peer)"
                    );
                }
                return false;
            }
        }
        self.groups
            .entry(key)
            .or_default()
            .extend(pids.iter().filter(|pid| proxies.contains_key(pid)));
        true
    }

    /// The peer's actors `pids` left `group` in `scope`.
    pub(super) fn leave(&mut self, scope: &str, group: &str, pids: &[u64]) {
        let key = (scope.to_owned(), group.to_owned());
        if let Some(members) = self.groups.get_mut(&key) {
            for pid in pids {
                members.remove(pid);
            }
            if members.is_empty() {
                self.groups.remove(&key);
            }
        }
    }
}

/// At most `per_second` events in any one-second window that starts at the first event after the
/// previous window.
#[derive(Debug)]
pub(super) struct Rate {
    per_second: u32,
    window: Option<(Instant, u32)>,
}

impl Rate {
    pub(super) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window: None,
        }
    }

    /// Whether an event at `now` is within the rate; counts it if so.
    pub(super) fn admit(&mut self, now: Instant) -> bool {
        match &mut self.window {
            Some((start, count))
                if now.saturating_duration_since(*start) < Duration::from_secs(1) =>
            {
                if *count >= self.per_second {
                    return false;
                }
                *count += 1;
                true
            }
            _ => {
                self.window = Some((now, 1));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_admits_so_many_per_second() {
        let mut rate = Rate::new(3);
        let start = Instant::now();
        assert!((0..3).all(|_| rate.admit(start)));
        assert!(!rate.admit(start + Duration::from_millis(999)));
        assert!(rate.admit(start + Duration::from_secs(1)));
    }
}
