//! A cluster of three nodes, each in its own OS process, on 127.0.0.1.
//!
//! Run it with:
//!
//! ```text
//! cargo run -p ractor_cluster_examples --example demo_cluster
//! ```
//!
//! What it does, in a few seconds:
//!
//! 1. This process starts node `alpha` on a port the system picks (port 0) in `Transitive` mode,
//!    and a worker actor that joins the process group `demo.workers`.
//! 2. It starts its own executable twice more, as `--node beta --seed 127.0.0.1:<alpha's port>`
//!    and `--node gamma --seed ...`. Each child starts a node, connects to alpha and starts a
//!    worker in the same group. Alpha tells each child about the other, so beta and gamma connect
//!    to each other on their own: three nodes, three sessions.
//! 3. Alpha waits until both remote workers show up in the group, casts a greeting to each, calls
//!    each (`#[rpc]`) and prints what every worker answered and how long the calls took.
//! 4. It asks the children to stop (a cast to their workers), waits for them to exit, and exits 0.
//!
//! Every wait has a timeout. On failure the demo says what it was waiting for, stops its children
//! (closing their stdin, killing them as a last resort) and exits 1. A child also stops when its
//! stdin closes, so it never outlives the parent.

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example talks to its user

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use ractor::concurrency::JoinHandle;
use ractor::{pg, Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{
    NodeConnectionMode, NodeId, NodeServer, NodeServerMessage, RactorClusterMessage,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// The magic cookie every node of the demo shares.
const COOKIE: &str = "demo-cluster-cookie";
/// Where every node listens, and the hostname in its node name (`alpha@127.0.0.1`), which is what
/// peers dial when they learn about it.
const HOST: &str = "127.0.0.1";
/// The process group the workers join.
const GROUP: &str = "demo.workers";
/// The child nodes this process starts.
const CHILDREN: [&str; 2] = ["beta", "gamma"];

/// How long the cluster has to form (both remote workers in the group, all sessions up).
const FORM_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one call may take.
const CALL_TIMEOUT_MS: u64 = 2_000;
/// How long a child has to exit after each step of the shutdown.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// A child exits on its own after this long, whatever happens to its parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);
/// Calls per worker used to measure the round-trip time.
const TIMED_CALLS: usize = 200;

// ---------------------------------------------------------------------------------------------
// The worker: one per node, reachable from every other node.

/// What a worker knows about its node, sent back to a caller on another node.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    /// The worker's node, `name@host`.
    node: String,
    /// The OS process the worker runs in.
    pid: u32,
    /// The greetings cast to this worker so far, in the order they arrived.
    greetings: Vec<String>,
    /// The nodes this worker's node has a session with.
    sessions: Vec<String>,
    /// The nodes whose workers this worker sees in the group (its own included).
    group: Vec<String>,
}

/// The messages of a worker. Deriving `RactorClusterMessage` makes them sendable to other nodes.
#[derive(RactorClusterMessage)]
enum WorkerMessage {
    /// A cast: remember a greeting.
    Greet(String),
    /// A call: what the worker knows. The reply is any serde type.
    #[rpc]
    Report(RpcReplyPort<Report>),
    /// A call: squares a number; used to time round trips.
    #[rpc]
    Square(u64, RpcReplyPort<u64>),
    /// A cast: stop the worker, and with it the node's process.
    Shutdown,
}

struct Worker;

struct WorkerState {
    node: ActorRef<NodeServerMessage>,
    node_name: String,
    greetings: Vec<String>,
}

impl Actor for Worker {
    type Msg = WorkerMessage;
    type State = WorkerState;
    type Arguments = (ActorRef<NodeServerMessage>, String);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (node, node_name): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Joining a group announces the membership to every connected node, now and later.
        pg::join(GROUP.to_owned(), vec![myself.get_cell()]);
        Ok(WorkerState {
            node,
            node_name,
            greetings: Vec::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkerMessage::Greet(text) => state.greetings.push(text),
            WorkerMessage::Report(reply) => {
                let sessions = sessions_of(&state.node).await?;
                let report = Report {
                    node: state.node_name.clone(),
                    pid: std::process::id(),
                    greetings: state.greetings.clone(),
                    sessions: sessions.values().cloned().collect(),
                    group: group_nodes(&state.node_name, &sessions),
                };
                // The caller may have given up waiting; nothing to do then.
                let _ = reply.send(report);
            }
            WorkerMessage::Square(n, reply) => {
                let _ = reply.send(n.wrapping_mul(n));
            }
            WorkerMessage::Shutdown => myself.stop(Some("asked to shut down".into())),
        }
        Ok(())
    }
}

/// The authenticated peers of `node`, by node id, with their names.
async fn sessions_of(
    node: &ActorRef<NodeServerMessage>,
) -> Result<BTreeMap<NodeId, String>, ActorProcessingErr> {
    let sessions: HashMap<NodeId, NodeServerSessionInformation> =
        ractor::call_t!(node, NodeServerMessage::GetSessions, CALL_TIMEOUT_MS)?;
    // Keyed by the id in `ActorId::Remote` of the peer's actors, not by the session's own id.
    Ok(sessions
        .into_values()
        .filter_map(|info| Some((info.peer_node_id()?, info.peer_name?.name)))
        .collect())
}

/// The nodes whose workers are in the group, as seen from this process: a local member is this
/// node's worker, a remote one (`ActorId::Remote { node_id, .. }`) is a proxy for a peer's worker.
fn group_nodes(own_name: &str, sessions: &BTreeMap<NodeId, String>) -> Vec<String> {
    let mut nodes: Vec<String> = pg::get_members(&GROUP.to_owned())
        .iter()
        .map(|member| match member.get_id() {
            ActorId::Local(_) => own_name.to_owned(),
            ActorId::Remote { node_id, .. } => sessions
                .get(&node_id)
                .cloned()
                .unwrap_or_else(|| format!("{node_id:016x}")),
        })
        .collect();
    nodes.sort();
    nodes
}

// ---------------------------------------------------------------------------------------------
// A node: a NodeServer and a worker.

struct Node {
    name: String,
    server: ActorRef<NodeServerMessage>,
    server_handle: JoinHandle<()>,
    worker: ActorRef<WorkerMessage>,
    worker_handle: JoinHandle<()>,
    port: u16,
}

async fn start_node(name: &str) -> Result<Node, String> {
    let server = NodeServer::new(
        0, // the system picks a free port; `node_info` tells which
        COOKIE.to_owned(),
        name.to_owned(),
        HOST.to_owned(),
        None, // plain TCP
        Some(NodeConnectionMode::Transitive),
    )
    .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (server, server_handle) = Actor::spawn(None, server, ())
        .await
        .map_err(|e| format!("cannot start node {name}: {e}"))?;
    let info = ractor_cluster::node::node_info(&server)
        .await
        .map_err(|e| format!("cannot ask node {name} where it listens: {e}"))?;
    let (worker, worker_handle) = Actor::spawn(
        Some(format!("{name}-worker")),
        Worker,
        (server.clone(), info.name.clone()),
    )
    .await
    .map_err(|e| format!("cannot start the worker of {name}: {e}"))?;
    Ok(Node {
        name: info.name,
        server,
        server_handle,
        worker,
        worker_handle,
        port: info.listen_addr.port(),
    })
}

impl Node {
    /// Stops the worker and the server, each bounded by a timeout.
    async fn stop(mut self) -> Result<(), String> {
        self.worker.stop(None);
        tokio::time::timeout(EXIT_TIMEOUT, &mut self.worker_handle)
            .await
            .map_err(|_| format!("the worker of {} did not stop in time", self.name))?
            .map_err(|e| format!("the worker of {} failed: {e}", self.name))?;
        self.stop_server().await
    }

    async fn stop_server(self) -> Result<(), String> {
        self.server.stop(None);
        tokio::time::timeout(EXIT_TIMEOUT, self.server_handle)
            .await
            .map_err(|_| format!("node {} did not stop in time", self.name))?
            .map_err(|e| format!("node {} failed: {e}", self.name))
    }
}

// ---------------------------------------------------------------------------------------------
// A child node (`--node NAME --seed ADDR`).

async fn run_child(name: &str, seed: &str) -> Result<(), String> {
    // Stop when the parent closes our stdin (or dies). Read on a plain thread: a read of stdin
    // cannot be cancelled, and a detached thread does not hold up the exit of the process.
    let (stdin_closed_tx, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = stdin_closed_tx.send(());
    });

    let mut node = start_node(name).await?;
    ractor_cluster::client_connect(&node.server, seed)
        .await
        .map_err(|e| format!("{} cannot connect to {seed}: {e}", node.name))?;
    println!("node {} listening on {HOST}:{}", node.name, node.port);

    let why = tokio::select! {
        _ = &mut node.worker_handle => "its worker was asked to shut down",
        _ = stdin_closed => "its stdin closed",
        () = tokio::time::sleep(CHILD_LIFETIME) => "it ran for too long",
    };
    println!("node {} stopping: {why}", node.name);
    node.worker.stop(None);
    node.stop_server().await
}

