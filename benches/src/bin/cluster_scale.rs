//! The scale benchmark of issue 14: N node processes on 127.0.0.1 that find each other through the
//! same seed list, and what the cluster costs. Not a timed test: run it by hand, on a quiet
//! machine.
//!
//! ```text
//! cargo run --release -p ractor_cluster_benches --bin cluster_scale -- --nodes 16
//! cargo run --release -p ractor_cluster_benches --bin cluster_scale -- --nodes 64 --base-port 30000 --idle-secs 20
//! cargo run --release -p ractor_cluster_benches --bin cluster_scale -- --nodes 256 --base-port 32000 --stagger-ms 20
//! ```
//!
//! The runner starts `--nodes` copies of itself (each a node with one tokio thread, listening on
//! `127.0.0.1:<base-port + i>`, given the whole list as `StaticSeeds`, with one actor in a process
//! group), all at once or `--stagger-ms` apart, and reports:
//! * convergence: time from the last start until every node sees all N members up and the N − 1
//!   other nodes' actors in the group;
//! * sessions each node opened (dialed or accepted) by the time it converged, median and max: N − 1
//!   if no connection was wasted (crossed dials, duplicates, reconnections);
//! * peak RSS per node (VmHWM; median and max);
//! * on stderr, the CPU all nodes used until converged, and the minor page faults they took
//!   (median per node and in all), each a page the kernel found and zeroed for a node: the cost
//!   that grows most when this machine is slow;
//! * idle CPU per node and for the whole cluster over `--idle-secs` (default 10) of no traffic;
//! * heartbeat frames sent per node per second over the same window;
//! * context switches per node per second over the same window: how often an idle node is woken,
//!   a figure the machine's load hardly changes;
//! * detection of a frozen node: time from stopping node 1 (SIGSTOP) until every other node
//!   shows it down;
//! * false alarms: members that some node marked down or unreachable before any node was
//!   stopped (while forming, and while idle);
//! * detection of a killed node: time from killing node 0 (SIGKILL) until every survivor shows
//!   it down.
//!
//! `--rtt-probe-ms M` passes `NodeServer::with_rtt_probe_interval` (0 turns probes off), and
//! `--probe-every-link` `NodeServer::with_rtt_probes_on_every_link(true)`.
//! `--discovery-dials D` passes `NodeServer::with_max_discovery_dials(D)`.
//! `--per-address-cap C` passes `NodeServer::with_max_unauthenticated_per_address(C)`; by default
//! the runner passes the cap on all connections waiting to authenticate (64), since every peer
//! here connects from 127.0.0.1, where N hosts would each have an address of their own (the
//! library's default of 32 then closes the connections beyond it, and they are dialed again).
//! `--progress` reports, every half second until the cluster has converged, how many nodes have
//! and how far the others are (on stderr).
//! `--why` has every node say on stderr why a member went down or unreachable.
//! `--give-up-secs S` waits up to S seconds (default 120) for convergence and for each detection.
//! `--watched-peers N` passes `NodeServer::with_watched_peers(N)` to every node (default: the
//! library's default), for comparing with every node watching every other.
//!
//! Figures go to stdout as one table row; the nodes' own lines are read from their stdout.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark runner reports on stdout

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ractor::{pg, Actor, ActorProcessingErr, ActorRef};
use ractor_cluster::discovery::StaticSeeds;
use ractor_cluster::membership::{self, MemberEvent, MemberStatus, MemberSubscription};
use ractor_cluster::node::DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS;
use ractor_cluster::node::{NodeEventSubscription, NodeServerSessionInformation};
use ractor_cluster::{NodeServer, NodeServerMessage, RactorClusterMessage};

const GROUP: &str = "scale.members";
const COOKIE: &str = "cluster-scale-cookie";
/// How long the runner waits for convergence, and for detection, before giving up (default;
/// `--give-up-secs` to change it).
const GIVE_UP: Duration = Duration::from_secs(120);

fn arg<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match arg::<usize>(&args, "--child") {
        Some(index) => child(&args, index),
        None => runner(&args),
    }
}

// ---------------------------------------------------------------------------------------------
// A node

#[derive(RactorClusterMessage)]
enum MemberMessage {
    Ping,
}

struct Member;

