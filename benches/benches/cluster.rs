//! The cluster benchmark suite (issue 4): `ractor_cluster` between two OS processes over
//! 127.0.0.1, against a plain tokio TCP connection carrying the same payloads, in the same run.
//!
//! Run with `cargo bench -p ractor_cluster_benches --bench cluster` (criterion options go after
//! `--`, e.g. `-- --warm-up-time 1 --measurement-time 2`; `BENCH_ROUNDS=5` for more rounds).
//! `benches/README.md` describes every scenario. The bench starts three `bench_peer` processes (a
//! node of ours, a node of the published `ractor_cluster` 0.16.5 and a baseline server) and stops
//! them when it ends. Each process, this one included, runs one tokio worker thread. Every
//! throughput and latency scenario runs in rounds, ours, the published crate (casts and calls
//! only), then the baseline, again and again (A, P, B, A, P, B, …); the table at the end gives the
//! median of the rounds, and is also written to `target/bench-report.md`.
//!
//! Each round also measures the *ractor ceilings*: the same messages through ractor alone, in this
//! process, with no network (a local actor; a bare ractor remote cell, the sending half of a remote
//! cast; `send_serialized` to a local actor, the receiving half). They bound what any layer built
//! on ractor 0.16 can reach against the baseline.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use ractor::message::SerializedMessage;
use ractor::{pg, Actor, ActorId, ActorProcessingErr, ActorRef, Message, SupervisionEvent};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage};
use ractor_cluster_benches::baseline::{self, BaselineClient};
use ractor_cluster_benches::peer::{Peer, PeerCommand, PeerKind};
use ractor_cluster_benches::published::{PublishedMessage, PublishedNode};
use ractor_cluster_benches::stats::{self, ProcStats};
use ractor_cluster_benches::{BenchMessage, Sink, SINK_GROUP};
use tokio::runtime::Runtime;
use tokio::sync::{oneshot, Notify};

/// Casts per iteration of a flood: fixed, since with unbounded queues both throughput and memory
/// depend on how many messages are in flight.
const CASTS_PER_ITER: u64 = 100_000;
/// A flooding task yields to the runtime after this many casts (both systems alike), so the
/// writer can send while the producer produces, as a producer that awaits anything would.
const YIELD_EVERY: u64 = 1_000;
/// Concurrent callers of the call throughput scenario.
const CALLERS: u64 = 32;
/// Calls each caller makes per iteration of the call throughput scenario.
const CALLS_PER_CALLER: u64 = 100;
/// Actors that join a group on the peer in the convergence scenario.
const GROUP_SIZE: usize = 1_000;
/// Actors announced by the peer in the proxy memory scenario.
const PROXIES: usize = 10_000;
/// Bytes of a baseline cast chunk.
const CHUNK_BYTES: usize = 64 * 1024;
/// Every wait for the other process is bounded by this.
const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The two systems, seen from the bench

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Ours,
    /// The published `ractor_cluster` 0.16.5, between this process and its own peer process.
    Published,
    Tcp,
    /// Ceiling: the same messages to a local ractor actor (`Sink`), in this process.
    LocalActor,
    /// Ceiling: the sending half of a remote cast with no network: a bare ractor remote cell
    /// whose `handle_serialized` only counts.
    RemoteCell,
    /// Ceiling: the receiving half with no network: the serialized bytes handed to the local
    /// `Sink` with `send_serialized`, as our reader does, which deserializes them.
    ReceiveHalf,
    /// Ours with plaintext frames (`NodeServer::with_plaintext_frames` on both nodes): the same
    /// build without sealing, to measure what sealing costs.
    OursPlaintext,
}

/// How many systems there are: the three compared, the ractor ceilings, and ours in plaintext.
const SYSTEMS: usize = 7;

/// The systems of the cast scenarios and of the call scenarios, in the order a round runs them.
const CAST_SYSTEMS: [System; 7] = [
    System::Ours,
    System::OursPlaintext,
    System::Published,
    System::Tcp,
    System::LocalActor,
    System::RemoteCell,
    System::ReceiveHalf,
];
const CALL_SYSTEMS: [System; 5] = [
    System::Ours,
    System::OursPlaintext,
    System::Published,
    System::Tcp,
    System::LocalActor,
];
const COMPARED: [System; 2] = [System::Ours, System::Tcp];

