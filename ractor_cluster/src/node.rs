//! The node: a [`NodeServer`] that accepts and opens connections, and one [`NodeSession`] per
//! connected peer.
//!
//! # Supervision
//!
//! ```text
//! NodeServer ─┬─ accept loop (a task, stopped with the server)
//!             ├─ redial tasks (one per lost peer it had dialed, aborted with the server)
//!             ├─ discovery task (with a discovery source; aborted with the server)
//!             ├─ downing timer (with a downing policy; aborted with the server)
//!             └─ NodeSession (one per connection, linked) ─┬─ reader task (decodes, delivers)
//!                                                          ├─ writer task (batches frames)
//!                                                          ├─ liveness task (heartbeats,
//!                                                          │  down detection, round-trip
//!                                                          │  probes, checks of silence
//!                                                          │  reports; asleep on a session
//!                                                          │  neither side watches or probes)
//!                                                          ├─ RemoteActor proxies (linked)
//!                                                          └─ actors the peer spawned (linked)
//! ```
//!
//! The server decides which peers this node watches (a few nearest on a ring of node ids, see
//! [`NodeServer::with_watched_peers`]) and tells the sessions; when a watched peer falls silent it
//! tells the other peers, whose sessions with that node then probe it and end too unless it
//! answers within one heartbeat interval.
//!
//! A session that ends (peer gone or silent for too long, protocol error, refused as a
//! duplicate) stops its proxies and fails the calls still waiting on it; the server reports it to
//! subscribers, dials the peer again if it had dialed it (see [`ReconnectPolicy`]), and keeps
//! serving everyone else.
//!
//! # Node identity
//!
//! A node is named `name@hostname`. The `node_id` of a peer (the one in the
//! `ActorId::Remote { node_id, .. }` of its proxies, and
//! [`NodeServerSessionInformation::peer_node_id`]) is derived from that name alone: the first 8
//! bytes, little endian, of SHA-256 over a fixed label and the name (PROTOCOL.md, "Node
//! identity"). Every node computes the same id for a peer, and it does not change when the peer
//! reconnects or restarts.
//!
//! A session has an id of its own, [`NodeServerSessionInformation::node_id`] (the name is the
//! published crate's, whose node ids were per connection): given when the connection opens,
//! before the peer's name is known, so every event of one session carries the same id, and
//! [`NodeServerMessage::GetSessions`] lists sessions under it. Two ids because one cannot do both:
//! a per-connection id cannot be the same on every node, and a name-derived id is unknown until the
//! peer has authenticated, yet events start before that.

pub mod client;
mod config;
mod defaults;
pub mod downing;
mod events;
pub(crate) mod exit;
mod graveyard;
mod liveness;
mod local_events;
pub mod membership;
pub(crate) mod names;
pub(crate) mod quota;
mod reader;
mod reconnect;
pub(crate) mod references;
mod server;
mod session;
pub(crate) mod spawn;
pub(crate) mod stats;
#[cfg(feature = "trace-context")]
mod traced;

// Nodes driven by the in-memory harness (`crate::testing`): what a peer can make a node do.
#[cfg(test)]
mod tests;

pub use crate::error::SessionEnd;
pub use config::{Announce, NodeConnectionMode, NodeServer};
pub use defaults::{
    DEFAULT_DOWN_AFTER, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_DISCOVERY_DIALS, DEFAULT_MAX_GROUPS_PER_PEER, DEFAULT_MAX_INBOUND_FRAME_SIZE,
    DEFAULT_MAX_OUTBOUND_QUEUE, DEFAULT_MAX_PROXIES, DEFAULT_MAX_PROXIES_PER_PEER,
    DEFAULT_MAX_QUEUED_CONTROL_MESSAGES, DEFAULT_MAX_REMOTE_SPAWNS_PER_PEER, DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_TRANSITIVE_DIALS, DEFAULT_MAX_UNANSWERED_CALLS,
    DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS, DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
    DEFAULT_REFERENCE_WAIT, DEFAULT_RTT_PROBE_INTERVAL, DEFAULT_WATCHED_PEERS,
    DEFAULT_WHERE_IS_NODE_RATE,
};
pub use events::{NodeEventSubscription, NodeInfo, NodeName, NodeServerSessionInformation};
pub use exit::{NAME_MOVED, NODE_LOST, NO_SUCH_ACTOR, PROXY_LIMIT, UNREACHABLE};
#[doc(hidden)]
pub use liveness::heartbeats_sent;
#[doc(hidden)]
pub use local_events::{local_actor_scans, local_changes_delivered};
pub use names::{register_message_type, registered_message_type, where_is};
pub use reconnect::ReconnectPolicy;
#[doc(hidden)]
pub use references::{proxies_created, proxies_running};
pub use server::message::{
    disconnect, node_info, peer_stats, NodeServerInternal, NodeServerMessage,
};
pub use server::NodeServerState;
pub use session::{NodeSession, NodeSessionMessage, NodeSessionState};
#[doc(hidden)]
pub use session::{NodeSessionInternal, SessionArgs};
pub use spawn::{register_spawnable, spawn_remote, RemoteSpawnError};
pub use stats::{LinkProtection, PeerStats, RoundTrip, RTT_WINDOW};

/// The numeric id of a node, as carried in `ActorId::Remote { node_id, .. }`. See the module docs
/// for how it is derived.
pub type NodeId = crate::protocol::identity::NodeId;
