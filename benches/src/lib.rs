//! Benchmarks of `ractor_cluster`. What the benchmarks and their peer process share lives here:
//! the message every benchmark sends, the plain TCP baseline, the published `ractor_cluster`
//! measured beside ours, the conversation with the peer process, and reading a process's CPU time
//! and memory.
//!
//! The suite itself is `benches/cluster.rs`; `README.md` beside this crate says how to run it.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

pub mod baseline;
#[cfg(feature = "opentelemetry")]
pub mod otel;
pub mod peer;
pub mod published;
pub mod stats;

/// The cookie the bench node and the peer node share.
pub const COOKIE: &str = "ractor-cluster-bench";

/// The process group the peer's receiving actor joins; the bench finds its proxy there.
pub const SINK_GROUP: &str = "bench_sink";

/// A node server as every bench process runs one: an ephemeral port on 127.0.0.1, the bench
/// cookie, and plaintext frames if `plaintext` (a session is plaintext only if both nodes ask).
pub fn bench_node_server(name: String, plaintext: bool) -> ractor_cluster::NodeServer {
    let server = ractor_cluster::NodeServer::new(
        0,
        COOKIE.to_owned(),
        name,
        "localhost".to_owned(),
        None,
        None,
    )
    .with_listen_addr(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    if plaintext {
        server.with_plaintext_frames()
    } else {
        server
    }
}

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

/// What a [`Sink`] is asked, whichever crate's derive built the message type it arrived in.
#[derive(Debug)]
pub enum SinkRequest {
    /// Count this payload.
    Payload(Vec<u8>),
    /// Answer with the payload's length.
    Echo(Vec<u8>, RpcReplyPort<u64>),
    /// Answer with how many payloads arrived since the previous `Count`.
    Count(RpcReplyPort<u64>),
}

/// A message type a [`Sink`] can receive: [`BenchMessage`], or the published crate's twin of it.
pub trait SinkMessage: ractor::Message {
    /// The request this message makes.
    fn into_request(self) -> SinkRequest;
}

impl SinkMessage for BenchMessage {
    fn into_request(self) -> SinkRequest {
        match self {
            BenchMessage::Payload(payload) => SinkRequest::Payload(payload),
            BenchMessage::Echo(payload, reply) => SinkRequest::Echo(payload, reply),
            BenchMessage::Count(reply) => SinkRequest::Count(reply),
        }
    }
}

/// The actor the benchmarks send to: counts payloads, answers calls. The peer node runs it as the
/// receiving end of every cluster scenario; the bench runs one locally for the ractor ceilings.
#[derive(Debug)]
pub struct Sink<M = BenchMessage>(std::marker::PhantomData<fn() -> M>);

impl<M> Sink<M> {
    /// A sink for messages of type `M`.
    pub const fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<M> Default for Sink<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: SinkMessage> Actor for Sink<M> {
    type Msg = M;
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
        match message.into_request() {
            SinkRequest::Payload(payload) => {
                *payloads += 1;
                std::hint::black_box(payload);
            }
            SinkRequest::Echo(payload, reply) => {
                let _ = reply.send(payload.len() as u64);
            }
            SinkRequest::Count(reply) => {
                let _ = reply.send(*payloads);
                *payloads = 0;
            }
        }
        Ok(())
    }
}