impl Actor for Member {
    type Msg = MemberMessage;
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

/// Prints a line when a member goes down or unreachable (and, with `--why`, the reason on
/// stderr), and keeps count of the members up, so that the node need not ask its server for the
/// whole view while the cluster forms (a call into the busiest actor, and a copy of every member,
/// twenty times a second on every node, which the figures would count as the cluster's cost).
struct DownReporter {
    /// This node's index, and whether to say why.
    index: usize,
    why: bool,
    /// The other members up, as the events tell.
    up: Arc<Mutex<HashSet<String>>>,
}

impl MemberSubscription for DownReporter {
    fn member_changed(&self, event: MemberEvent) {
        if let Ok(mut up) = self.up.lock() {
            if event.member.status == MemberStatus::Up {
                up.insert(event.member.name.clone());
            } else {
                up.remove(&event.member.name);
            }
        }
        if self.why && event.member.status != MemberStatus::Up {
            eprintln!(
                "n{}: {} {:?}: {}",
                self.index,
                event.member.name,
                event.member.status,
                event.reason.as_deref().unwrap_or("-")
            );
        }
        match event.member.status {
            MemberStatus::Down => println!("DOWN {}", event.member.name),
            MemberStatus::Unreachable => println!("UNREACHABLE {}", event.member.name),
            _ => {}
        }
    }
}

/// Counts the sessions a node opens (dialed or accepted): a node that forms a full mesh of N
/// without a wasted connection opens N − 1.
struct OpenedCounter(Arc<AtomicUsize>);

impl NodeEventSubscription for OpenedCounter {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
}

fn child(args: &[String], index: usize) {
    let nodes: u16 = arg(args, "--nodes").unwrap_or(16);
    let base: u16 = arg(args, "--base-port").unwrap_or(20000);
    let watched: Option<usize> = arg(args, "--watched-peers");
    let probe_ms: Option<u64> = arg(args, "--rtt-probe-ms");
    let dials: Option<usize> = arg(args, "--discovery-dials");
    let per_address: Option<usize> = arg(args, "--per-address-cap");
    let every_link = args.iter().any(|a| a == "--probe-every-link");
    let progress = args.iter().any(|a| a == "--progress");
    let why = args.iter().any(|a| a == "--why");
    let Ok(offset) = u16::try_from(index) else {
        return;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("node {index}: {err}");
            return;
        }
    };
    runtime.block_on(async move {
        let seeds: Vec<String> = (0..nodes)
            .map(|i| format!("127.0.0.1:{}", base + i))
            .collect();
        let mut server = NodeServer::new(
            base + offset,
            COOKIE.into(),
            format!("n{index}"),
            "127.0.0.1".into(),
            None,
            None,
        )
        .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
        .with_discovery(
            StaticSeeds::new(seeds),
            ractor_cluster::discovery::DEFAULT_DISCOVERY_INTERVAL,
        );
        if let Some(watched) = watched {
            server = server.with_watched_peers(watched);
        }
        if let Some(ms) = probe_ms {
            server = server.with_rtt_probe_interval(Duration::from_millis(ms));
        }
        if let Some(dials) = dials {
            server = server.with_max_discovery_dials(dials);
        }
        if every_link {
            server = server.with_rtt_probes_on_every_link(true);
        }
        // Every peer connects from 127.0.0.1 here, where each would have an address of its own
        // in a cluster: unless told otherwise, the per-address cap on connections waiting to
        // authenticate is lifted to the cap on all of them, as N hosts would see it.
        server = server.with_max_unauthenticated_per_address(
            per_address.unwrap_or(DEFAULT_MAX_UNAUTHENTICATED_CONNECTIONS),
        );
        let Ok((node, _)) = Actor::spawn(None, server, ()).await else {
            eprintln!("node {index}: cannot start");
            return;
        };
        let Ok((actor, _)) = Actor::spawn(None, Member, ()).await else {
            return;
        };
        pg::join(GROUP.to_owned(), vec![actor.get_cell()]);
        let opened = Arc::new(AtomicUsize::new(0));
        let _ = node.cast(NodeServerMessage::SubscribeToEvents {
            id: "scale".into(),
            subscription: Box::new(OpenedCounter(Arc::clone(&opened))),
        });
        let up_by_events = Arc::new(Mutex::new(HashSet::new()));
        let reporter = DownReporter {
            index,
            why,
            up: Arc::clone(&up_by_events),
        };
        let _ = membership::subscribe(&node, "scale", Box::new(reporter)).await;
        let mut converged = false;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut last_report = Instant::now();
        let mut last_progress = Instant::now();
        // What the view said when last asked, and what the events said then.
        let mut asked: Option<(usize, usize)> = None;
        loop {
            tick.tick().await;
            if !converged {
                // The events count this node too: the subscription began with one event per
                // member known then, itself included.
                let up_seen = up_by_events.lock().map_or(0, |up| up.len());
                // The view itself is asked for only when the events say it is complete and have
                // changed since it was last asked: each ask copies and sorts every member, which
                // the figures would count as the cluster's cost (asked once a second as well, it
                // was 2 % of a 256-node formation's CPU).
                let changed = asked.is_none_or(|(_, seen)| seen != up_seen);
                let ask = up_seen >= usize::from(nodes) && changed;
                let up = if ask {
                    let up = membership::members(&node)
                        .await
                        .map(|m| m.iter().filter(|m| m.status == MemberStatus::Up).count())
                        .unwrap_or(0);
                    asked = Some((up, up_seen));
                    up
                } else {
                    // The view's answer stands while the events have not moved since.
                    asked.filter(|_| !changed).map_or(up_seen, |(up, _)| up)
                };
                // The group is looked at only once every member is up (or to report progress):
                // it copies every member too.
                let remote = if up == usize::from(nodes) || progress {
                    pg::get_members(&GROUP.to_owned())
                        .iter()
                        .filter(|c| !c.get_id().is_local())
                        .count()
                } else {
                    0
                };
                if progress && last_progress.elapsed() >= Duration::from_millis(250) {
                    last_progress = Instant::now();
                    println!("PROGRESS {up} {remote}");
                }
                if up == usize::from(nodes) && remote == usize::from(nodes) - 1 {
                    converged = true;
                    println!("CONVERGED {}", opened.load(Ordering::Relaxed));
                    // From now on the node is idle: the runner wakes only to report.
                    tick = tokio::time::interval(Duration::from_secs(1));
                }
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                last_report = Instant::now();
                println!("HEARTBEATS {}", ractor_cluster::node::heartbeats_sent());
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The runner

/// A line from node `index`, stamped when the runner read it.
struct Line {
    index: usize,
    at: Instant,
    text: String,
}

/// The fields of `/proc/<pid>/stat` after the command name, from the state on (field 3 of
/// `proc(5)` is the first): the name may hold spaces, so they are counted after its closing
/// parenthesis.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let fields = stat_fields(pid)?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks: 100 per second on Linux.
    Some((utime + stime) / 100.0)
}

/// Minor page faults a process has taken: each a page the kernel had to find and zero (or copy)
/// for it, a cost that grows with the memory a node touches and that the machine's slow minutes
/// make several times dearer.
fn minor_faults(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(7)?.parse().ok()
}

/// Peak resident set, in KiB, from `/proc/<pid>/status`.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Context switches (voluntary and not) a process has made, from `/proc/<pid>/status`: how often
/// it was woken, whatever the machine's load.
fn context_switches(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut total = 0;
    for line in status.lines() {
        if let Some(count) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            total += count.trim().parse::<u64>().ok()?;
        }
    }
    Some(total)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn runner(args: &[String]) {
    let nodes: usize = arg(args, "--nodes").unwrap_or(16);
    let base: u16 = arg(args, "--base-port").unwrap_or(20000);
    let idle_secs: u64 = arg(args, "--idle-secs").unwrap_or(10);
    let stagger = Duration::from_millis(arg(args, "--stagger-ms").unwrap_or(0));
    let watched: Option<usize> = arg(args, "--watched-peers");
    let probe_ms: Option<u64> = arg(args, "--rtt-probe-ms");
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("cannot find this executable");
        return;
    };
    let (tx, rx) = mpsc::channel::<Line>();
    let first_start = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    for index in 0..nodes {
        if index > 0 {
            std::thread::sleep(stagger);
        }
        let mut command = Command::new(&exe);
        if let Some(watched) = watched {
            command.args(["--watched-peers", &watched.to_string()]);
        }
        if let Some(ms) = probe_ms {
            command.args(["--rtt-probe-ms", &ms.to_string()]);
        }
        // Flags the nodes read as they are.
        for flag in ["--discovery-dials", "--per-address-cap"] {
            if let Some(value) = arg::<String>(args, flag) {
                command.args([flag, &value]);
            }
        }
        for flag in ["--probe-every-link", "--progress", "--why"] {
            if args.iter().any(|a| a == flag) {
                command.arg(flag);
            }
        }
        let spawned = command
            .args(["--child", &index.to_string()])
            .args(["--nodes", &nodes.to_string()])
            .args(["--base-port", &base.to_string()])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                eprintln!("cannot start node {index}: {err}");
                break;
            }
        };
        if let Some(stdout) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let line = Line {
                        index,
                        at: Instant::now(),
                        text,
                    };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        children.push(child);
    }
    let last_start = Instant::now();
    eprintln!(
        "started {nodes} nodes in {:.2} s",
        last_start.duration_since(first_start).as_secs_f64()
    );
    let progress = args.iter().any(|a| a == "--progress");
    let give_up = arg(args, "--give-up-secs").map_or(GIVE_UP, Duration::from_secs);
    let report = measure(
        &children, &rx, nodes, idle_secs, last_start, give_up, progress,
    );
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    match report {
        Some(report) => println!("{report}"),
        None => eprintln!("the benchmark did not finish"),
    }
}

fn measure(
    children: &[Child],
    rx: &mpsc::Receiver<Line>,
    nodes: usize,
    idle_secs: u64,
    last_start: Instant,
    give_up: Duration,
    progress: bool,
) -> Option<String> {
    // Convergence.
    let mut converged = vec![None; nodes];
    // With `--progress`: each node's latest (members up, remote group members), reported every
    // half second after the last start until every node has converged.
    let mut seen = vec![(0usize, 0usize); nodes];
    // Downs and unreachable members before any node was stopped: each a false alarm.
    let mut false_alarms = FalseAlarms::default();
    let mut next_progress = last_start;
    // Sessions each node had opened (dialed or accepted) when it converged.
    let mut opened = vec![0f64; nodes];
    // Each node's latest heartbeat count, and when the runner read it.
    let mut heartbeats = vec![(0u64, last_start); nodes];
    while converged.iter().any(Option::is_none) {
        let Ok(line) = rx.recv_timeout(give_up.saturating_sub(last_start.elapsed())) else {
            let done = converged.iter().flatten().count();
            eprintln!("{done} of {nodes} nodes converged within {give_up:?} of the last start");
            return None;
        };
        false_alarms.count(&line.text);
        if let Some(count) = line.text.strip_prefix("CONVERGED") {
            if let Some(slot) = converged.get_mut(line.index) {
                *slot = Some(line.at);
            }
            if let (Some(slot), Ok(count)) = (opened.get_mut(line.index), count.trim().parse()) {
                *slot = count;
            }
            if let Some(slot) = seen.get_mut(line.index) {
                *slot = (nodes, nodes - 1);
            }
        } else if let Some(counts) = line.text.strip_prefix("PROGRESS ") {
            let mut counts = counts.split(' ').filter_map(|c| c.parse().ok());
            if let (Some(slot), Some(up), Some(remote)) =
                (seen.get_mut(line.index), counts.next(), counts.next())
            {
                *slot = (up, remote);
            }
        }
        if progress && Instant::now() >= next_progress {
            next_progress += Duration::from_millis(500);
            let done = converged.iter().flatten().count();
            let mut up: Vec<f64> = seen.iter().map(|s| s.0 as f64).collect();
            let mut remote: Vec<f64> = seen.iter().map(|s| s.1 as f64).collect();
            let least = seen.iter().map(|s| s.0).min().unwrap_or(0);
            let laggard = seen.iter().position(|s| s.0 == least).unwrap_or(0);
            eprintln!(
                "{:6.2} s: {done} converged; members up median {} min {least} (n{laggard}); \
                 remote group members median {} min {}",
                last_start.elapsed().as_secs_f64(),
                median(&mut up),
                median(&mut remote),
                seen.iter().map(|s| s.1).min().unwrap_or(0),
            );
        }
    }
    let convergence = converged
        .iter()
        .flatten()
        .map(|at| at.saturating_duration_since(last_start))
        .max()
        .unwrap_or_default();

    // Idle cost.
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    let forming_cpu: f64 = pids.iter().map(|p| cpu_seconds(*p).unwrap_or(0.0)).sum();
    eprintln!("CPU used by all nodes until converged (their start included): {forming_cpu:.2} s");
    let mut faults: Vec<f64> = pids
        .iter()
        .map(|p| minor_faults(*p).unwrap_or(0) as f64)
        .collect();
    let all_faults: f64 = faults.iter().sum();
    eprintln!(
        "minor page faults per node until converged (their start included): median {:.0}, all \
         nodes {all_faults:.0}",
        median(&mut faults),
    );
    let cpu_before: Vec<f64> = pids
        .iter()
        .map(|p| cpu_seconds(*p).unwrap_or(0.0))
        .collect();
    let drain = |rx: &mpsc::Receiver<Line>,
                 heartbeats: &mut Vec<(u64, Instant)>,
                 false_alarms: &mut FalseAlarms| {
        while let Ok(line) = rx.try_recv() {
            false_alarms.count(&line.text);
            if let Some(count) = line.text.strip_prefix("HEARTBEATS ") {
                if let (Some(slot), Ok(count)) = (heartbeats.get_mut(line.index), count.parse()) {
                    *slot = (count, line.at);
                }
            }
        }
    };
    drain(rx, &mut heartbeats, &mut false_alarms);
    let hb_before = heartbeats.clone();
    let switches_before: Vec<u64> = pids
        .iter()
        .map(|p| context_switches(*p).unwrap_or(0))
        .collect();
    let idle_started = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    drain(rx, &mut heartbeats, &mut false_alarms);
    let idle = idle_started.elapsed().as_secs_f64();
    let mut cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|(p, before)| (cpu_seconds(*p).unwrap_or(*before) - before) / idle * 100.0)
        .collect();
    let cpu_total: f64 = cpu.iter().sum();
    let mut wakes: Vec<f64> = pids
        .iter()
        .zip(&switches_before)
        .map(|(p, before)| {
            context_switches(*p)
                .unwrap_or(*before)
                .saturating_sub(*before) as f64
                / idle
        })
        .collect();
    let mut hb_rate: Vec<f64> = heartbeats
        .iter()
        .zip(&hb_before)
        .map(|((now, at), (before, then))| {
            let secs = at.saturating_duration_since(*then).as_secs_f64();
            if secs > 0.0 {
                now.saturating_sub(*before) as f64 / secs
            } else {
                0.0
            }
        })
        .collect();
    let mut rss: Vec<f64> = pids
        .iter()
        .map(|p| peak_rss_kib(*p).unwrap_or(0) as f64 / 1024.0)
        .collect();

