//! The published `ractor_cluster` 0.16.5 (renamed `ractor_cluster_published` in `Cargo.toml`,
//! default features off), measured in the same rounds as ours and the plain TCP baseline.
//!
//! Its message type has to come from its own derive: the two crates frame messages differently,
//! and each only routes what its own derive produced. Everything else is the same as for ours: a
//! receiving actor on the peer, in a process group of its own, found through `ractor::pg` on the
//! bench side.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ractor::{pg, Actor, ActorRef, RpcReplyPort};
use ractor_cluster_published::{NodeServer, NodeServerMessage};

use crate::{Sink, SinkMessage, SinkRequest, COOKIE};

/// The process group the published peer's receiving actor joins.
pub const PUBLISHED_SINK_GROUP: &str = "bench_sink_published";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// [`crate::BenchMessage`] again, derived by the published crate's `RactorClusterMessage` (its
/// derive wants the reply port as the last field of a call).
#[derive(Debug, ractor_cluster_published::RactorClusterMessage)]
pub enum PublishedMessage {
    /// A one-way message with an opaque payload.
    Payload(Vec<u8>),
    /// A call with a payload, answered with its length.
    #[rpc]
    Echo(Vec<u8>, RpcReplyPort<u64>),
    /// Answered with how many `Payload` messages arrived since the previous `Count`.
    #[rpc]
    Count(RpcReplyPort<u64>),
}

impl SinkMessage for PublishedMessage {
    fn into_request(self) -> SinkRequest {
        match self {
            PublishedMessage::Payload(payload) => SinkRequest::Payload(payload),
            PublishedMessage::Echo(payload, reply) => SinkRequest::Echo(payload, reply),
            PublishedMessage::Count(reply) => SinkRequest::Count(reply),
        }
    }
}

/// A published `NodeServer` on 127.0.0.1 named `name`, listening on `port`.
async fn spawn_server(port: u16, name: &str) -> Result<ActorRef<NodeServerMessage>, BoxError> {
    let server = NodeServer::new(
        port,
        COOKIE.to_owned(),
        name.to_owned(),
        "localhost".to_owned(),
        None,
        None,
    )
    .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (server, _) = Actor::spawn(None, server, ()).await?;
    Ok(server)
}

/// The peer's side (`bench_peer published`): starts a published node and its receiving actor in
/// [`PUBLISHED_SINK_GROUP`]; returns the port the node listens on.
///
/// The published `NodeServer` does not tell which port it bound when given 0, so a free port is
/// picked first by binding it and letting it go (another process could take it in between; the
/// bench would then fail to connect, not measure something else).
pub async fn start_peer_node() -> Result<u16, BoxError> {
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    spawn_server(port, "bench_peer_published").await?;
    let (sink, _) = Actor::spawn(None, Sink::<PublishedMessage>::new(), ()).await?;
    pg::join(PUBLISHED_SINK_GROUP.to_owned(), vec![sink.get_cell()]);
    Ok(port)
}

/// The bench's side: a published node, connected to the published peer, and the proxy of the
/// peer's receiving actor.
#[derive(Debug)]
pub struct PublishedNode {
    server: ActorRef<NodeServerMessage>,
    /// The proxy of the peer's [`Sink`] of [`PublishedMessage`].
    pub sink: ActorRef<PublishedMessage>,
}

impl PublishedNode {
    /// Starts a published node, connects it to the published peer at `peer`, and waits (at most
    /// `wait`) until the proxy of the peer's receiving actor is in [`PUBLISHED_SINK_GROUP`].
    pub async fn connect(peer: SocketAddr, wait: Duration) -> Result<Self, BoxError> {
        let server = spawn_server(0, "bench_published").await?;
        ractor_cluster_published::client_connect(&server, peer).await?;
        let deadline = Instant::now() + wait;
        let group = PUBLISHED_SINK_GROUP.to_owned();
        let sink = loop {
            let proxy = pg::get_members(&group)
                .into_iter()
                .find(|member| !member.get_id().is_local());
            if let Some(proxy) = proxy {
                break ActorRef::from(proxy);
            }
            if Instant::now() >= deadline {
                return Err("no proxy of the published peer's sink in time".into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        Ok(Self { server, sink })
    }

    /// Stops the node (and with it its session and the proxies it made).
    pub fn stop(self) {
        self.server.stop(None);
    }
}
