//! What the node server keeps of each session: its entry, where it stands, and where its
//! connection came from.

use std::sync::Arc;

use super::message::Waiter;
use crate::net::PendingSlot;
use crate::node::events::NodeServerSessionInformation;
use crate::node::reconnect::DialTarget;
use crate::node::session::EndSlot;
use crate::node::stats::LinkCounters;

/// One session, as the server tracks it.
pub(super) struct SessionEntry {
    pub(super) info: NodeServerSessionInformation,
    pub(super) status: SessionStatus,
    /// The peer's incarnation, once admitted.
    pub(super) incarnation: u64,
    /// The handshake's name for the connection, the same on both nodes; once admitted.
    pub(super) connection_key: [u8; 32],
    /// The peer's node id, once admitted (hashed once: `watch` sorts by it at every admission).
    pub(super) peer_node_id: crate::node::NodeId,
    /// The address discovery most likely lists the peer under, once admitted (worked out once,
    /// for the index of admitted sessions: see `established`).
    pub(super) seen_address: Option<String>,
    /// The peer this node dialed in transitive mode or is dialing again, before it has
    /// authenticated.
    pub(super) dialed_peer: Option<String>,
    /// How this node dialed the peer, if it did (and can again).
    pub(super) dial_target: Option<DialTarget>,
    /// `connect_and_wait` callers waiting for this session to be ready.
    pub(super) waiters: Vec<Waiter>,
    /// Both sides finished the initial exchange.
    pub(super) ready: bool,
    /// Ended on purpose (replaced, refused as a duplicate, disconnected by the user): not redialed.
    pub(super) deliberate: bool,
    /// Where the session leaves why it ended.
    pub(super) end: Arc<EndSlot>,
    /// This node watches the peer (see `watch`); sessions start watching.
    pub(super) watched: bool,
    /// The peer is a hidden node, once admitted: no member here, named to no one (see
    /// `transitive`, `watch`).
    pub(super) hidden: bool,
    /// The session's figures.
    pub(super) stats: Arc<LinkCounters>,
    /// Its metric handles, once the peer is admitted.
    #[cfg(feature = "metrics")]
    pub(super) metrics: Option<crate::node::stats::exporter::PeerMetrics>,
}

impl SessionEntry {
    /// The addresses discovery may list an admitted session's peer under: the one it advertises,
    /// and the one it connects from with its advertised port (a peer that dialed this node may
    /// advertise a name where discovery lists its address).
    pub(super) fn listed_addresses(&self) -> impl Iterator<Item = &str> {
        let advertised = self.info.peer_name.as_ref();
        advertised
            .map(|name| name.connection_string.as_str())
            .into_iter()
            .chain(self.seen_address.as_deref())
    }
}

/// Where a session stands, as far as the server is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionStatus {
    /// Handshaking, or authenticated and waiting for a superseded session to stop.
    Opened,
    /// Admitted: listed by `GetSessions`, and the only one for its peer.
    Authenticated,
    /// Replaced by a newer session to the same peer (a simultaneous connection that won the
    /// tie-break, or a restarted peer) and stopping.
    Superseded,
}

/// Where a connection that is to get a session comes from.
#[derive(Default)]
pub(super) struct Opening {
    /// The peer opened the connection.
    pub(super) is_server: bool,
    /// The peer this node meant to reach (a transitive dial or a redial).
    pub(super) dialed_peer: Option<String>,
    /// How to dial the peer again.
    pub(super) target: Option<DialTarget>,
    /// Waits for the session to be ready.
    pub(super) waiter: Option<Waiter>,
    /// The connection's place among those waiting to authenticate, from the accept loop.
    pub(super) slot: Option<PendingSlot>,
}

impl Opening {
    /// A connection this node dialed, to `dialed_peer` if it knows whom, at `target`.
    pub(super) fn dialed(dialed_peer: Option<String>, target: Option<DialTarget>) -> Self {
        Self {
            dialed_peer,
            target,
            ..Self::default()
        }
    }

    /// A connection the user handed over.
    pub(super) fn handed_over(is_server: bool) -> Self {
        Self {
            is_server,
            ..Self::default()
        }
    }
}
