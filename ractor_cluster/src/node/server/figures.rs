//! What the server tells of its sessions' figures: the snapshot `peer_stats` answers with, the
//! count of sessions per peer behind its reconnections, and (with the `metrics` feature) their
//! publication (see `node::stats`).

use ractor::ActorId;

use super::{NodeServerState, SessionStatus};
use crate::node::stats::{PeerIdentity, PeerStats};

impl NodeServerState {
    /// The figures of every admitted session.
    pub(super) fn peer_stats(&self) -> Vec<PeerStats> {
        self.sessions
            .values()
            .filter(|e| e.status == SessionStatus::Authenticated)
            .filter_map(|entry| {
                let name = entry.info.peer_name.as_ref()?.name.clone();
                let admitted = self.admitted.get(&name).copied().unwrap_or(1);
                entry.stats.snapshot(PeerIdentity {
                    session_id: entry.info.node_id,
                    name,
                    addr: entry.info.peer_addr.clone(),
                    incarnation: entry.incarnation,
                    inbound: entry.info.is_server,
                    reconnections: admitted.saturating_sub(1),
                    hidden: entry.hidden,
                })
            })
            .collect()
    }

    /// A session with `peer` was admitted: counted for the figures' reconnections.
    pub(super) fn count_admitted(&mut self, session: ActorId, peer: &str) {
        *self.admitted.entry(peer.to_owned()).or_default() += 1;
        #[cfg(feature = "metrics")]
        {
            let node = &self.config.local.name;
            crate::node::stats::exporter::session_admitted(node, peer);
            if let Some(entry) = self.sessions.get_mut(&session) {
                entry.metrics = Some(crate::node::stats::exporter::PeerMetrics::new(node, peer));
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = session;
    }

    /// Publishes every admitted session's figures through `metrics`.
    #[cfg(feature = "metrics")]
    pub(super) fn publish_metrics(&mut self) {
        for entry in self.sessions.values_mut() {
            if let Some(metrics) = &mut entry.metrics {
                metrics.publish(&entry.stats);
            }
        }
    }
}