    // Detection of a frozen node: stop node 1, wait for every other node's DOWN line.
    let frozen = detect(rx, nodes, 1, &[1], *pids.get(1)?, "-STOP", give_up)?;
    // Detection of a killed node: kill node 0, wait for every survivor's DOWN line.
    let detection = detect(rx, nodes, 0, &[0, 1], *pids.first()?, "-9", give_up)?;

    let rss_max = rss.iter().copied().fold(0.0, f64::max);
    Some(format!(
        "| {nodes} | {:.2} s | {:.0} (max {:.0}) | {:.1} MiB (max {:.1}) | {:.2} % | {:.1} % | {:.2} | {:.1} | {:.2} s | {:.2} s | {} / {} |\n\
         (nodes | convergence after the last start | sessions each node opened while forming, \
         median | peak RSS per node, median | idle CPU per node, \
         median | idle CPU, all nodes | heartbeat frames per node per second, median | \
         idle context switches per node per second, median | \
         detection of a killed node by every survivor | of a frozen node by every other node | \
         false alarms before any node was stopped: members marked down / unreachable)",
        convergence.as_secs_f64(),
        median(&mut opened.clone()),
        opened.iter().copied().fold(0.0, f64::max),
        median(&mut rss),
        rss_max,
        median(&mut cpu),
        cpu_total,
        median(&mut hb_rate),
        median(&mut wakes),
        detection.as_secs_f64(),
        frozen.as_secs_f64(),
        false_alarms.down,
        false_alarms.unreachable,
    ))
}

