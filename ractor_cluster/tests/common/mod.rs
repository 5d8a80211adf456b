//! Helpers shared by the integration tests: nodes that report their events on a channel, a
//! remote-capable test actor, and bounded waits.
//!
//! Every wait here is bounded by [`WAIT`]: a regression fails the test instead of hanging it.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub(crate) mod dns_server;
pub(crate) mod link;
pub(crate) mod peer_process;
mod tls_certificate;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{pg, Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::discovery::Discovery;
use ractor_cluster::downing::Downing;
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::node::ReconnectPolicy;
use ractor_cluster::{
    IncomingEncryptionMode, NodeConnectionMode, NodeEventSubscription, NodeId, NodeServer,
    NodeServerMessage, RactorClusterMessage,
};
use tokio::sync::mpsc;

/// Longest any single step of a test may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test with `what` if it takes longer than [`WAIT`].
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Polls `check` until it holds, or fails after [`WAIT`].
pub(crate) async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes and their events

/// A session event, with what the test needs to know about the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Opened,
    Authenticated(String),
    Ready(String),
    /// The peer's name, if the session had authenticated.
    Disconnected(Option<String>),
}

struct Events(mpsc::UnboundedSender<Event>);

fn peer_of(ses: &NodeServerSessionInformation) -> Option<String> {
    ses.peer_name.as_ref().map(|n| n.name.clone())
}

impl NodeEventSubscription for Events {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Opened);
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Disconnected(peer_of(&ses)));
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self
            .0
            .send(Event::Authenticated(peer_of(&ses).unwrap_or_default()));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Ready(peer_of(&ses).unwrap_or_default()));
    }
}

/// How to start a test node.
pub(crate) struct NodeOptions {
    pub(crate) cookie: String,
    pub(crate) encryption: Option<IncomingEncryptionMode>,
    pub(crate) mode: NodeConnectionMode,
    pub(crate) max_frame: Option<u64>,
    pub(crate) handshake_timeout: Option<Duration>,
    /// 0 picks a free port.
    pub(crate) port: u16,
    /// Heartbeat interval and down-after, if not the defaults.
    pub(crate) liveness: Option<(Duration, Duration)>,
    pub(crate) reconnect: Option<ReconnectPolicy>,
    pub(crate) max_unauthenticated: Option<usize>,
    /// Bound on authenticated sessions, if not the default.
    pub(crate) max_sessions: Option<usize>,
    /// Bound on the outbound queue per peer, if not the default.
    pub(crate) max_outbound: Option<usize>,
    /// Bound on a peer's unanswered calls, if not the default.
    pub(crate) max_unanswered_calls: Option<usize>,
    /// A discovery source and its interval, if any.
    pub(crate) discovery: Option<(Arc<dyn Discovery>, Duration)>,
    /// The address to listen on, if not 127.0.0.1.
    pub(crate) listen_ip: Option<IpAddr>,
    /// Opts out of sealed frames (`NodeServer::with_plaintext_frames`).
    pub(crate) plaintext_frames: bool,
    /// A downing policy, if any.
    pub(crate) downing: Option<Downing>,
    /// How many peers the node watches, if not the default (`NodeServer::with_watched_peers`).
    pub(crate) watched_peers: Option<usize>,
    /// Time between round-trip probes, if not the default.
    pub(crate) rtt_probe_interval: Option<Duration>,
    /// Probes on every link, not only watched ones (`NodeServer::with_rtt_probes_on_every_link`).
    pub(crate) rtt_probes_on_every_link: bool,
    /// Discovered nodes dialed at once, if not the default (`NodeServer::with_max_discovery_dials`).
    pub(crate) max_discovery_dials: Option<usize>,
    /// A hidden node (`NodeServer::with_hidden`).
    pub(crate) hidden: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            cookie: "cookie".to_owned(),
            encryption: None,
            mode: NodeConnectionMode::Isolated,
            max_frame: None,
            handshake_timeout: None,
            port: 0,
            liveness: None,
            reconnect: None,
            max_unauthenticated: None,
            max_sessions: None,
            max_outbound: None,
            max_unanswered_calls: None,
            discovery: None,
            listen_ip: None,
            plaintext_frames: false,
            downing: None,
            watched_peers: None,
            rtt_probe_interval: None,
            rtt_probes_on_every_link: false,
            max_discovery_dials: None,
            hidden: false,
        }
    }
}