// ---------------------------------------------------------------------------------------------
// The parent node: starts the children, exercises the cluster, prints a summary.

/// A child node's process.
struct ChildNode {
    name: &'static str,
    process: Child,
    stdin: Option<ChildStdin>,
}

impl ChildNode {
    fn start(name: &'static str, seed: &str) -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's executable: {e}"))?;
        let mut process = Command::new(exe)
            .args(["--node", name, "--seed", seed])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true) // the last resort, should the demo fail halfway
            .spawn()
            .map_err(|e| format!("cannot start child node {name}: {e}"))?;
        // Relay what the child prints, tagged with its name.
        if let Some(stdout) = process.stdout.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    println!("  [{name}] {line}");
                }
            });
        }
        let stdin = process.stdin.take();
        Ok(Self {
            name,
            process,
            stdin,
        })
    }

    /// Fails if the child has already exited.
    fn check_running(&mut self) -> Result<(), String> {
        match self.process.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("child node {} exited early ({status})", self.name)),
            Err(e) => Err(format!("cannot check on child node {}: {e}", self.name)),
        }
    }

    /// Waits for the child to exit: first after the shutdown cast (if one was sent), then after
    /// closing its stdin; kills it as a last resort. Returns how it ended, and whether that was a
    /// clean exit in answer to the cast.
    async fn wait_exit(&mut self, cast_sent: bool) -> (String, bool) {
        let started = Instant::now();
        if let Ok(Some(status)) = self.process.try_wait() {
            return if cast_sent {
                (
                    format!("exited ({status}) after the cast"),
                    status.success(),
                )
            } else {
                (format!("had already exited ({status})"), false)
            };
        }
        if cast_sent {
            if let Ok(Ok(status)) = tokio::time::timeout(EXIT_TIMEOUT, self.process.wait()).await {
                let how = format!("exited ({status}) {} after the cast", ms(started.elapsed()));
                return (how, status.success());
            }
        }
        self.stdin = None;
        if let Ok(Ok(status)) = tokio::time::timeout(EXIT_TIMEOUT, self.process.wait()).await {
            return (
                format!("exited ({status}) once its stdin was closed"),
                false,
            );
        }
        match self.process.kill().await {
            Ok(()) => ("did not exit in time and was killed".to_owned(), false),
            Err(e) => (
                format!("did not exit in time and could not be killed: {e}"),
                false,
            ),
        }
    }
}

