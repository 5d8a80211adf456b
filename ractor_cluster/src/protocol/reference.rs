//! The wire form of an actor reference. Resolving it to an actor is the node's business
//! (`node::references`); here it is only a value.

use serde::{Deserialize, Serialize};

/// An actor reference as it travels (PROTOCOL.md, "Actor references").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireReference {
    /// The global id of the actor's node.
    pub(crate) node: u64,
    /// The run of that node.
    pub(crate) incarnation: u64,
    /// The actor's pid on its node.
    pub(crate) pid: u64,
}
