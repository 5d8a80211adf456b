//! A supervisor on one node restarting a worker that runs on another node, with ractor's own
//! supervision API.
//!
//! Run it with:
//!
//! ```text
//! cargo run -p ractor_cluster_examples --example remote_supervision
//! ```
//!
//! What it does, in a second or two:
//!
//! 1. This process starts node `boss` on 127.0.0.1 (port 0), and starts its own executable again
//!    as `--workers`: that child starts node `workers`, registers the spawnable actor kind `worker`
//!    (`node::register_spawnable`), prints its port, and waits.
//! 2. `boss` connects to `workers`. A `Supervisor` actor on `boss` asks `workers` to spawn a worker
//!    (`node::spawn_remote`) and links the returned proxy to itself (`ActorCell::link`): the
//!    supervisor is now told, through `handle_supervisor_evt`, how the remote worker ends.
//! 3. The demo gives the worker jobs through the supervisor, and twice sends it a job that makes
//!    its handler return an error. The worker fails on its own node; the supervisor receives
//!    `SupervisionEvent::ActorFailed` with the worker's error text and spawns a fresh worker there.
//! 4. A job done by the third worker shows the restarts worked; the demo stops the supervisor,
//!    closes the child's stdin (the child then stops its node and exits) and exits 0.
//!
//! Every wait has a timeout; on failure the demo says what it was waiting for and exits 1. The
//! child exits when its stdin closes, so it never outlives the parent.

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example talks to its user

