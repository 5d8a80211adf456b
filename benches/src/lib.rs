//! Benchmarks of `ractor_cluster`. The message types that the benchmarks share live here.

use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

/// The message every serialization and messaging benchmark sends.
#[derive(Debug, RactorClusterMessage)]
pub enum BenchMessage {
    /// A one-way message with an opaque payload.
    Payload(Vec<u8>),
    /// A call with a payload, answered with its length.
    #[rpc]
    Echo(Vec<u8>, RpcReplyPort<u64>),
}
