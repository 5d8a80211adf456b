//! The peer process of the benchmark suite: `bench_peer node` runs a `ractor_cluster` node with a
//! receiving actor, `bench_peer node-plaintext` the same node asking for plaintext frames,
//! `bench_peer published` a node of the published `ractor_cluster` 0.16.5 with a receiving actor, `bench_peer tcp` the plain TCP baseline server. Each runs on one tokio
//! worker thread, prints `port <n>` when it listens, answers the commands of
//! `ractor_cluster_benches::peer::PeerCommand` read on stdin, and exits when stdin closes.
//!
//! The bench (`benches/cluster.rs`) starts and stops it; run by hand only to debug it. Built with
//! the `opentelemetry` feature and run with `BENCH_PEER_OTEL` set, it records every span through
//! `ractor_cluster_benches::otel`.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::process::ExitCode;

use ractor::concurrency::JoinHandle;
use ractor::{pg, Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_benches::peer::{PeerCommand, PeerKind};
use ractor_cluster_benches::published;
use ractor_cluster_benches::stats::{self, ProcStats};
use ractor_cluster_benches::{baseline, BenchMessage, Sink, SINK_GROUP};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An actor that only joins a group (in its `pre_start`, as an application's actor would), for
/// the process-group benchmarks.
struct Member;

impl Actor for Member {
    type Msg = BenchMessage;
    type State = ();
    type Arguments = String;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        group: String,
    ) -> Result<Self::State, ActorProcessingErr> {
        pg::join(group, vec![myself.get_cell()]);
        Ok(())
    }
}

type Members = Vec<(ActorRef<BenchMessage>, JoinHandle<()>)>;

async fn spawn_members(group: String, count: usize) -> Result<Members, BoxError> {
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        members.push(Actor::spawn(None, Member, group.clone()).await?);
    }
    Ok(members)
}

async fn stop_members(members: Members) -> Result<(), BoxError> {
    for (actor, _) in &members {
        actor.stop(None);
    }
    for (_, handle) in members {
        handle.await?;
    }
    Ok(())
}

/// Starts the node and its receiving actor; returns the port the node listens on. A `plaintext`
/// node asks for plaintext frames, and has another name, so that its proxies on the bench side are
/// told apart from the sealed node's.
async fn start_node(plaintext: bool) -> Result<u16, BoxError> {
    let name = if plaintext {
        "bench_peer_plaintext"
    } else {
        "bench_peer"
    };
    let server = ractor_cluster_benches::bench_node_server(name.to_owned(), plaintext);
    let (server, _) = Actor::spawn(None, server, ()).await?;
    let info = ractor_cluster::node::node_info(&server).await?;
    let (sink, _) = Actor::spawn(None, Sink::<BenchMessage>::new(), ()).await?;
    pg::join(SINK_GROUP.to_owned(), vec![sink.get_cell()]);
    Ok(info.listen_addr.port())
}

/// Starts the baseline server; returns its port.
async fn start_baseline() -> Result<u16, BoxError> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        if let Err(err) = baseline::serve(listener).await {
            eprintln!("bench_peer: baseline server stopped: {err}");
        }
    });
    Ok(port)
}

fn run(kind: PeerKind) -> Result<(), BoxError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    // Everything runs on the worker thread; this thread only reads commands and waits.
    let port = match kind {
        PeerKind::Node => handle.block_on(handle.spawn(start_node(false)))??,
        PeerKind::PlaintextNode => handle.block_on(handle.spawn(start_node(true)))??,
        PeerKind::Tcp => handle.block_on(handle.spawn(start_baseline()))??,
        PeerKind::Published => handle.block_on(handle.spawn(published::start_peer_node()))??,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "port {port}")?;
    stdout.flush()?;

    let mut groups: HashMap<String, Members> = HashMap::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let answer = match PeerCommand::parse(&line) {
            None => format!("error unknown command {line:?}"),
            Some(PeerCommand::Stats) => format!("stats {}", ProcStats::current()),
            Some(PeerCommand::ResetPeakRss) => match stats::reset_peak_rss() {
                true => "ok".to_owned(),
                false => "error cannot reset the peak RSS".to_owned(),
            },
            Some(PeerCommand::Join { .. }) if kind != PeerKind::Node => {
                "error only the `node` peer takes join".to_owned()
            }
            Some(PeerCommand::Join { group, count }) => {
                match handle.block_on(handle.spawn(spawn_members(group.clone(), count))) {
                    Ok(Ok(members)) => {
                        groups.entry(group).or_default().extend(members);
                        "ok".to_owned()
                    }
                    Ok(Err(err)) => format!("error {err}"),
                    Err(err) => format!("error {err}"),
                }
            }
            Some(PeerCommand::Leave { group }) => {
                let members = groups.remove(&group).unwrap_or_default();
                match handle.block_on(handle.spawn(stop_members(members))) {
                    Ok(Ok(())) => "ok".to_owned(),
                    Ok(Err(err)) => format!("error {err}"),
                    Err(err) => format!("error {err}"),
                }
            }
        };
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    eprintln!(
        "bench_peer {}: stdin closed, exiting ({})",
        kind.arg(),
        ProcStats::current()
    );
    Ok(())
}

fn main() -> ExitCode {
    let Some(kind) = std::env::args()
        .nth(1)
        .as_deref()
        .and_then(PeerKind::from_arg)
    else {
        eprintln!("usage: bench_peer node|published|tcp");
        return ExitCode::from(2);
    };
    // With the `opentelemetry` feature and `BENCH_PEER_OTEL` set, every span goes to an
    // OpenTelemetry SDK that discards it: what the feature costs the receiving node of a trace.
    #[cfg(feature = "opentelemetry")]
    let _provider = match std::env::var_os("BENCH_PEER_OTEL") {
        Some(_) => match ractor_cluster_benches::otel::install() {
            Ok(provider) => Some(provider),
            Err(err) => {
                eprintln!("bench_peer: {err}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    match run(kind) {
        // Leave at once: the runtime's tasks (the node, its sessions) need no orderly shutdown.
        Ok(()) => std::process::exit(0),
        Err(err) => {
            eprintln!("bench_peer {}: {err}", kind.arg());
            ExitCode::FAILURE
        }
    }
}