use std::net::{IpAddr, Ipv4Addr};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use ractor_cluster::node::{NodeServerSessionInformation, NODE_LOST};
use ractor_cluster::{
    NodeConnectionMode, NodeId, NodeServer, NodeServerMessage, RactorClusterMessage,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The magic cookie both nodes share.
const COOKIE: &str = "remote-supervision-cookie";
/// Where both nodes listen, and the hostname in their names.
const HOST: &str = "127.0.0.1";
/// The name the worker kind is registered under on the `workers` node.
const WORKER_KIND: &str = "worker";
/// How many times the demo makes a worker fail.
const FAILURES: u32 = 2;

/// How long the child has to start its node and say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting, a remote spawn, or one job may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the supervisor has to see a failure and restart the worker.
const RESTART_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the child has to exit once its stdin is closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The child exits on its own after this long, whatever happens to its parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The worker: runs on the `workers` node.

/// Messages of a [`Worker`]. Derived, so they can be sent from another node.
#[derive(RactorClusterMessage)]
enum WorkerMessage {
    /// Squares a number and says who did it.
    #[rpc]
    Square(u64, RpcReplyPort<String>),
    /// A job the worker cannot do: its handler returns an error with this text, so it fails.
    Poison(String),
}

/// Squares numbers until it is given poison. Its argument is its generation (1, 2, 3, ...).
struct Worker;

impl Actor for Worker {
    type Msg = WorkerMessage;
    type State = u32;
    type Arguments = u32;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkerMessage>,
        generation: u32,
    ) -> Result<u32, ActorProcessingErr> {
        println!(
            "worker #{generation} started as {} in process {}",
            myself.get_id(),
            std::process::id()
        );
        Ok(generation)
    }

    async fn handle(
        &self,
        _: ActorRef<WorkerMessage>,
        message: WorkerMessage,
        generation: &mut u32,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            WorkerMessage::Square(n, reply) => {
                let _ = reply.send(format!(
                    "{n}² = {} (worker #{generation}, process {})",
                    n * n,
                    std::process::id()
                ));
                Ok(())
            }
            WorkerMessage::Poison(what) => {
                println!("worker #{generation} fails: {what}");
                Err(format!("worker #{generation} choked on {what}").into())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The supervisor: runs on the `boss` node, keeps one worker alive on the `workers` node.

/// Messages of the [`Supervisor`] (local only: a plain ractor message).
enum SupervisorMessage {
    /// Has the current worker square `n`; answers with its answer or why there is none.
    Square(u64, RpcReplyPort<Result<String, String>>),
    /// Gives the current worker a job that makes it fail.
    Poison(String),
}

impl ractor::Message for SupervisorMessage {}

/// What the supervisor reports to the demo.
#[derive(Debug)]
enum Report {
    /// A worker failed with this error text and generation `restarted` took its place.
    Restarted { error: String, restarted: u32 },
    /// The supervisor gave up, and why.
    GaveUp(String),
}

struct Supervisor;

struct SupervisorState {
    /// The node the workers run on.
    node: NodeId,
    /// The current worker: a proxy linked to the supervisor.
    worker: ActorRef<WorkerMessage>,
    generation: u32,
    reports: mpsc::UnboundedSender<Report>,
}

/// Spawns worker `generation` on `node` and links its proxy to `supervisor`.
async fn start_worker(
    supervisor: &ActorRef<SupervisorMessage>,
    node: NodeId,
    generation: u32,
) -> Result<ActorRef<WorkerMessage>, ActorProcessingErr> {
    let cell = ractor_cluster::node::spawn_remote(node, WORKER_KIND, &generation, STEP_TIMEOUT)
        .await
        .map_err(|err| format!("cannot spawn worker #{generation}: {err}"))?;
    // The proxy now reports to the supervisor how the real worker ends: stopped (with its reason),
    // failed (with its error text), or lost with its node (`NODE_LOST`).
    cell.link(supervisor.get_cell());
    Ok(cell.into())
}

impl Actor for Supervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = (NodeId, mpsc::UnboundedSender<Report>);

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMessage>,
        (node, reports): Self::Arguments,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let worker = start_worker(&myself, node, 1).await?;
        Ok(SupervisorState {
            node,
            worker,
            generation: 1,
            reports,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<SupervisorMessage>,
        message: SupervisorMessage,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMessage::Square(n, reply) => {
                let timeout = u64::try_from(STEP_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
                let answer = ractor::call_t!(state.worker, WorkerMessage::Square, timeout, n)
                    .map_err(|err| format!("the worker did not answer: {err}"));
                let _ = reply.send(answer);
            }
            SupervisorMessage::Poison(what) => {
                if let Err(err) = state.worker.cast(WorkerMessage::Poison(what)) {
                    println!("supervisor: cannot reach the worker: {err}");
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMessage>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (who, error) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell.get_id(), err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "no reason".to_owned());
                if reason == NODE_LOST {
                    let _ = state.reports.send(Report::GaveUp(format!(
                        "the node of worker {} was lost",
                        cell.get_id()
                    )));
                    myself.stop(Some("no node to run workers on".to_owned()));
                    return Ok(());
                }
                (cell.get_id(), format!("stopped: {reason}"))
            }
            _ => return Ok(()),
        };
        if who != state.worker.get_id() {
            // An earlier worker; already replaced.
            return Ok(());
        }
        println!(
            "supervisor: worker #{} ({who}) ended: {error}; restarting it",
            state.generation
        );
        let generation = state.generation + 1;
        match start_worker(&myself, state.node, generation).await {
            Ok(worker) => {
                state.worker = worker;
                state.generation = generation;
                let _ = state.reports.send(Report::Restarted {
                    error,
                    restarted: generation,
                });
            }
            Err(err) => {
                let _ = state.reports.send(Report::GaveUp(err.to_string()));
                myself.stop(Some("cannot restart the worker".to_owned()));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes

fn node_server(name: &str) -> NodeServer {
    NodeServer::new(
        0,
        COOKIE.to_owned(),
        name.to_owned(),
        HOST.to_owned(),
        None,
        Some(NodeConnectionMode::Isolated),
    )
    .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The child: node `workers`, which lets peers spawn workers. Prints `READY <port>`, then runs
/// until its stdin closes.
async fn run_workers_node() -> Result<(), String> {
    // Read stdin on a plain thread: such a read cannot be cancelled, and a detached thread does
    // not hold up the exit of the process.
    let (closed_tx, closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed_tx.send(());
    });
    ractor_cluster::node::register_spawnable(WORKER_KIND, || Worker);
    let (server, handle) = Actor::spawn(None, node_server("workers"), ())
        .await
        .map_err(|err| format!("cannot start node workers: {err}"))?;
    let info = ractor_cluster::node::node_info(&server)
        .await
        .map_err(|err| format!("node workers does not answer: {err}"))?;
    println!("READY {}", info.listen_addr.port());
    let why = tokio::select! {
        _ = closed => "its stdin closed",
        () = tokio::time::sleep(CHILD_LIFETIME) => "it ran for too long",
    };
    println!("node workers stopping: {why}");
    server.stop(None);
    tokio::time::timeout(EXIT_TIMEOUT, handle)
        .await
        .map_err(|_| "node workers did not stop in time".to_owned())?
        .map_err(|err| format!("node workers ended badly: {err}"))
}

/// The child process, seen from the parent.
struct WorkersProcess {
    process: Child,
    stdin: Option<ChildStdin>,
}

impl WorkersProcess {
    /// Starts the child and returns it with the port its node listens on. Relays the rest of
    /// what it prints, tagged.
    async fn start() -> Result<(Self, u16), String> {
        let exe = std::env::current_exe()
            .map_err(|err| format!("cannot find this program's executable: {err}"))?;
        let mut process = Command::new(exe)
            .arg("--workers")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true) // the last resort, should the demo fail halfway
            .spawn()
            .map_err(|err| format!("cannot start the workers node: {err}"))?;
        let stdin = process.stdin.take();
        let stdout = process
            .stdout
            .take()
            .ok_or("the workers node has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| "the workers node did not start in time".to_owned())?
            .map_err(|err| format!("cannot read from the workers node: {err}"))?
            .ok_or("the workers node exited before it started")?;
        let port = ready
            .strip_prefix("READY ")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the workers node: {ready:?}"))?;
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                println!("  [workers] {line}");
            }
        });
        Ok((Self { process, stdin }, port))
    }

    /// Closes the child's stdin and waits for it to exit; kills it as a last resort.
    async fn stop(mut self) -> Result<(), String> {
        self.stdin = None;
        match tokio::time::timeout(EXIT_TIMEOUT, self.process.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("the workers node exited with {status}")),
            Ok(Err(err)) => Err(format!("cannot wait for the workers node: {err}")),
            Err(_) => {
                let _ = self.process.kill().await;
                Err("the workers node did not exit in time and was killed".to_owned())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: node `boss`, with the supervisor.

async fn run_boss() -> Result<(), String> {
    let (server, _) = Actor::spawn(None, node_server("boss"), ())
        .await
        .map_err(|err| format!("cannot start node boss: {err}"))?;
    let (child, port) = WorkersProcess::start().await?;
    let outcome = supervise(&server, port).await;
    server.stop(None);
    let stopped = child.stop().await;
    outcome.and(stopped)
}

/// Connects to the workers node and runs the supervision scenario.
async fn supervise(server: &ActorRef<NodeServerMessage>, port: u16) -> Result<(), String> {
    let session: NodeServerSessionInformation =
        ractor_cluster::client_connect_and_wait(server, (HOST, port), STEP_TIMEOUT)
            .await
            .map_err(|err| format!("cannot connect to the workers node: {err}"))?;
    let workers_node = session
        .peer_node_id()
        .ok_or("a ready session knows its peer's name")?;
    println!("node boss connected to node workers ({HOST}:{port}, node id {workers_node})");

    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let (supervisor, supervisor_handle) =
        Actor::spawn(None, Supervisor, (workers_node, reports_tx))
            .await
            .map_err(|err| format!("cannot start the supervisor: {err}"))?;
    let square = |n: u64| {
        let supervisor = supervisor.clone();
        async move {
            let timeout = 2 * u64::try_from(STEP_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
            ractor::call_t!(supervisor, SupervisorMessage::Square, timeout, n)
                .map_err(|err| format!("the supervisor did not answer: {err}"))?
        }
    };

    let mut result = Ok(());
    for round in 1..=FAILURES + 1 {
        let n = u64::from(round) + 10;
        match square(n).await {
            Ok(answer) => println!("job {round}: {answer}"),
            Err(err) => {
                result = Err(format!("job {round}: {err}"));
                break;
            }
        }
        if round > FAILURES {
            break;
        }
        supervisor
            .cast(SupervisorMessage::Poison(format!("poison pill {round}")))
            .map_err(|err| format!("the supervisor is gone: {err}"))?;
        match tokio::time::timeout(RESTART_TIMEOUT, reports.recv()).await {
            Ok(Some(Report::Restarted { error, restarted })) => {
                println!("the supervisor saw \"{error}\" and started worker #{restarted}");
            }
            Ok(Some(Report::GaveUp(why))) => {
                result = Err(format!("the supervisor gave up: {why}"));
                break;
            }
            Ok(None) => {
                result = Err("the supervisor stopped".to_owned());
                break;
            }
            Err(_) => {
                result = Err("the supervisor did not restart the worker in time".to_owned());
                break;
            }
        }
    }

    supervisor.stop(None);
    tokio::time::timeout(STEP_TIMEOUT, supervisor_handle)
        .await
        .map_err(|_| "the supervisor did not stop in time".to_owned())?
        .map_err(|err| format!("the supervisor ended badly: {err}"))?;
    if result.is_ok() {
        println!(
            "done: {FAILURES} remote failures seen and repaired by a supervisor on another node"
        );
    }
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => run_boss().await,
        [flag] if flag == "--workers" => run_workers_node().await,
        _ => {
            eprintln!("usage: remote_supervision            (runs the whole example)");
            eprintln!(
                "       remote_supervision --workers  (the worker node; started by the example)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("remote_supervision failed: {why}");
            ExitCode::FAILURE
        }
    }
}
