//! Benchmarks of `ractor_cluster`. What the benchmarks and their peer process share lives here:
//! the message every benchmark sends, the plain TCP baseline, the conversation with the peer
//! process, and reading a process's CPU time and memory.
//!
//! The suite itself is `benches/cluster.rs`; `README.md` beside this crate says how to run it.

use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

pub mod baseline;
pub mod peer;
pub mod stats;

/// The cookie the bench node and the peer node share.
pub const COOKIE: &str = "ractor-cluster-bench";

/// The process group the peer's receiving actor joins; the bench finds its proxy there.
pub const SINK_GROUP: &str = "bench_sink";

/// The message every serialization and messaging benchmark sends.
#[derive(Debug, RactorClusterMessage)]
pub enum BenchMessage {
    /// A one-way message with an opaque payload.
    Payload(Vec<u8>),
    /// A call with a payload, answered with its length.
    #[rpc]
    Echo(Vec<u8>, RpcReplyPort<u64>),
    /// Answered with how many `Payload` messages arrived since the previous `Count` (the flood
    /// benchmarks end with it: FIFO order means every payload before it has been handled).
    #[rpc]
    Count(RpcReplyPort<u64>),
}
