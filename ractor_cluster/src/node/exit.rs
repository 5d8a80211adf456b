//! The exit reasons this crate stops proxies and name forwarders with, so that their monitors
//! can tell what happened. A leaf: it depends on nothing, and everything that ends a proxy uses it.

/// The exit reason of every proxy of a node whose session ended (the node was lost, stopped, or
/// restarted).
pub const NODE_LOST: &str = "ractor_cluster: node lost";

/// The exit reason of a reference to an actor that is not alive on its node.
pub const NO_SUCH_ACTOR: &str = "ractor_cluster: no such actor";

/// The exit reason of a reference to an actor on a node this node cannot reach: no session to it,
/// or a different run (incarnation) of it.
pub const UNREACHABLE: &str = "ractor_cluster: node unreachable";

/// The exit reason of a name forwarder whose name now belongs to another actor, while the actor
/// it stood for still runs.
pub const NAME_MOVED: &str = "ractor_cluster: name moved to another actor";

/// The exit reason of a reference to a peer's actor that has no proxy here while the node keeps
/// as many proxies as it may (see [`NodeServer::with_max_proxies_per_peer`](crate::NodeServer::with_max_proxies_per_peer)).
pub const PROXY_LIMIT: &str = "ractor_cluster: proxy limit reached";
