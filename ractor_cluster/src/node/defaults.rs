//! The defaults of a node's settings: each is what [`NodeServer`](crate::NodeServer) uses until one
//! of its `with_` methods changes it.

use std::time::Duration;

/// Default largest body, in bytes, of one inbound frame from an authenticated peer (16 MiB).
///
/// A frame that claims more ends the session that sent it, before any of it is buffered. Change it
/// with
/// [`NodeServer::with_max_inbound_frame_size`](crate::NodeServer::with_max_inbound_frame_size);
/// outbound messages are checked against the same number, so configure every node of a cluster
/// alike.
pub const DEFAULT_MAX_INBOUND_FRAME_SIZE: u64 = 16 * 1024 * 1024;

/// Default time a peer has, from the moment its connection is accepted, to complete the TLS
/// handshake (if any) and then the authentication handshake (10 s); see
/// [`NodeServer::with_handshake_timeout`](crate::NodeServer::with_handshake_timeout).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time between two heartbeats of a session (1 s); see
/// [`NodeServer::with_heartbeat_interval`](crate::NodeServer::with_heartbeat_interval).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Default time between two round-trip probes of a session (10 s); see
/// [`NodeServer::with_rtt_probe_interval`](crate::NodeServer::with_rtt_probe_interval).
pub const DEFAULT_RTT_PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// Default silence after which a peer is declared down (5 s); see
/// [`NodeServer::with_down_after`](crate::NodeServer::with_down_after).
///
/// Five heartbeat intervals: a peer that is alive but whose scheduler is starved for a moment (a
/// loaded machine, a long blocking call on one of its threads, a paused VM migrating) misses up to
/// four heartbeats in a row without being declared down, which would cost a reconnection and fail
/// its pending calls for nothing; yet a frozen or unreachable peer is reported within about five
/// seconds instead of the minutes TCP takes on its own.
pub const DEFAULT_DOWN_AFTER: Duration = Duration::from_secs(5);

/// Default number of peers a node watches with heartbeats (8); see
/// [`NodeServer::with_watched_peers`](crate::NodeServer::with_watched_peers).
///
/// As Akka has each node watched by a handful of others rather than by all: a silent peer is still
/// found by several watchers within `down_after`, and every other node learns it from them, while
/// an idle cluster's heartbeats grow with the number of nodes instead of its square.
pub const DEFAULT_WATCHED_PEERS: usize = 8;

/// Default number of connections accepted and not yet authenticated that a node keeps at once (64);
/// see
/// [`NodeServer::with_max_unauthenticated_connections`](crate::NodeServer::with_max_unauthenticated_connections).
pub const DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS: usize = 64;

/// Default number of accepted connections from one IP address that may be waiting to authenticate
/// at once (32, half of [`DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS`]); see
/// [`NodeServer::with_max_unauthenticated_per_address`](crate::NodeServer::with_max_unauthenticated_per_address).
pub const DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS: usize = 32;

/// Default number of authenticated sessions a node keeps at once (1,024); see
/// [`NodeServer::with_max_sessions`](crate::NodeServer::with_max_sessions).
pub const DEFAULT_MAX_SESSIONS: usize = 1024;

/// Default bound on the bytes of casts, calls and replies queued for one peer and not yet written
/// (32 MiB); see
/// [`NodeServer::with_max_outbound_queue`](crate::NodeServer::with_max_outbound_queue).
pub const DEFAULT_MAX_OUTBOUND_QUEUE: usize = crate::net::DEFAULT_OUTBOUND_LIMIT;

/// Default number of a peer's calls that may wait for their answers on this node before the session
/// reads nothing more from that peer (1,024); see
/// [`NodeServer::with_max_unanswered_calls`](crate::NodeServer::with_max_unanswered_calls).
pub const DEFAULT_MAX_UNANSWERED_CALLS: usize = 1024;

/// Default number of proxies a node keeps for the actors of one peer (65,536); see
/// [`NodeServer::with_max_proxies_per_peer`](crate::NodeServer::with_max_proxies_per_peer).
pub const DEFAULT_MAX_PROXIES_PER_PEER: usize = 65_536;

/// Default number of proxies a node keeps for the actors of all its peers together (262,144); see
/// [`NodeServer::with_max_proxies`](crate::NodeServer::with_max_proxies).
pub const DEFAULT_MAX_PROXIES: usize = 262_144;

/// Default number of actors one peer may have spawned on a node and running at once (1,024); see
/// [`NodeServer::with_max_remote_spawns_per_peer`](crate::NodeServer::with_max_remote_spawns_per_peer).
pub const DEFAULT_MAX_REMOTE_SPAWNS_PER_PEER: usize = 1_024;

/// Default number of a peer's control messages (its announcements, group changes, requests) that a
/// session holds before it reads nothing more from the peer (256); see
/// [`NodeServer::with_max_queued_control_messages`](crate::NodeServer::with_max_queued_control_messages).
pub const DEFAULT_MAX_QUEUED_CONTROL_MESSAGES: usize = 256;

/// Default number of process groups (scope and name) that one peer's actors may be in, as this node
/// sees them (4,096); see
/// [`NodeServer::with_max_groups_per_peer`](crate::NodeServer::with_max_groups_per_peer).
pub const DEFAULT_MAX_GROUPS_PER_PEER: usize = 4_096;

/// Default number of nodes that a transitive node dials at once because its peers named them (16);
/// see [`NodeServer::with_max_transitive_dials`](crate::NodeServer::with_max_transitive_dials).
pub const DEFAULT_MAX_TRANSITIVE_DIALS: usize = 16;

/// Default number of discovered nodes that a node dials at once (16); see
/// [`NodeServer::with_max_discovery_dials`](crate::NodeServer::with_max_discovery_dials).
pub const DEFAULT_MAX_DISCOVERY_DIALS: usize = 16;

/// Default number of `where is node N?` questions a node answers per second for one peer (20); see
/// [`NodeServer::with_where_is_node_rate`](crate::NodeServer::with_where_is_node_rate).
pub const DEFAULT_WHERE_IS_NODE_RATE: u32 = 20;

/// How long, by default, a reference to an actor of a node that this node has no session with waits
/// for one before it fails; see
/// [`NodeServer::with_reference_wait`](crate::NodeServer::with_reference_wait).
pub const DEFAULT_REFERENCE_WAIT: Duration = Duration::from_secs(10);
