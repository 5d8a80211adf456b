//! Limits on what one control message of an authenticated peer may ask for (PROTOCOL.md, section
//! 10, rules L1 to L3). A frame is already bounded in bytes; these bound the work and the state
//! that its contents make the receiver take on.

/// Most pids one `ActorsWanted` may name (rule L1): a node asks for the actors it makes proxies
/// for on demand, one reference at a time, so a longer list is a protocol error.
pub(crate) const MAX_WANTED_PIDS: usize = 4_096;

/// Longest scope or group name, in bytes, of a `GroupJoined` the receiver acts on (rule L2).
pub(crate) const MAX_GROUP_NAME_LEN: usize = 1_024;

/// Most entries of one `PeersKnown` the receiver considers (rule L3); the rest are ignored.
pub(crate) const MAX_PEERS_KNOWN: usize = 256;