impl System {
    fn id(self) -> &'static str {
        match self {
            Self::Ours => "ractor_cluster",
            Self::Published => "published_ractor_cluster",
            Self::Tcp => "plain_tcp",
            Self::LocalActor => "ceiling_local_actor",
            Self::RemoteCell => "ceiling_remote_cell",
            Self::ReceiveHalf => "ceiling_receive_half",
            Self::OursPlaintext => "ractor_cluster_plaintext",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A connection to the receiving side of one system.
#[derive(Debug, Clone)]
enum Client {
    /// The proxy of the peer node's receiving actor.
    Ours(ActorRef<BenchMessage>),
    /// The proxy of the published peer's receiving actor.
    Published(ActorRef<PublishedMessage>),
    Tcp(BaselineClient),
    /// A local `Sink`.
    Local(ActorRef<BenchMessage>),
    /// A bare remote cell, and what its handler counted.
    RemoteCell(ActorRef<BenchMessage>, Arc<Progress>),
    /// A local `Sink` reached through `send_serialized`.
    ReceiveHalf(ActorRef<BenchMessage>),
}

impl Client {
    async fn call(&self, payload: &[u8]) -> u64 {
        match self {
            Self::Ours(proxy) => ractor::call!(proxy, BenchMessage::Echo, payload.to_vec())
                .unwrap_or_else(|err| panic!("remote call failed: {err}")),
            Self::Published(proxy) => {
                ractor::call!(proxy, PublishedMessage::Echo, payload.to_vec())
                    .unwrap_or_else(|err| panic!("published remote call failed: {err}"))
            }
            Self::Tcp(client) => client
                .call(payload)
                .await
                .unwrap_or_else(|err| panic!("baseline call failed: {err}")),
            Self::Local(sink) => ractor::call!(sink, BenchMessage::Echo, payload.to_vec())
                .unwrap_or_else(|err| panic!("local call failed: {err}")),
            Self::RemoteCell(..) | Self::ReceiveHalf(_) => {
                unreachable!("the half ceilings take casts only")
            }
        }
    }

    /// Sends `count` casts of `payload` and waits until the receiver has handled them all.
    async fn flood(&self, payload: &[u8], count: u64) -> Duration {
        let start = Instant::now();
        let received = match self {
            Self::Ours(proxy) => {
                for sent in 1..=count {
                    // Paced by the proxy's mailbox and the connection's outbound queue, as the
                    // baseline is by its socket: a flood then holds bounded memory on the
                    // sending side.
                    ractor_cluster::backpressure::paced_cast(
                        proxy,
                        BenchMessage::Payload(payload.to_vec()),
                    )
                    .await
                    .unwrap_or_else(|err| panic!("remote cast failed: {err}"));
                    if sent % YIELD_EVERY == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                ractor::call!(proxy, BenchMessage::Count)
                    .unwrap_or_else(|err| panic!("remote count failed: {err}"))
            }
            Self::Published(proxy) => {
                for sent in 1..=count {
                    proxy
                        .cast(PublishedMessage::Payload(payload.to_vec()))
                        .unwrap_or_else(|err| panic!("published remote cast failed: {err}"));
                    if sent % YIELD_EVERY == 0 {
                        // The published crate has no outbound bound to wait on: only yield.
                        tokio::task::yield_now().await;
                    }
                }
                ractor::call!(proxy, PublishedMessage::Count)
                    .unwrap_or_else(|err| panic!("published remote count failed: {err}"))
            }
            Self::Tcp(client) => {
                let capacity = CHUNK_BYTES + payload.len() + 5;
                let mut chunk = Vec::with_capacity(capacity);
                for sent in 1..=count {
                    baseline::push_cast(&mut chunk, payload);
                    if chunk.len() >= CHUNK_BYTES {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(capacity));
                        client.send_chunk(full).expect("baseline connection closed");
                    }
                    if sent % YIELD_EVERY == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                if !chunk.is_empty() {
                    client
                        .send_chunk(chunk)
                        .expect("baseline connection closed");
                }
                client.count().await.expect("baseline count failed")
            }
            Self::Local(sink) => {
                for sent in 1..=count {
                    sink.cast(BenchMessage::Payload(payload.to_vec()))
                        .unwrap_or_else(|err| panic!("local cast failed: {err}"));
                    if sent % YIELD_EVERY == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                ractor::call!(sink, BenchMessage::Count)
                    .unwrap_or_else(|err| panic!("local count failed: {err}"))
            }
            Self::RemoteCell(cell, progress) => {
                progress.start(count);
                for sent in 1..=count {
                    cell.cast(BenchMessage::Payload(payload.to_vec()))
                        .unwrap_or_else(|err| panic!("cast to the remote cell failed: {err}"));
                    if sent % YIELD_EVERY == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                // No call: its reply would need this crate's reply table. The handler signals
                // when it has counted the last cast instead.
                progress.wait().await
            }
            Self::ReceiveHalf(sink) => {
                // What the peer's reader gets from a frame: the variant's name and the serialized
                // fields, which it copies out of its read buffer into the message it delivers.
                let Ok(SerializedMessage::Cast { variant, args, .. }) =
                    BenchMessage::Payload(payload.to_vec()).serialize()
                else {
                    unreachable!("a payload serializes as a cast")
                };
                let cell = sink.get_cell();
                for sent in 1..=count {
                    let message = SerializedMessage::Cast {
                        variant: variant.clone(),
                        args: args.clone(),
                        metadata: None,
                    };
                    if cell.send_serialized(message).is_err() {
                        panic!("the local sink stopped");
                    }
                    if sent % YIELD_EVERY == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                ractor::call!(sink, BenchMessage::Count)
                    .unwrap_or_else(|err| panic!("local count failed: {err}"))
            }
        };
        let elapsed = start.elapsed();
        assert_eq!(received, count, "the receiver did not get every cast");
        elapsed
    }
}

// ---------------------------------------------------------------------------------------------
// The ractor ceilings: ractor's own cost per message, with no network

/// What the remote cell's handler has counted, and a signal when it reaches its target.
#[derive(Debug, Default)]
struct Progress {
    handled: AtomicU64,
    target: AtomicU64,
    done: Notify,
}

impl Progress {
    fn start(&self, target: u64) {
        self.handled.store(0, Ordering::Relaxed);
        self.target.store(target, Ordering::Relaxed);
    }

    /// Waits until the target is reached; returns how many were handled.
    async fn wait(&self) -> u64 {
        tokio::time::timeout(WAIT, self.done.notified())
            .await
            .expect("the remote cell did not handle every cast in time");
        self.handled.load(Ordering::Relaxed)
    }
}

/// The handler of a bare ractor remote cell: counts the casts ractor serializes for it, as our
/// proxy's `handle_serialized` would frame them.
struct CountingRemoteCell;

impl Actor for CountingRemoteCell {
    type Msg = BenchMessage;
    type State = Arc<Progress>;
    type Arguments = Arc<Progress>;

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        progress: Arc<Progress>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(progress)
    }

    async fn handle_serialized(
        &self,
        _: ActorRef<Self::Msg>,
        message: SerializedMessage,
        progress: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SerializedMessage::Cast { args, .. } = message {
            std::hint::black_box(args);
            let handled = progress.handled.fetch_add(1, Ordering::Relaxed) + 1;
            if handled == progress.target.load(Ordering::Relaxed) {
                progress.done.notify_one();
            }
        }
        Ok(())
    }
}

/// An actor that does nothing with its messages of type `M`: the bare remote cells of the memory
/// figure (`Idle<BenchMessage>`) and the supervisor that ractor links remote cells to
/// (`Idle<()>`).
struct Idle<M>(std::marker::PhantomData<fn() -> M>);

impl<M> Idle<M> {
    const fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<M: ractor::Message> Actor for Idle<M> {
    type Msg = M;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(())
    }
}

/// The node id of the ceiling's remote cells: no session has it.
const CEILING_NODE: u64 = u64::MAX - 1;

/// The receivers of the ceiling scenarios, in this process.
struct Ceiling {
    sink: ActorRef<BenchMessage>,
    remote: ActorRef<BenchMessage>,
    progress: Arc<Progress>,
    parent: ActorRef<()>,
}

async fn start_ceiling() -> Ceiling {
    let (sink, _) = Actor::spawn(None, Sink::<BenchMessage>::new(), ())
        .await
        .expect("cannot start the local sink");
    let (parent, _) = Actor::spawn(None, Idle::<()>::new(), ())
        .await
        .expect("cannot start the remote cells' parent");
    let progress = Arc::new(Progress::default());
    let id = ActorId::Remote {
        node_id: CEILING_NODE,
        pid: 0,
    };
    let (remote, _) = ractor::ActorRuntime::spawn_linked_remote(
        None,
        CountingRemoteCell,
        id,
        Arc::clone(&progress),
        parent.get_cell(),
    )
    .await
    .expect("cannot start the remote cell");
    Ceiling {
        sink,
        remote,
        progress,
        parent,
    }
}

impl Ceiling {
    fn stop(self) {
        self.remote.stop(None);
        self.parent.stop(None);
        self.sink.stop(None);
    }
}

/// Calls the session events of a node reach us through: signals the first ready session, with
/// the peer's node id.
struct OnReady(Mutex<Option<oneshot::Sender<u64>>>);

impl NodeEventSubscription for OnReady {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let ready = self.0.lock().ok().and_then(|mut ready| ready.take());
        if let Some(ready) = ready {
            // The id in the proxies' `ActorId`s is the name-derived one, not the session's.
            if let Some(peer) = ses.peer_node_id() {
                let _ = ready.send(peer);
            }
        }
    }
}

/// A bench-side node, connected to the peer node, with the proxy of the peer's receiving actor.
struct BenchNode {
    server: ActorRef<NodeServerMessage>,
    handle: ractor::concurrency::JoinHandle<()>,
    sink: ActorRef<BenchMessage>,
}

static NODE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Starts a node named uniquely, connects it to `peer`, and waits for the proxy of the peer's
/// receiving actor.
async fn start_bench_node(peer: SocketAddr) -> BenchNode {
    start_bench_node_with(peer, false).await
}

/// [`start_bench_node`], asking for plaintext frames if `plaintext` (the session is plaintext
/// only if the peer asks too: the `node-plaintext` peer does).
async fn start_bench_node_with(peer: SocketAddr, plaintext: bool) -> BenchNode {
    let name = format!("bench{}", NODE_COUNTER.fetch_add(1, Ordering::Relaxed));
    let server = ractor_cluster_benches::bench_node_server(name, plaintext);
    let (server, handle) = Actor::spawn(None, server, ())
        .await
        .expect("cannot start the bench node");
    let (ready, is_ready) = oneshot::channel();
    server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "bench".to_owned(),
            subscription: Box::new(OnReady(Mutex::new(Some(ready)))),
        })
        .expect("the bench node stopped");
    ractor_cluster::client_connect(&server, peer)
        .await
        .expect("cannot connect to the peer node");
    let peer_node = tokio::time::timeout(WAIT, is_ready)
        .await
        .expect("the session to the peer never became ready")
        .expect("the bench node stopped");
    let deadline = Instant::now() + WAIT;
    let sink = loop {
        // The proxy of this peer's sink: with two bench nodes up (sealed and plaintext), the group
        // also holds the other peer's.
        let proxy = pg::get_members(&SINK_GROUP.to_owned())
            .into_iter()
            .find(|member| {
                matches!(member.get_id(), ActorId::Remote { node_id, .. } if node_id == peer_node)
            });
        if let Some(proxy) = proxy {
            break ActorRef::from(proxy);
        }
        assert!(Instant::now() < deadline, "no proxy of the peer's sink");
        tokio::task::yield_now().await;
    };
    BenchNode {
        server,
        handle,
        sink,
    }
}

impl BenchNode {
    async fn stop(self) {
        self.server.stop(None);
        let _ = tokio::time::timeout(WAIT, self.handle).await;
        // This node's proxy only: the other bench node's may still be there.
        let sink = self.sink.get_id();
        wait_until("the sink proxy to leave", || {
            !pg::get_members(&SINK_GROUP.to_owned())
                .iter()
                .any(|member| member.get_id() == sink)
        })
        .await;
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Watching a process group fill up

struct Watch;
impl ractor::Message for Watch {}

/// Counts the actors that join `group` and signals once `target` have.
struct GroupWatcher;

impl Actor for GroupWatcher {
    type Msg = Watch;
    type State = (usize, usize, Option<oneshot::Sender<()>>);
    type Arguments = (String, usize, oneshot::Sender<()>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (group, target, done): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        pg::monitor(group, myself.get_cell());
        Ok((target, 0, Some(done)))
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        (target, joined, done): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ProcessGroupChanged(pg::GroupChangeMessage::Join(_, _, actors)) =
            event
        {
            *joined += actors.iter().filter(|a| !a.get_id().is_local()).count();
            if *joined >= *target {
                if let Some(done) = done.take() {
                    let _ = done.send(());
                }
            }
        }
        Ok(())
    }
}

/// Has the peer node spawn `count` actors that join `group`, and returns how long until all of
/// them are visible here, with the bench process's RSS before and after. Then has them leave.
fn converge(rt: &Runtime, peer: &mut Peer, group: &str, count: usize) -> (Duration, u64, u64) {
    let (done, is_done) = oneshot::channel();
    let watcher = (group.to_owned(), count, done);
    let (watcher, watcher_handle) = run(rt, async move {
        Actor::spawn(None, GroupWatcher, watcher)
            .await
            .expect("cannot start the group watcher")
    });
    let rss_before = ProcStats::current().rss_kib;
    let start = Instant::now();
    peer.command(&PeerCommand::Join {
        group: group.to_owned(),
        count,
    })
    .expect("the peer cannot join");
    run(rt, async move {
        tokio::time::timeout(WAIT, is_done)
            .await
            .expect("the group did not converge in time")
            .expect("the watcher stopped");
    });
    let elapsed = start.elapsed();
    let rss_after = ProcStats::current().rss_kib;
    let group_name = group.to_owned();
    let visible = pg::get_members(&group_name).len();
    assert_eq!(visible, count, "unexpected members in {group}");
    watcher.stop(None);
    peer.command(&PeerCommand::Leave {
        group: group.to_owned(),
    })
    .expect("the peer cannot leave");
    run(rt, async move {
        let _ = watcher_handle.await;
        wait_until("the group to empty", || {
            pg::get_members(&group_name).is_empty()
        })
        .await;
    });
    (elapsed, rss_before, rss_after)
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// What one call of a criterion routine measured.
#[derive(Debug, Default)]
struct Sample {
    /// Messages, calls or connections measured.
    units: u64,
    elapsed: Duration,
    cpu_bench: f64,
    cpu_peer: f64,
    /// Latency of every single call, in nanoseconds, where the scenario has them.
    latencies: Vec<u64>,
}

/// Every sample of one system in one round of one scenario.
#[derive(Debug, Default)]
struct Round {
    samples: Vec<Sample>,
}

impl Round {
    /// The samples that count: all but the first (cold) one, where there are others.
    fn measured(&self) -> &[Sample] {
        match self.samples.len() {
            0 | 1 => &self.samples,
            _ => &self.samples[1..],
        }
    }

    /// Median of the per-sample rates (units per second).
    fn rate(&self) -> f64 {
        median(
            self.measured()
                .iter()
                .map(|s| s.units as f64 / s.elapsed.as_secs_f64().max(1e-9))
                .collect(),
        )
    }

    /// Median time per unit.
    fn time_per_unit(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate().max(1e-12))
    }

    /// CPU microseconds per unit of (the bench process, the peer process).
    fn cpu_per_unit(&self) -> (f64, f64) {
        let units: u64 = self.measured().iter().map(|s| s.units).sum();
        let bench: f64 = self.measured().iter().map(|s| s.cpu_bench).sum();
        let peer: f64 = self.measured().iter().map(|s| s.cpu_peer).sum();
        let units = units.max(1) as f64;
        (bench * 1e6 / units, peer * 1e6 / units)
    }

    /// The latency at quantile `q` (0..1), in microseconds.
    fn latency_us(&self, q: f64) -> f64 {
        let mut all: Vec<u64> = self
            .measured()
            .iter()
            .flat_map(|s| s.latencies.iter().copied())
            .collect();
        if all.is_empty() {
            return f64::NAN;
        }
        all.sort_unstable();
        let index = ((all.len() as f64 * q).ceil() as usize).clamp(1, all.len()) - 1;
        all[index] as f64 / 1e3
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Runs `future` on the runtime's one worker thread and waits for it.
fn run<F>(rt: &Runtime, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(future))
        .unwrap_or_else(|err| panic!("a benchmark task failed: {err}"))
}

/// One criterion routine call: reads both processes' CPU time around `future`, records a sample,
/// returns the time the future measured.
/// The ceilings have no peer process.
fn measure<F>(
    rt: &Runtime,
    mut peer: Option<&mut Peer>,
    round: &mut Round,
    units: u64,
    future: F,
) -> Duration
where
    F: Future<Output = (Duration, Vec<u64>)> + Send + 'static,
{
    let mut peer_cpu = || {
        peer.as_mut().map_or(0.0, |peer| {
            peer.stats().expect("the peer does not answer").cpu_seconds
        })
    };
    let peer_before = peer_cpu();
    let bench_before = ProcStats::current();
    let (elapsed, latencies) = run(rt, future);
    let bench_after = ProcStats::current();
    let peer_after = peer_cpu();
    round.samples.push(Sample {
        units,
        elapsed,
        cpu_bench: bench_after.cpu_seconds - bench_before.cpu_seconds,
        cpu_peer: peer_after - peer_before,
        latencies,
    });
    elapsed
}

/// The peer processes, one per system compared.
struct Peers {
    node: Peer,
    published: Peer,
    tcp: Peer,
    node_plaintext: Peer,
}

impl Peers {
    /// The peer process of `system`; the ceilings have none.
    fn of(&mut self, system: System) -> Option<&mut Peer> {
        match system {
            System::Ours => Some(&mut self.node),
            System::Published => Some(&mut self.published),
            System::Tcp => Some(&mut self.tcp),
            System::OursPlaintext => Some(&mut self.node_plaintext),
            System::LocalActor | System::RemoteCell | System::ReceiveHalf => None,
        }
    }
}

/// The bench's side of everything: the runtime, the peers, and a connection to each.
struct Suite {
    rt: Runtime,
    peers: Peers,
    node: Option<BenchNode>,
    /// Connected to the `node-plaintext` peer, only for the cast and call scenarios.
    node_plaintext: Option<BenchNode>,
    /// Connected only for the cast and call scenarios, so that the other scenarios run without it.
    published: Option<PublishedNode>,
    tcp: BaselineClient,
    ceiling: Option<Ceiling>,
    quick: bool,
    rounds: usize,
}

/// The rounds of one system in one scenario.
type Rounds = Vec<Round>;

/// The rounds of every system in one scenario, by [`System::index`]; systems a scenario does not
/// run have none.
type BySystem = [Rounds; SYSTEMS];

/// Everything measured, for the report.
#[derive(Default)]
struct Results {
    cast16: BySystem,
    cast1k: BySystem,
    seq_call: BySystem,
    par_call: BySystem,
    first_reply: BySystem,
    convergence: Rounds,
    /// (system, (bench RSS before, bench peak, peer RSS before, peer peak)) in KiB.
    flood_memory: Vec<(System, [u64; 4])>,
    /// (proxies announced, RSS growth of the bench in KiB, time until all were visible).
    proxy_memory: Option<(usize, i64, Duration)>,
    /// (bare remote cells spawned, RSS growth of a fresh process in KiB).
    remote_cell_memory: Option<(usize, i64)>,
}

impl Suite {
    fn client(&self, system: System) -> Client {
        let ceiling = || self.ceiling.as_ref().expect("no ceiling receivers");
        match system {
            System::Ours => Client::Ours(self.node.as_ref().expect("no bench node").sink.clone()),
            System::OursPlaintext => Client::Ours(
                self.node_plaintext
                    .as_ref()
                    .expect("no plaintext bench node")
                    .sink
                    .clone(),
            ),
            System::Published => Client::Published(
                self.published
                    .as_ref()
                    .expect("no published bench node")
                    .sink
                    .clone(),
            ),
            System::Tcp => Client::Tcp(self.tcp.clone()),
            System::LocalActor => Client::Local(ceiling().sink.clone()),
            System::RemoteCell => {
                Client::RemoteCell(ceiling().remote.clone(), Arc::clone(&ceiling().progress))
            }
            System::ReceiveHalf => Client::ReceiveHalf(ceiling().sink.clone()),
        }
    }

    fn casts(&self) -> u64 {
        if self.quick {
            1_000
        } else {
            CASTS_PER_ITER
        }
    }

    /// Runs `scenario` in rounds, each round every one of `systems` in turn (ours, the published
    /// crate, the baseline, then the ceilings).
    fn interleaved(
        &mut self,
        c: &mut Criterion,
        name: &str,
        systems: &[System],
        configure: impl Fn(&mut BenchmarkGroup<'_, criterion::measurement::WallTime>),
        mut scenario: impl FnMut(&mut Self, System, &mut criterion::Bencher<'_>, &mut Round),
        results: &mut BySystem,
    ) {
        for round in 1..=self.rounds {
            let mut group = c.benchmark_group(format!("{name}/round{round}"));
            configure(&mut group);
            for &system in systems {
                let mut record = Round::default();
                group.bench_function(system.id(), |b| scenario(self, system, b, &mut record));
                if !record.samples.is_empty() {
                    results[system.index()].push(record);
                }
            }
            group.finish();
        }
    }
}

fn flood_scenario(
    payload_len: usize,
) -> impl FnMut(&mut Suite, System, &mut criterion::Bencher<'_>, &mut Round) {
    move |suite, system, b, record| {
        let casts = suite.casts();
        b.iter_custom(|iters| {
            let client = suite.client(system);
            let payload = vec![0xA5u8; payload_len];
            let count = iters * casts;
            let rt = &suite.rt;
            let peer = suite.peers.of(system);
            measure(rt, peer, record, count, async move {
                (client.flood(&payload, count).await, Vec::new())
            })
        })
    }
}

fn sequential_calls(
    suite: &mut Suite,
    system: System,
    b: &mut criterion::Bencher<'_>,
    record: &mut Round,
) {
    b.iter_custom(|iters| {
        let client = suite.client(system);
        let (rt, peer) = (&suite.rt, suite.peers.of(system));
        measure(rt, peer, record, iters, async move {
            let payload = [0x5Au8; 16];
            let mut latencies = Vec::with_capacity(iters as usize);
            let start = Instant::now();
            for _ in 0..iters {
                let call = Instant::now();
                let answer = client.call(&payload).await;
                latencies.push(call.elapsed().as_nanos() as u64);
                assert_eq!(answer, 16);
            }
            (start.elapsed(), latencies)
        })
    })
}

fn concurrent_calls(
    suite: &mut Suite,
    system: System,
    b: &mut criterion::Bencher<'_>,
    record: &mut Round,
) {
    let per_caller = if suite.quick { 10 } else { CALLS_PER_CALLER };
    b.iter_custom(|iters| {
        let client = suite.client(system);
        let (rt, peer) = (&suite.rt, suite.peers.of(system));
        let calls = iters * per_caller;
        measure(rt, peer, record, calls * CALLERS, async move {
            let start = Instant::now();
            let callers: Vec<_> = (0..CALLERS)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let payload = [0x5Au8; 16];
                        for _ in 0..calls {
                            assert_eq!(client.call(&payload).await, 16);
                        }
                    })
                })
                .collect();
            for caller in callers {
                caller.await.expect("a caller failed");
            }
            (start.elapsed(), Vec::new())
        })
    })
}

/// From nothing to the first answer: ours starts a node, connects, authenticates, waits for the
/// peer's groups and calls the proxy found there; the baseline connects and calls.
fn first_reply(
    suite: &mut Suite,
    system: System,
    b: &mut criterion::Bencher<'_>,
    record: &mut Round,
) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let addr = suite
                .peers
                .of(system)
                .expect("first_reply has a peer")
                .addr();
            let (rt, peer) = (&suite.rt, suite.peers.of(system));
            total += measure(rt, peer, record, 1, async move {
                let payload = [0x5Au8; 16];
                match system {
                    System::Ours => {
                        let start = Instant::now();
                        let node = start_bench_node(addr).await;
                        let answer = Client::Ours(node.sink.clone()).call(&payload).await;
                        let elapsed = start.elapsed();
                        assert_eq!(answer, 16);
                        node.stop().await;
                        (elapsed, Vec::new())
                    }
                    _ => {
                        let start = Instant::now();
                        let client = BaselineClient::connect(addr)
                            .await
                            .expect("cannot connect to the baseline");
                        let answer = client.call(&payload).await.expect("baseline call failed");
                        let elapsed = start.elapsed();
                        assert_eq!(answer, 16);
                        (elapsed, Vec::new())
                    }
                }
            });
        }
        total
    })
}

