//! Benchmarks of `ractor_cluster`. What the benchmarks and their peer process share lives here:
//! the message every benchmark sends, the plain TCP baseline, the published `ractor_cluster`
//! measured beside ours, the conversation with the peer process, and reading a process's CPU time
//! and memory.
//!
//! The suite itself is `benches/cluster.rs`; `README.md` beside this crate says how to run it.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

pub mod baseline;
pub mod peer;
pub mod published;
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

/// The actor the benchmarks send to: counts payloads, answers calls. The peer node runs it as the
/// receiving end of every cluster scenario; the bench runs one locally for the ractor ceilings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sink;

impl Actor for Sink {
    type Msg = BenchMessage;
    /// Payloads handled since the last `Count`.
    type State = u64;
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        message: Self::Msg,
        payloads: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BenchMessage::Payload(payload) => {
                *payloads += 1;
                std::hint::black_box(payload);
            }
            BenchMessage::Echo(payload, reply) => {
                let _ = reply.send(payload.len() as u64);
            }
            BenchMessage::Count(reply) => {
                let _ = reply.send(*payloads);
                *payloads = 0;
            }
        }
        Ok(())
    }
}