/// Liveness settings short enough for tests: a heartbeat every 100 ms, down after 600 ms of silence.
pub(crate) const FAST_LIVENESS: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_millis(600));

/// A running node on 127.0.0.1, named `<name>@localhost`, whose events arrive on a channel.
pub(crate) struct Node {
    pub(crate) server: ActorRef<NodeServerMessage>,
    handle: Option<JoinHandle<()>>,
    pub(crate) port: u16,
    pub(crate) name: String,
    pub(crate) id: NodeId,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failed test must not leave a listener behind for the tests that follow.
        if self.handle.is_some() {
            self.server.stop(None);
        }
    }
}

/// Starts a node with the default options.
pub(crate) async fn start_node(name: &str) -> Node {
    start_node_with(name, NodeOptions::default()).await
}

pub(crate) async fn start_node_with(name: &str, options: NodeOptions) -> Node {
    let mut server = NodeServer::new(
        options.port,
        options.cookie,
        name.to_owned(),
        "localhost".to_owned(),
        options.encryption,
        Some(options.mode),
    )
    .with_listen_addr(options.listen_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    if let Some((discovery, interval)) = options.discovery {
        server = server.with_discovery(discovery, interval);
    }
    if let Some(max) = options.max_frame {
        server = server.with_max_inbound_frame_size(max);
    }
    if let Some(timeout) = options.handshake_timeout {
        server = server.with_handshake_timeout(timeout);
    }
    if let Some((heartbeat, down_after)) = options.liveness {
        server = server
            .with_heartbeat_interval(heartbeat)
            .with_down_after(down_after);
    }
    if let Some(policy) = options.reconnect {
        server = server.with_reconnect(policy);
    }
    if let Some(max) = options.max_unauthenticated {
        server = server.with_max_unauthenticated_connections(max);
    }
    if let Some(max) = options.max_sessions {
        server = server.with_max_sessions(max);
    }
    if let Some(max) = options.max_outbound {
        server = server.with_max_outbound_queue(max);
    }
    if let Some(max) = options.max_unanswered_calls {
        server = server.with_max_unanswered_calls(max);
    }
    if options.plaintext_frames {
        server = server.with_plaintext_frames();
    }
    if let Some(downing) = options.downing {
        server = server.with_downing(downing);
    }
    if let Some(n) = options.watched_peers {
        server = server.with_watched_peers(n);
    }
    if let Some(interval) = options.rtt_probe_interval {
        server = server.with_rtt_probe_interval(interval);
    }
    if options.rtt_probes_on_every_link {
        server = server.with_rtt_probes_on_every_link(true);
    }
    if let Some(dials) = options.max_discovery_dials {
        server = server.with_max_discovery_dials(dials);
    }
    if options.hidden {
        server = server.with_hidden(true);
    }
    let (server, handle) = Actor::spawn(None, server, ()).await.unwrap();
    let (tx, events) = mpsc::unbounded_channel();
    server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "test".into(),
            subscription: Box::new(Events(tx)),
        })
        .unwrap();
    let info = ractor_cluster::node::node_info(&server).await.unwrap();
    Node {
        server,
        handle: Some(handle),
        port: info.listen_addr.port(),
        name: info.name,
        id: info.node_id,
        events,
    }
}

impl Node {
    pub(crate) async fn next_event(&mut self) -> Event {
        within(&format!("an event on {}", self.name), self.events.recv())
            .await
            .expect("event channel closed")
    }

    /// Waits for the next event that matches `wanted`, skipping others.
    pub(crate) async fn wait_event(&mut self, wanted: impl Fn(&Event) -> bool) -> Event {
        loop {
            let event = self.next_event().await;
            if wanted(&event) {
                return event;
            }
        }
    }