/// Environment variable that makes this binary a memory measurement child (see [`memory_child`]).
const MEMORY_ROLE: &str = "CLUSTER_BENCH_MEMORY";
/// Environment variable that tells a memory child to measure small (smoke test).
const MEMORY_QUICK: &str = "CLUSTER_BENCH_QUICK";

/// Memory is measured in fresh processes, bench side and peer side: a process's RSS keeps what
/// earlier scenarios allocated and freed, which would hide both peaks and growth.
fn memory_in_child(role: &str, quick: bool) -> Vec<u64> {
    let exe = std::env::current_exe().expect("cannot find this bench binary");
    let mut command = std::process::Command::new(exe);
    command
        .env(MEMORY_ROLE, role)
        .stdin(std::process::Stdio::null());
    if quick {
        command.env(MEMORY_QUICK, "1");
    }
    let output = command.output().expect("cannot run a memory child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figures = stdout
        .lines()
        .find_map(|line| line.strip_prefix("memory "))
        .unwrap_or_else(|| panic!("the {role} memory child said {stdout:?}"));
    figures
        .split_whitespace()
        .map(|n| n.parse().expect("a memory figure"))
        .collect()
}

/// The body of a memory child: `flood-ours`, `flood-tcp` (peak RSS of both processes during one
/// flood of 1 KiB casts) or `proxies` (RSS growth for `PROXIES` announced remote actors). Prints
/// one `memory …` line.
fn memory_child(role: &str) {
    let quick = std::env::var_os(MEMORY_QUICK).is_some();
    if role == "remote-cells" {
        remote_cells_child(quick);
        return;
    }
    let casts = if quick { 1_000 } else { CASTS_PER_ITER };
    let exe = Path::new(env!("CARGO_BIN_EXE_bench_peer"));
    let kind = if role == "flood-tcp" {
        PeerKind::Tcp
    } else {
        PeerKind::Node
    };
    let mut peer = Peer::start(exe, kind).expect("cannot start the peer");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("cannot build the runtime");
    let addr = peer.addr();
    let client = run(&rt, async move {
        match kind {
            PeerKind::Node => Client::Ours(start_bench_node(addr).await.sink),
            PeerKind::Tcp => Client::Tcp(
                BaselineClient::connect(addr)
                    .await
                    .expect("cannot connect to the baseline"),
            ),
            PeerKind::Published | PeerKind::PlaintextNode => {
                unreachable!("no memory figures of the published crate or of plaintext frames")
            }
        }
    });
    if role == "proxies" {
        let count = if quick { 100 } else { PROXIES };
        let (elapsed, before, after) = converge(&rt, &mut peer, "bench_proxies", count);
        println!("memory {count} {before} {after} {}", elapsed.as_nanos());
        return;
    }
    // A few casts first, so that lazily built state is not counted as the flood's.
    let warm = client.clone();
    run(&rt, async move {
        warm.flood(&[0xA5u8; 1024], 100).await;
    });
    let reset = stats::reset_peak_rss() && peer.command(&PeerCommand::ResetPeakRss).is_ok();
    if !reset {
        eprintln!("cannot reset the peak RSS: peaks are since the processes started");
    }
    let peer_before = peer.stats().expect("the peer does not answer");
    let bench_before = ProcStats::current();
    run(&rt, async move {
        client.flood(&[0xA5u8; 1024], casts).await;
    });
    let bench_after = ProcStats::current();
    let peer_after = peer.stats().expect("the peer does not answer");
    println!(
        "memory {} {} {} {}",
        bench_before.rss_kib,
        bench_after.peak_rss_kib,
        peer_before.rss_kib,
        peer_after.peak_rss_kib
    );
}

/// Peak RSS of both processes during one flood of 1 KiB casts, for each system.
fn flood_memory(quick: bool, results: &mut Results) {
    for (system, role) in [(System::Ours, "flood-ours"), (System::Tcp, "flood-tcp")] {
        if let [bench_before, bench_peak, peer_before, peer_peak] = memory_in_child(role, quick)[..]
        {
            results
                .flood_memory
                .push((system, [bench_before, bench_peak, peer_before, peer_peak]));
        }
    }
}

/// The body of the `remote-cells` memory child: RSS growth for `PROXIES` bare ractor remote cells
/// spawned in a fresh process with no node, no network and no process group. Prints
/// `memory <count> <RSS before> <RSS after>`.
fn remote_cells_child(quick: bool) {
    let count = if quick { 100 } else { PROXIES };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("cannot build the runtime");
    let (before, after) = run(&rt, async move {
        let (parent, _) = Actor::spawn(None, Idle::<()>::new(), ())
            .await
            .expect("cannot start the remote cells' parent");
        let before = ProcStats::current().rss_kib;
        let mut cells = Vec::with_capacity(count);
        for pid in 0..count as u64 {
            let id = ActorId::Remote {
                node_id: CEILING_NODE,
                pid,
            };
            let (cell, handle) = ractor::ActorRuntime::spawn_linked_remote(
                None,
                Idle::<BenchMessage>::new(),
                id,
                (),
                parent.get_cell(),
            )
            .await
            .expect("cannot start a remote cell");
            cells.push((cell, handle));
        }
        // Every cell has run its `pre_start` and waits on its mailbox.
        tokio::task::yield_now().await;
        let after = ProcStats::current().rss_kib;
        std::hint::black_box(&cells);
        (before, after)
    });
    println!("memory {count} {before} {after}");
}

/// RSS growth of a fresh process for `PROXIES` bare ractor remote cells.
fn remote_cell_memory(quick: bool, results: &mut Results) {
    if let [count, before, after] = memory_in_child("remote-cells", quick)[..] {
        results.remote_cell_memory = Some((count as usize, after as i64 - before as i64));
    }
}

/// RSS growth of a bench process while `PROXIES` remote actors get announced to it.
fn proxy_memory(quick: bool, results: &mut Results) {
    if let [count, before, after, nanos] = memory_in_child("proxies", quick)[..] {
        results.proxy_memory = Some((
            count as usize,
            after as i64 - before as i64,
            Duration::from_nanos(nanos),
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// The report

fn fmt_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k/s", per_second / 1e3)
    } else {
        format!("{per_second:.1} /s")
    }
}

fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e3 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.1} µs")
    }
}