/// Members marked down or unreachable by some node.
#[derive(Default)]
struct FalseAlarms {
    down: usize,
    unreachable: usize,
}

impl FalseAlarms {
    fn count(&mut self, line: &str) {
        if line.starts_with("DOWN ") {
            self.down += 1;
        } else if line.starts_with("UNREACHABLE ") {
            self.unreachable += 1;
        }
    }
}

/// Sends `signal` to node `victim` (process `pid`) and waits until every node not in `silent`
/// prints that it is down; returns the time the last of them took.
fn detect(
    rx: &mpsc::Receiver<Line>,
    nodes: usize,
    victim: usize,
    silent: &[usize],
    pid: u32,
    signal: &str,
    give_up: Duration,
) -> Option<Duration> {
    let sent_at = Instant::now();
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
    let wanted = format!("DOWN n{victim}@127.0.0.1");
    let mut down_seen: Vec<bool> = (0..nodes).map(|i| silent.contains(&i)).collect();
    let mut took = Duration::ZERO;
    while down_seen.iter().any(|seen| !seen) {
        let line = rx
            .recv_timeout(give_up.saturating_sub(sent_at.elapsed()))
            .ok()?;
        if line.text == wanted {
            if let Some(seen) = down_seen.get_mut(line.index) {
                *seen = true;
            }
            took = took.max(line.at.saturating_duration_since(sent_at));
        }
    }
    Some(took)
}