/// What the parent learned about one remote worker.
struct Answer {
    proxy: ActorRef<WorkerMessage>,
    node: String,
    report: Report,
    first_call: Duration,
    square_of_12: u64,
    round_trips: Vec<Duration>,
}

async fn run_parent() -> Result<(), String> {
    let started = Instant::now();
    let node = start_node("alpha").await?;
    let seed = format!("{HOST}:{}", node.port);
    println!(
        "node {} listening on {seed}; starting 2 child processes",
        node.name
    );

    let mut children = Vec::new();
    let mut outcome = Ok(());
    for name in CHILDREN {
        match ChildNode::start(name, &seed) {
            Ok(child) => children.push(child),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let mut answers = Vec::new();
    if outcome.is_ok() {
        outcome = exercise(&node, &mut children, &mut answers, started).await;
    }

    // Shut down: ask every worker we reached to stop, then wait for each child to exit.
    println!("stopping the child nodes");
    let mut asked = Vec::new();
    for answer in &answers {
        if answer.proxy.cast(WorkerMessage::Shutdown).is_ok() {
            asked.push(answer.node.clone());
        }
    }
    let mut ended = Vec::new();
    for child in &mut children {
        let cast_sent = asked.contains(&format!("{}@{HOST}", child.name));
        let (how, clean) = child.wait_exit(cast_sent).await;
        if !clean {
            ended.push(format!("child node {} {how}", child.name));
        }
        println!("  {}: {how}", child.name);
    }
    // A session ends when its peer's connection closes; give alpha a moment to notice.
    let sessions_left = sessions_after_exit(&node.server).await;
    let stopped = node.stop().await;

    outcome?;
    if let Some(problem) = ended.first() {
        return Err(problem.clone());
    }
    stopped?;
    println!(
        "sessions left on alpha after the children stopped: {}",
        sessions_left
    );
    println!("done in {}", ms(started.elapsed()));
    Ok(())
}

/// How many sessions alpha still has, once they have ended or after a short bounded wait.
async fn sessions_after_exit(node: &ActorRef<NodeServerMessage>) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match sessions_of(node).await {
            Ok(sessions) if sessions.is_empty() || Instant::now() >= deadline => {
                return sessions.len().to_string();
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => return format!("unknown ({e})"),
        }
    }
}

/// Waits for the cluster to form, casts to and calls every remote worker, prints the summary.
async fn exercise(
    node: &Node,
    children: &mut [ChildNode],
    answers: &mut Vec<Answer>,
    started: Instant,
) -> Result<(), String> {
    // 1. Wait until a proxy for each child's worker is in the group.
    let deadline = Instant::now() + FORM_TIMEOUT;
    let remote = loop {
        for child in children.iter_mut() {
            child.check_running()?;
        }
        let remote: BTreeMap<NodeId, ActorRef<WorkerMessage>> = pg::get_members(&GROUP.to_owned())
            .into_iter()
            .filter_map(|member| match member.get_id() {
                ActorId::Remote { node_id, .. } => Some((node_id, member.into())),
                ActorId::Local(_) => None,
            })
            .collect();
        if remote.len() == children.len() {
            break remote;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {:?} waiting for the workers of the child nodes to join group \
                 {GROUP:?} (saw {} of {})",
                FORM_TIMEOUT,
                remote.len(),
                children.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let formed = started.elapsed();
    let sessions = sessions_of(&node.server)
        .await
        .map_err(|e| format!("cannot list the sessions of alpha: {e}"))?;

    // 2. Cast a greeting to each remote worker, then call it. Messages from one sender to one
    //    receiver arrive in order, so the report already contains the greeting.
    for (node_id, proxy) in remote {
        let peer = sessions
            .get(&node_id)
            .cloned()
            .unwrap_or_else(|| format!("{node_id:016x}"));
        proxy
            .cast(WorkerMessage::Greet(format!(
                "hello {peer}, from {}",
                node.name
            )))
            .map_err(|e| format!("cannot cast to the worker of {peer}: {e}"))?;
        let call_started = Instant::now();
        let report = ractor::call_t!(proxy, WorkerMessage::Report, CALL_TIMEOUT_MS)
            .map_err(|e| format!("calling the worker of {peer} failed: {e}"))?;
        let first_call = call_started.elapsed();
        let square_of_12 = ractor::call_t!(proxy, WorkerMessage::Square, CALL_TIMEOUT_MS, 12)
            .map_err(|e| format!("calling the worker of {peer} failed: {e}"))?;
        let mut round_trips = Vec::with_capacity(TIMED_CALLS);
        for i in 0..TIMED_CALLS as u64 {
            let call_started = Instant::now();
            let square = ractor::call_t!(proxy, WorkerMessage::Square, CALL_TIMEOUT_MS, i)
                .map_err(|e| format!("calling the worker of {peer} failed: {e}"))?;
            round_trips.push(call_started.elapsed());
            if square != i * i {
                return Err(format!("the worker of {peer} says {i}² = {square}"));
            }
        }
        round_trips.sort();
        answers.push(Answer {
            proxy,
            node: peer,
            report,
            first_call,
            square_of_12,
            round_trips,
        });
    }

    // 3. Transitive mode: the children connect to each other after they connected to alpha. Ask
    //    again until each reports sessions with both other nodes.
    for answer in answers.iter_mut() {
        while answer.report.sessions.len() < children.len() {
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out waiting for {} to connect to the other child node (its sessions: \
                     {:?})",
                    answer.node, answer.report.sessions
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            answer.report =
                ractor::call_t!(answer.proxy, WorkerMessage::Report, CALL_TIMEOUT_MS)
                    .map_err(|e| format!("calling the worker of {} failed: {e}", answer.node))?;
        }
    }

    // 4. The summary.
    println!();
    println!("cluster formed in {} with 3 nodes:", ms(formed));
    println!(
        "  {:<18} {:<18} pid {:<7} (this process)",
        node.name,
        format!("{HOST}:{}", node.port),
        std::process::id()
    );
    let addrs = peer_addrs(&node.server).await;
    for (id, name) in &sessions {
        let addr = addrs.get(id).cloned().unwrap_or_default();
        let pid = answers
            .iter()
            .find(|a| &a.node == name)
            .map_or(0, |a| a.report.pid);
        println!("  {name:<18} {addr:<18} pid {pid:<7} node id {id:016x}");
    }
    println!();
    println!("sessions (each node lists its peers):");
    println!("  {:<18} -> {}", node.name, join(sessions.values()));
    for answer in answers.iter() {
        println!(
            "  {:<18} -> {}",
            answer.report.node,
            join(answer.report.sessions.iter())
        );
    }
    println!();
    let members = group_nodes(&node.name, &sessions);
    println!(
        "workers in group {GROUP:?}, as seen from alpha: {}",
        join(members.iter())
    );
    for answer in answers.iter() {
        let median = answer.round_trips[answer.round_trips.len() / 2];
        let fastest = answer.round_trips[0];
        println!("  worker of {}:", answer.node);
        println!(
            "    cast Greet          -> received {:?}",
            answer.report.greetings
        );
        println!(
            "    call Report         -> node {}, pid {}, sees the group as [{}] ({})",
            answer.report.node,
            answer.report.pid,
            join(answer.report.group.iter()),
            ms(answer.first_call)
        );
        println!("    call Square(12)     -> {}", answer.square_of_12);
        println!(
            "    {TIMED_CALLS} calls Square(i) -> all correct; round trip median {} µs, fastest {} µs",
            median.as_micros(),
            fastest.as_micros()
        );
    }
    println!();
    Ok(())
}

/// Where each peer of `node` accepts connections, as it announced in the handshake.
async fn peer_addrs(node: &ActorRef<NodeServerMessage>) -> HashMap<NodeId, String> {
    let sessions = ractor::call_t!(node, NodeServerMessage::GetSessions, CALL_TIMEOUT_MS);
    sessions
        .unwrap_or_default()
        .into_values()
        .filter_map(|info| Some((info.peer_node_id()?, info.peer_name?.connection_string)))
        .collect()
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => run_parent().await,
        [node_flag, name, seed_flag, seed] if node_flag == "--node" && seed_flag == "--seed" => {
            run_child(name, seed).await
        }
        _ => {
            eprintln!("usage: demo_cluster                       (starts the whole demo)");
            eprintln!(
                "       demo_cluster --node NAME --seed ADDR (one child node; used by the demo)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("demo_cluster failed: {why}");
            ExitCode::FAILURE
        }
    }
}