fn fmt_kib(kib: f64) -> String {
    if kib.abs() >= 1024.0 {
        format!("{:.1} MiB", kib / 1024.0)
    } else {
        format!("{kib:.0} KiB")
    }
}

fn fmt_cpu((bench, peer): (f64, f64)) -> String {
    format!("{bench:.2} + {peer:.2}")
}

/// Medians over rounds of a per-round figure, for ours and the baseline.
fn medians(rounds: &BySystem, figure: impl Fn(&Round) -> f64) -> (f64, f64) {
    (
        median_of(&rounds[System::Ours.index()], &figure),
        median_of(&rounds[System::Tcp.index()], &figure),
    )
}

/// Median over rounds of a per-round figure.
fn median_of(rounds: &Rounds, figure: impl Fn(&Round) -> f64) -> f64 {
    median(rounds.iter().map(figure).collect())
}

fn cpu_medians(rounds: &Rounds) -> (f64, f64) {
    (
        median(rounds.iter().map(|r| r.cpu_per_unit().0).collect()),
        median(rounds.iter().map(|r| r.cpu_per_unit().1).collect()),
    )
}

fn per_round(rounds: &Rounds, figure: impl Fn(&Round) -> String) -> String {
    rounds.iter().map(figure).collect::<Vec<_>>().join(", ")
}

