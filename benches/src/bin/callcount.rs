//! Instruction counts of the cluster's message paths, for callgrind (the figures in the README's
//! "Performance" and "What observing costs" sections and in `benches/README.md`): `n` sequential
//! 16 B remote calls (`calls`), `n` calls from 32 concurrent callers (`calls32`) or `n` paced casts
//! of 16 B or 1 KiB (`casts`, `casts1k`) from a node in this process to a `bench_peer` node
//! process (`node` sealed, `node-plaintext`). Not a benchmark: it prints its wall time and context
//! switches per message, but the figure that counts is callgrind's, which is the same from run to
//! run whatever else the machine does. The cost of one message is the difference of two runs,
//! both processes together:
//!
//! ```text
//! cargo build --release -p ractor_cluster_benches --bin callcount --bin bench_peer [--features F]
//! valgrind --tool=callgrind --trace-children=yes --callgrind-out-file=cg-$N.%p \
//!     target/release/callcount calls $N node          # N = 1000, then 5000
//! # per message = (total of both cg-5000.* − total of both cg-1000.*) / 4000
//! ```
//!
//! With the benches' features: `CC_RECORDER=1` installs `metrics::NoopRecorder` (`metrics`);
//! `CC_TRACE=fixed` sends every message inside one sampled trace context (`trace-context`);
//! `CC_TRACE=otel` with `BENCH_PEER_OTEL=1` runs the OpenTelemetry SDK on both nodes
//! (`opentelemetry`).
use std::time::{Duration, Instant};

use ractor::{pg, Actor, ActorRef};
use ractor_cluster_benches::peer::{Peer, PeerKind};
use ractor_cluster_benches::{BenchMessage, SINK_GROUP};

fn ctx_switches(pid: &str) -> (u64, u64) {
    let mut vol = 0;
    let mut invol = 0;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in dir.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("voluntary_ctxt_switches:") {
                    vol += v.trim().parse::<u64>().unwrap_or(0);
                }
                if let Some(v) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
                    invol += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    (vol, invol)
}

fn child_pid() -> Option<String> {
    let me = std::process::id();
    for task in std::fs::read_dir(format!("/proc/{me}/task"))
        .ok()?
        .flatten()
    {
        let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        if let Some(pid) = kids.split_whitespace().next() {
            return Some(pid.to_owned());
        }
    }
    None
}

/// A propagator that says every message is sent inside one sampled span (and gives received
/// ones no parent): `trace-context`'s sending path and wire cost without any subscriber.
#[cfg(feature = "trace-context")]
struct Fixed;
#[cfg(feature = "trace-context")]
impl ractor_cluster::trace::Propagator for Fixed {
    fn current(&self) -> Option<ractor_cluster::trace::TraceContext> {
        Some(ractor_cluster::trace::TraceContext::new([7; 16], [9; 8], 1))
    }
    fn set_parent(&self, _: &tracing::Span, _: ractor_cluster::trace::TraceContext) {}
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let trace_mode = std::env::var("CC_TRACE").unwrap_or_default();
    #[cfg(feature = "metrics")]
    if std::env::var_os("CC_RECORDER").is_some() {
        metrics::set_global_recorder(metrics::NoopRecorder).unwrap();
        eprintln!("noop recorder installed");
    }
    #[cfg(feature = "trace-context")]
    if trace_mode == "fixed" {
        ractor_cluster::trace::set_propagator(Fixed).ok().unwrap();
        eprintln!("fixed propagator");
    }
    #[cfg(feature = "opentelemetry")]
    let _provider = (trace_mode == "otel").then(|| {
        eprintln!("otel subscriber");
        ractor_cluster_benches::otel::install().unwrap()
    });
    let mode = args[1].clone();
    let n: u64 = args[2].parse().unwrap();
    let kind = PeerKind::from_arg(&args[3]).unwrap();
    let exe = std::env::current_exe()
        .unwrap()
        .with_file_name("bench_peer");
    let peer = Peer::start(&exe, kind).unwrap();
    let addr = peer.addr();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let plaintext = kind != PeerKind::Node;
    let peer_pid = child_pid().unwrap_or_default();
    let sink: ActorRef<BenchMessage> = handle
        .block_on(handle.spawn(async move {
            let server =
                ractor_cluster_benches::bench_node_server("callcount".to_owned(), plaintext);
            let (server, _) = Actor::spawn(None, server, ()).await.unwrap();
            ractor_cluster::client_connect(&server, addr).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                if let Some(p) = pg::get_members(&SINK_GROUP.to_owned())
                    .into_iter()
                    .find(|m| !m.get_id().is_local())
                {
                    // The node keeps running: dropping a reference to it does not stop it.
                    break ActorRef::from(p);
                }
                assert!(Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }))
        .unwrap();
    // warm-up
    handle
        .block_on(handle.spawn({
            let sink = sink.clone();
            async move {
                for _ in 0..50 {
                    ractor::call!(sink, BenchMessage::Echo, vec![0x5A; 16]).unwrap();
                }
            }
        }))
        .unwrap();
    let me = std::process::id().to_string();
    let (v0, i0) = ctx_switches(&me);
    let (pv0, pi0) = ctx_switches(&peer_pid);
    let start = Instant::now();
    let in_span = trace_mode == "otel";
    handle
        .block_on(handle.spawn(async move {
            let work = async move {
                match mode.as_str() {
                    "calls" => {
                        for _ in 0..n {
                            let a =
                                ractor::call!(sink, BenchMessage::Echo, vec![0x5A; 16]).unwrap();
                            assert_eq!(a, 16);
                        }
                    }
                    "calls32" => {
                        // 32 concurrent callers, n calls in all (n / 32 each).
                        let callers: Vec<_> = (0..32)
                            .map(|_| {
                                let sink = sink.clone();
                                tokio::spawn(async move {
                                    for _ in 0..n / 32 {
                                        let a =
                                            ractor::call!(sink, BenchMessage::Echo, vec![0x5A; 16])
                                                .unwrap();
                                        assert_eq!(a, 16);
                                    }
                                })
                            })
                            .collect();
                        for c in callers {
                            c.await.unwrap();
                        }
                    }
                    m => {
                        let size = if m == "casts1k" { 1024 } else { 16 };
                        for sent in 1..=n {
                            ractor_cluster::backpressure::paced_cast(
                                &sink,
                                BenchMessage::Payload(vec![0x5A; size]),
                            )
                            .await
                            .unwrap();
                            if sent % 1000 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                        let c = ractor::call!(sink, BenchMessage::Count).unwrap();
                        assert!(c >= n);
                    }
                }
            };
            #[cfg(feature = "opentelemetry")]
            if in_span {
                use tracing::Instrument;
                return work.instrument(tracing::info_span!("callcount")).await;
            }
            let _ = in_span;
            work.await
        }))
        .unwrap();
    let el = start.elapsed();
    let (v1, i1) = ctx_switches(&me);
    let (pv1, pi1) = ctx_switches(&peer_pid);
    eprintln!(
        "n={n} elapsed={el:?} per_op={:?} ctxsw/op here vol={:.2} invol={:.2} peer vol={:.2} invol={:.2}",
        el / n as u32,
        (v1 - v0) as f64 / n as f64,
        (i1 - i0) as f64 / n as f64,
        (pv1 - pv0) as f64 / n as f64,
        (pi1 - pi0) as f64 / n as f64
    );
    drop(peer);
    std::process::exit(0);
}