    /// Events already reported, without waiting.
    pub(crate) fn drain_events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            events.push(event);
        }
        events
    }

    pub(crate) async fn sessions(&self) -> HashMap<NodeId, NodeServerSessionInformation> {
        ractor::call_t!(self.server, NodeServerMessage::GetSessions, 5_000).unwrap()
    }

    /// The authenticated session with `peer` (found by the peer's node id, which is not the key of
    /// `GetSessions`: that is the session's own id).
    pub(crate) async fn session_with(&self, peer: &Node) -> NodeServerSessionInformation {
        self.sessions()
            .await
            .into_values()
            .find(|s| s.peer_node_id() == Some(peer.id))
            .unwrap_or_else(|| panic!("{} has no session with {}", self.name, peer.name))
    }

    /// The names of the authenticated peers, sorted.
    pub(crate) async fn peer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.sessions().await.values().filter_map(peer_of).collect();
        names.sort();
        names
    }

    pub(crate) async fn connect_to(&self, other: &Node) {
        self.connect_to_port(other.port).await;
    }

    /// Connects to the node listening on `port` of 127.0.0.1.
    pub(crate) async fn connect_to_port(&self, port: u16) {
        ractor_cluster::client_connect(&self.server, ("127.0.0.1", port))
            .await
            .unwrap();
    }

    pub(crate) async fn stop(mut self) {
        self.server.stop(None);
        let handle = self.handle.take().unwrap();
        within("the node to stop", handle).await.unwrap();
    }
}

/// Forwards every session end of a node to the test (subscribe it with
/// `NodeServerMessage::SubscribeToEvents`).
pub(crate) struct SessionEnds(pub(crate) mpsc::UnboundedSender<ractor_cluster::node::SessionEnd>);

impl NodeEventSubscription for SessionEnds {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_ended(
        &self,
        _: NodeServerSessionInformation,
        end: &ractor_cluster::node::SessionEnd,
    ) {
        let _ = self.0.send(end.clone());
    }
}

/// Connects `a` to `b` and waits until both report the session ready.
pub(crate) async fn connect_ready(a: &mut Node, b: &mut Node) {
    a.connect_to(b).await;
    let (a_name, b_name) = (a.name.clone(), b.name.clone());
    a.wait_event(|e| *e == Event::Ready(b_name.clone())).await;
    b.wait_event(|e| *e == Event::Ready(a_name.clone())).await;
}

/// Starts `<tag>-a` with the default cookie and `<tag>-b` with another, has `a` dial `b` (or `b`
/// dial `a` if not `a_dials`), and asserts that on both sides the session opens and ends
/// without authenticating, leaving no session.
pub(crate) async fn nodes_with_different_cookies(tag: &str, a_dials: bool) -> (Node, Node) {
    let mut a = start_node(&format!("{tag}-a")).await;
    let mut b = start_node_with(
        &format!("{tag}-b"),
        NodeOptions {
            cookie: "wrong".into(),
            ..NodeOptions::default()
        },
    )
    .await;
    if a_dials {
        a.connect_to(&b).await;
    } else {
        b.connect_to(&a).await;
    }
    for node in [&mut a, &mut b] {
        assert_eq!(node.next_event().await, Event::Opened);
        assert_eq!(node.next_event().await, Event::Disconnected(None));
        assert!(node.sessions().await.is_empty());
    }
    (a, b)
}

// ---------------------------------------------------------------------------------------------
// A remote-capable test actor

#[derive(RactorClusterMessage)]
pub(crate) enum TestMessage {
    Num(u64),
    #[rpc]
    Numbers(RpcReplyPort<Vec<u64>>),
    #[rpc]
    Echo(String, RpcReplyPort<String>),
    #[rpc]
    Double(u64, RpcReplyPort<u64>),
    /// Answers `Double` after 20 ms, without holding up the messages that follow.
    #[rpc]
    SlowDouble(u64, RpcReplyPort<u64>),
    /// Keeps the reply port and never answers.
    #[rpc]
    Hold(RpcReplyPort<u64>),
    /// Drops the reply port and stops: the caller must get an error, not hang.
    #[rpc]
    DieNow(RpcReplyPort<u64>),
    /// Records the length and checksum of a payload.
    Blob(Vec<u8>),
    /// The lengths and checksums of the payloads received so far.
    #[rpc]
    Blobs(RpcReplyPort<Vec<(u64, u64)>>),
    /// Answers with a patterned payload of the given length.
    #[rpc]
    MakeBlob(u64, RpcReplyPort<Vec<u8>>),
}