fn ceiling_label(system: System) -> &'static str {
    match system {
        System::LocalActor => "local actor, no network",
        System::RemoteCell => "send half, bare remote cell, no network",
        System::ReceiveHalf => "receive half, `send_serialized` to a local actor, no network",
        System::Ours | System::Published | System::Tcp | System::OursPlaintext => "",
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|date| date.trim().to_owned())
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), {date}")
}

/// The label of the published crate's rows.
const PUBLISHED_LABEL: &str = "published ractor_cluster 0.16.5";

fn report(results: &Results, rounds: usize, casts: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Cluster benchmarks: ractor_cluster vs the published ractor_cluster 0.16.5 vs plain TCP\n"
    );
    let _ = writeln!(
        out,
        "Machine: {}. Two processes over 127.0.0.1, one tokio worker each; median of {rounds} \
         interleaved rounds; floods of {casts} casts per iteration. CPU is µs per message or call, \
         bench process + peer process. Rows `↳ published` give the published crate's figure, its \
         ratio to plain TCP, and ours ÷ published (above 1 is ours faster for a rate, slower for a \
         latency); their CPU is in the `ours` column.\n",
        machine()
    );
    let _ = writeln!(
        out,
        "| scenario | ractor_cluster | plain TCP | ratio | goal | CPU µs/op ours | CPU µs/op TCP |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    let mut throughput_row = |name: &str, rounds: &BySystem, goal: &str, bytes: Option<f64>| {
        let (ours_rounds, tcp_rounds) =
            (&rounds[System::Ours.index()], &rounds[System::Tcp.index()]);
        if ours_rounds.is_empty() || tcp_rounds.is_empty() {
            return;
        }
        let (ours, tcp) = medians(rounds, Round::rate);
        let show = |rate: f64| match bytes {
            Some(len) => format!("{} ({:.0} MB/s)", fmt_rate(rate), rate * len / 1e6),
            None => fmt_rate(rate),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.2} | {goal} | {} | {} |",
            show(ours),
            show(tcp),
            ours / tcp,
            fmt_cpu(cpu_medians(ours_rounds)),
            fmt_cpu(cpu_medians(tcp_rounds)),
        );
        let plaintext_rounds = &rounds[System::OursPlaintext.index()];
        if !plaintext_rounds.is_empty() {
            let plaintext = median_of(plaintext_rounds, Round::rate);
            let _ = writeln!(
                out,
                "| ↳ ours, plaintext frames (sealed ÷ plaintext: {:.3}) | {} | | {:.2} | | {} | |",
                ours / plaintext,
                show(plaintext),
                plaintext / tcp,
                fmt_cpu(cpu_medians(plaintext_rounds)),
            );
        }
        let published_rounds = &rounds[System::Published.index()];
        if !published_rounds.is_empty() {
            let published = median_of(published_rounds, Round::rate);
            let _ = writeln!(
                out,
                "| ↳ {PUBLISHED_LABEL} (ours ÷ published: {:.2}) | {} | | {:.2} | | {} | |",
                ours / published,
                show(published),
                published / tcp,
                fmt_cpu(cpu_medians(published_rounds)),
            );
        }
        // The ractor ceilings of this scenario, as a ratio to the same baseline.
        let mut halves = Vec::new();
        for system in [System::LocalActor, System::RemoteCell, System::ReceiveHalf] {
            let ceiling = &rounds[system.index()];
            if ceiling.is_empty() {
                continue;
            }
            let rate = median_of(ceiling, Round::rate);
            if system != System::LocalActor {
                halves.push(rate);
            }
            let _ = writeln!(
                out,
                "| ↳ ractor ceiling: {} | {} | | {:.2} | | {:.2} | |",
                ceiling_label(system),
                show(rate),
                rate / tcp,
                cpu_medians(ceiling).0,
            );
        }
        if halves.len() == 2 {
            let slower = halves[0].min(halves[1]);
            let _ = writeln!(
                out,
                "| ↳ ractor ceiling: best any layer on ractor 0.16 could reach (the slower half) | {} | | {:.2} | | | |",
                show(slower),
                slower / tcp,
            );
        }
    };
    throughput_row("cast 16 B", &results.cast16, "≥ 0.4", None);
    throughput_row("cast 1 KiB", &results.cast1k, "≥ 0.5", Some(1024.0));
    throughput_row(
        "calls, 32 concurrent callers (16 B)",
        &results.par_call,
        "≥ 0.7",
        None,
    );
    let seq = &results.seq_call;
    let (seq_ours, seq_published, seq_tcp, seq_local) = (
        &seq[System::Ours.index()],
        &seq[System::Published.index()],
        &seq[System::Tcp.index()],
        &seq[System::LocalActor.index()],
    );
    if !seq_ours.is_empty() && !seq_tcp.is_empty() {
        for (label, q, goal) in [
            ("p50", 0.5, "≤ 1.1"),
            ("p99", 0.99, "≤ 1.3"),
            ("p99.9", 0.999, ""),
        ] {
            let (ours, tcp) = medians(seq, |r| r.latency_us(q));
            let _ = writeln!(
                out,
                "| sequential call 16 B, {label} | {ours:.1} µs | {tcp:.1} µs | {:.2} | {goal} | {} | {} |",
                ours / tcp,
                fmt_cpu(cpu_medians(seq_ours)),
                fmt_cpu(cpu_medians(seq_tcp)),
            );
            let seq_plaintext = &seq[System::OursPlaintext.index()];
            if !seq_plaintext.is_empty() {
                let plaintext = median_of(seq_plaintext, |r| r.latency_us(q));
                let _ = writeln!(
                    out,
                    "| ↳ ours, plaintext frames (sealed ÷ plaintext: {:.3}) | {plaintext:.1} µs | | {:.2} | | {} | |",
                    ours / plaintext,
                    plaintext / tcp,
                    fmt_cpu(cpu_medians(seq_plaintext)),
                );
            }
            if !seq_published.is_empty() && q < 0.999 {
                let published = median_of(seq_published, |r| r.latency_us(q));
                let _ = writeln!(
                    out,
                    "| ↳ {PUBLISHED_LABEL} (ours ÷ published: {:.2}) | {published:.1} µs | | {:.2} | | {} | |",
                    ours / published,
                    published / tcp,
                    fmt_cpu(cpu_medians(seq_published)),
                );
            }
            if !seq_local.is_empty() && q < 0.999 {
                let local = median_of(seq_local, |r| r.latency_us(q));
                let _ = writeln!(
                    out,
                    "| ↳ ractor ceiling: {} | {local:.1} µs | | {:.2} | | {:.2} | |",
                    ceiling_label(System::LocalActor),
                    local / tcp,
                    cpu_medians(seq_local).0,
                );
                if q == 0.5 {
                    // A remote call crosses at least the hops of one local call on top of what a
                    // hand-written protocol does: the target's mailbox and its reply port.
                    let _ = writeln!(
                        out,
                        "| ↳ ractor ceiling: estimate, TCP p50 + local call p50 | {:.1} µs | | {:.2} | | | |",
                        tcp + local,
                        (tcp + local) / tcp,
                    );
                }
            }
        }
        let (ours, tcp) = medians(&results.seq_call, |r| r.time_per_unit().as_secs_f64());
        let _ = writeln!(
            out,
            "| sequential call 16 B, mean | {} | {} | {:.2} | | | |",
            fmt_duration(Duration::from_secs_f64(ours)),
            fmt_duration(Duration::from_secs_f64(tcp)),
            ours / tcp,
        );
    }
    if !results.first_reply[System::Ours.index()].is_empty()
        && !results.first_reply[System::Tcp.index()].is_empty()
    {
        let (ours, tcp) = medians(&results.first_reply, |r| r.time_per_unit().as_secs_f64());
        let _ = writeln!(
            out,
            "| start node → first remote reply (TCP: connect → first reply) | {} | {} | {:.1} | < 1 ms | | |",
            fmt_duration(Duration::from_secs_f64(ours)),
            fmt_duration(Duration::from_secs_f64(tcp)),
            ours / tcp,
        );
    }
    if !results.convergence.is_empty() {
        let time = median(
            results
                .convergence
                .iter()
                .map(|r| r.time_per_unit().as_secs_f64())
                .collect(),
        );
        let _ = writeln!(
            out,
            "| pg convergence, {GROUP_SIZE} actors join on the peer | {} | | | | | |",
            fmt_duration(Duration::from_secs_f64(time)),
        );
    }
    let memory = |system: System| {
        results.flood_memory.iter().find(|(s, _)| *s == system).map(
            |(_, [bench_before, bench_peak, peer_before, peer_peak])| {
                format!(
                    "bench {} (from {}), peer {} (from {})",
                    fmt_kib(*bench_peak as f64),
                    fmt_kib(*bench_before as f64),
                    fmt_kib(*peer_peak as f64),
                    fmt_kib(*peer_before as f64),
                )
            },
        )
    };
    if let (Some(ours), Some(tcp)) = (memory(System::Ours), memory(System::Tcp)) {
        let _ = writeln!(
            out,
            "| peak RSS during one 1 KiB flood of {casts} | {ours} | {tcp} | | ≤ 128 MiB | | |"
        );
    }
    if let Some((proxies, growth_kib, elapsed)) = results.proxy_memory {
        let _ = writeln!(
            out,
            "| memory per remote actor proxy ({proxies} announced; all visible after {}) | {:.0} B | | | ≤ 4 KiB | | |",
            fmt_duration(elapsed),
            growth_kib as f64 * 1024.0 / proxies as f64,
        );
    }
    if let Some((cells, growth_kib)) = results.remote_cell_memory {
        let _ = writeln!(
            out,
            "| ↳ ractor ceiling: one bare ractor remote cell ({cells} spawned in a fresh process, no node) | {:.0} B | | | | | |",
            growth_kib as f64 * 1024.0 / cells as f64,
        );
    }

    let _ = writeln!(
        out,
        "\nPer round (ractor_cluster | published ractor_cluster 0.16.5 | plain TCP, then the \
         ractor ceilings measured: local actor | remote cell | receive half; first reply: ours | \
         plain TCP):\n"
    );
    // Every system the scenario ran, in `System` order; a scenario filtered out has no line.
    let mut line = |name: &str, rounds: &[Rounds], figure: &dyn Fn(&Round) -> String| {
        let ran: Vec<String> = rounds
            .iter()
            .filter(|rounds| !rounds.is_empty())
            .map(|rounds| per_round(rounds, figure))
            .collect();
        if !ran.is_empty() {
            let _ = writeln!(out, "- {name}: {}", ran.join(" | "));
        }
    };
    let rate = |r: &Round| fmt_rate(r.rate());
    line("cast 16 B", &results.cast16, &rate);
    line("cast 1 KiB", &results.cast1k, &rate);
    line("32 callers", &results.par_call, &rate);
    line(
        "sequential call p50/p99/p99.9 µs",
        &results.seq_call,
        &|r| {
            format!(
                "{:.1}/{:.1}/{:.1}",
                r.latency_us(0.5),
                r.latency_us(0.99),
                r.latency_us(0.999)
            )
        },
    );
    let time = |r: &Round| fmt_duration(r.time_per_unit());
    line("first reply", &results.first_reply, &time);
    line(
        "pg convergence",
        std::slice::from_ref(&results.convergence),
        &time,
    );
    out
}