/// A payload whose bytes depend on their position, so corruption shows in its checksum.
pub(crate) fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0u64, |sum, (i, b)| {
        sum.wrapping_mul(31)
            .wrapping_add(u64::from(*b) ^ (i as u64 & 0xff))
    })
}

pub(crate) struct TestActor;

#[derive(Default)]
pub(crate) struct TestState {
    numbers: Vec<u64>,
    held: Vec<RpcReplyPort<u64>>,
    blobs: Vec<(u64, u64)>,
}

impl Actor for TestActor {
    type Msg = TestMessage;
    type State = TestState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(TestState::default())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TestMessage::Num(n) => state.numbers.push(n),
            TestMessage::Numbers(reply) => {
                let _ = reply.send(state.numbers.clone());
            }
            TestMessage::Echo(text, reply) => {
                let _ = reply.send(text);
            }
            TestMessage::Double(n, reply) => {
                let _ = reply.send(n * 2);
            }
            TestMessage::SlowDouble(n, reply) => {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = reply.send(n * 2);
                });
            }
            TestMessage::Hold(reply) => state.held.push(reply),
            TestMessage::DieNow(reply) => {
                drop(reply);
                myself.stop(None);
            }
            TestMessage::Blob(bytes) => state.blobs.push((bytes.len() as u64, checksum(&bytes))),
            TestMessage::Blobs(reply) => {
                let _ = reply.send(state.blobs.clone());
            }
            TestMessage::MakeBlob(len, reply) => {
                let _ = reply.send(patterned(len as usize));
            }
        }
        Ok(())
    }
}

/// Spawns a test actor and makes it join `group`.
pub(crate) async fn spawn_in_group(group: &str) -> ActorRef<TestMessage> {
    let (actor, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    pg::join(group.to_owned(), vec![actor.get_cell()]);
    actor
}

/// The proxy in `group` that stands for `actor` of the node with id `node_id`.
pub(crate) fn proxy_in(group: &str, node_id: NodeId, actor: &ActorCell) -> Option<ActorCell> {
    let wanted = ActorId::Remote {
        node_id,
        pid: actor.get_id().pid(),
    };
    pg::get_members(&group.to_owned())
        .into_iter()
        .find(|m| m.get_id() == wanted)
}

/// Waits for the proxy in `group` that stands for `actor` of node `node_id`.
pub(crate) async fn wait_for_proxy(
    group: &str,
    node_id: NodeId,
    actor: &ActorCell,
) -> ActorRef<TestMessage> {
    let mut found = None;
    eventually("the proxy to join the group", || {
        found = proxy_in(group, node_id, actor);
        found.is_some()
    })
    .await;
    found.unwrap().into()
}

/// The members of `group` that are proxies (remote actors).
pub(crate) fn remote_members(group: &str) -> Vec<ActorCell> {
    pg::get_members(&group.to_owned())
        .into_iter()
        .filter(|m| !m.get_id().is_local())
        .collect()
}

/// A call in flight, as `tokio::spawn` returns it.
pub(crate) type CallTask<T> =
    tokio::task::JoinHandle<Result<ractor::rpc::CallResult<T>, ractor::MessagingErr<TestMessage>>>;

/// A call that the actor behind `proxy` holds without answering; only the end of the session can
/// end it.
pub(crate) async fn held_call(proxy: &ActorRef<TestMessage>) -> CallTask<u64> {
    let held = tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.call(TestMessage::Hold, None).await }
    });
    // A later call's answer on the same path means the held call has most likely reached the
    // actor (if not, it is held all the same).
    ractor::call_t!(proxy, TestMessage::Numbers, 5_000).unwrap();
    assert!(!held.is_finished());
    held
}

/// Whether a call ended without a value (an error of any kind, but not a hang).
pub(crate) fn failed<T: std::fmt::Debug, E: std::fmt::Debug>(
    result: &Result<ractor::rpc::CallResult<T>, E>,
) -> bool {
    !matches!(result, Ok(ractor::rpc::CallResult::Success(_)))
}

// ---------------------------------------------------------------------------------------------
// TLS

// Not every test binary uses TLS.
#[allow(unused_imports)]
pub(crate) use tls_certificate::tls_pair;