fn report_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target")
        });
    target.join("bench-report.md")
}

// ---------------------------------------------------------------------------------------------

fn main() {
    if let Some(role) = std::env::var_os(MEMORY_ROLE) {
        memory_child(&role.to_string_lossy());
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) run everything once,
    // small, as a smoke test.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let rounds = match std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        Some(rounds) if rounds > 0 => rounds,
        _ if quick => 1,
        _ => 3,
    };
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let exe = Path::new(env!("CARGO_BIN_EXE_bench_peer"));
    let peers = Peers {
        node: Peer::start(exe, PeerKind::Node).expect("cannot start the node peer"),
        published: Peer::start(exe, PeerKind::Published)
            .expect("cannot start the published node peer"),
        tcp: Peer::start(exe, PeerKind::Tcp).expect("cannot start the baseline peer"),
        node_plaintext: Peer::start(exe, PeerKind::PlaintextNode)
            .expect("cannot start the plaintext node peer"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("cannot build the runtime");
    let tcp_addr = peers.tcp.addr();
    let tcp = run(&rt, async move {
        BaselineClient::connect(tcp_addr)
            .await
            .expect("cannot connect to the baseline peer")
    });
    let mut suite = Suite {
        rt,
        peers,
        node: None,
        node_plaintext: None,
        published: None,
        tcp,
        ceiling: None,
        quick,
        rounds,
    };
    let mut results = Results::default();

    // First, while no other bench node exists: from a new node to its first remote reply.
    let flat = |group: &mut BenchmarkGroup<'_, _>| {
        group.sampling_mode(SamplingMode::Flat);
    };
    suite.interleaved(
        &mut c,
        "first_reply",
        &COMPARED,
        flat,
        first_reply,
        &mut results.first_reply,
    );

    // The node every other scenario uses.
    let node_addr = suite.peers.node.addr();
    suite.node = Some(run(&suite.rt, start_bench_node(node_addr)));
    // The receivers of the ceilings, in this process.
    suite.ceiling = Some(run(&suite.rt, start_ceiling()));

    proxy_memory(suite.quick, &mut results);
    remote_cell_memory(suite.quick, &mut results);

    for round in 1..=suite.rounds {
        let mut group = c.benchmark_group(format!("pg_convergence/round{round}"));
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(GROUP_SIZE as u64));
        let mut record = Round::default();
        let counter = AtomicU64::new(0);
        group.bench_function(System::Ours.id(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let group = format!("conv{}", counter.fetch_add(1, Ordering::Relaxed));
                    let (elapsed, _, _) =
                        converge(&suite.rt, &mut suite.peers.node, &group, GROUP_SIZE);
                    record.samples.push(Sample {
                        units: 1,
                        elapsed,
                        ..Sample::default()
                    });
                    total += elapsed;
                }
                total
            })
        });
        if !record.samples.is_empty() {
            results.convergence.push(record);
        }
        group.finish();
    }

    // The published node, connected only now: its session forwards every process-group change
    // of this process to its peer, our proxies' included, which would load the scenarios above.
    let published_addr = suite.peers.published.addr();
    suite.published = Some(run(&suite.rt, async move {
        PublishedNode::connect(published_addr, WAIT)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to the published peer: {err}"))
    }));

    // The plaintext node too, connected only now for the same reason.
    let plaintext_addr = suite.peers.node_plaintext.addr();
    suite.node_plaintext = Some(run(&suite.rt, start_bench_node_with(plaintext_addr, true)));

    let casts = suite.casts();
    for (name, len) in [("cast_16B", 16usize), ("cast_1KiB", 1024)] {
        let results = if len == 16 {
            &mut results.cast16
        } else {
            &mut results.cast1k
        };
        suite.interleaved(
            &mut c,
            name,
            &CAST_SYSTEMS,
            |group| {
                group.sampling_mode(SamplingMode::Flat);
                group.throughput(Throughput::Elements(casts));
            },
            flood_scenario(len),
            results,
        );
    }
    flood_memory(suite.quick, &mut results);

    suite.interleaved(
        &mut c,
        "sequential_call_16B",
        &CALL_SYSTEMS,
        |group| {
            group.throughput(Throughput::Elements(1));
        },
        sequential_calls,
        &mut results.seq_call,
    );
    let per_iter = CALLERS * if suite.quick { 10 } else { CALLS_PER_CALLER };
    suite.interleaved(
        &mut c,
        "calls_32_callers_16B",
        &CALL_SYSTEMS,
        |group| {
            group.sampling_mode(SamplingMode::Flat);
            group.throughput(Throughput::Elements(per_iter));
        },
        concurrent_calls,
        &mut results.par_call,
    );

    if let Some(published) = suite.published.take() {
        published.stop();
    }
    if let Some(node) = suite.node_plaintext.take() {
        run(&suite.rt, node.stop());
    }
    if let Some(node) = suite.node.take() {
        run(&suite.rt, node.stop());
    }
    if let Some(ceiling) = suite.ceiling.take() {
        ceiling.stop();
    }
    c.final_summary();

    let table = report(&results, suite.rounds, casts);
    println!("\n{table}");
    let path = report_path();
    match std::fs::write(&path, &table) {
        Ok(()) => println!("(also written to {})", path.display()),
        Err(err) => eprintln!("cannot write {}: {err}", path.display()),
    }
}
