//! One node per terminal, started by hand: a cluster you can watch grow and shrink.
//!
//! Open two or three terminals in the repository and run one command in each:
//!
//! ```text
//! # terminal 1
//! cargo run -p ractor_cluster_examples --example manual_node -- --name a --port 4001
//! # terminal 2
//! cargo run -p ractor_cluster_examples --example manual_node -- --name b --port 4002 --connect 127.0.0.1:4001
//! # terminal 3 (optional): it dials b only and finds a through b (transitive mode)
//! cargo run -p ractor_cluster_examples --example manual_node -- --name c --port 4003 --connect 127.0.0.1:4002
//! ```
//!
//! Every node shares the same cookie, starts a `Pinger` actor in the process group
//! `manual.pingers`, and every two seconds prints the members it sees in the group and pings each
//! remote one with an `#[rpc]` call (round-trip time included). Session events (opened,
//! authenticated, ready, disconnected) are printed as they happen. Press Ctrl-C in a terminal to
//! stop that node: the others print the disconnection and stop pinging it. Start a node again with
//! `--connect` to any running node and it joins again (nodes do not yet redial a lost peer).
//!
//! Options:
//!
//! - `--name NAME`: the node name (required); the node is `NAME@HOST`.
//! - `--port PORT`: where to listen (default 0: a free port, printed at start).
//! - `--connect ADDR`: a node to dial (`host:port`), repeatable; retried for a while if it is not
//!   up yet.
//! - `--cookie COOKIE`: the shared secret (default `manual-node-cookie`); a node with another
//!   cookie is refused.
//! - `--host HOST`: the host name peers use to reach this node (default `127.0.0.1`, and the node
//!   listens on 127.0.0.1 only). Any other value makes the node listen on all interfaces, for a
//!   cluster across machines.
//! - `--every SECS`: how often to print and ping (default 2).
//! - `--exit-after SECS`: stop on its own after this long (for scripts; default: run until Ctrl-C).

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example talks to its user

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ractor::{pg, Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{
    NodeConnectionMode, NodeEventSubscription, NodeId, NodeServer, NodeServerMessage,
    RactorClusterMessage,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

const GROUP: &str = "manual.pingers";
const CALL_TIMEOUT_MS: u64 = 1_000;
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// The pinger: answers pings from other nodes.

/// A pinger's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pong {
    node: String,
    pings_answered: u64,
    up_for_secs: u64,
}

#[derive(RactorClusterMessage)]
enum PingerMessage {
    /// A cast: a greeting from a node that just saw this one.
    Hello(String),
    /// A call: who are you?
    #[rpc]
    Ping(String, RpcReplyPort<Pong>),
}

struct Pinger;

struct PingerState {
    node: String,
    started: Instant,
    answered: u64,
}

impl Actor for Pinger {
    type Msg = PingerMessage;
    type State = PingerState;
    type Arguments = String;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        node: String,
    ) -> Result<Self::State, ActorProcessingErr> {
        pg::join(GROUP.to_owned(), vec![myself.get_cell()]);
        Ok(PingerState {
            node,
            started: Instant::now(),
            answered: 0,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PingerMessage::Hello(from) => println!("  <- hello from {from}"),
            PingerMessage::Ping(_from, reply) => {
                state.answered += 1;
                let _ = reply.send(Pong {
                    node: state.node.clone(),
                    pings_answered: state.answered,
                    up_for_secs: state.started.elapsed().as_secs(),
                });
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Session events, printed by the main loop (a subscription must not block the node server).

struct PrintEvents(mpsc::UnboundedSender<String>);

fn peer(ses: &NodeServerSessionInformation) -> String {
    match &ses.peer_name {
        Some(name) => format!("{} ({})", name.name, ses.peer_addr),
        None => ses.peer_addr.clone(),
    }
}

impl NodeEventSubscription for PrintEvents {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        let side = if ses.is_server { "accepted" } else { "dialed" };
        let _ = self
            .0
            .send(format!("session opened: {side} {}", ses.peer_addr));
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self
            .0
            .send(format!("session authenticated: {}", peer(&ses)));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(format!("session ready: {}", peer(&ses)));
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(format!("session ended: {}", peer(&ses)));
    }
}

// ---------------------------------------------------------------------------------------------
// Command line.

struct Options {
    name: String,
    port: u16,
    connect: Vec<String>,
    cookie: String,
    host: String,
    every: Duration,
    exit_after: Option<Duration>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        name: String::new(),
        port: 0,
        connect: Vec::new(),
        cookie: "manual-node-cookie".to_owned(),
        host: "127.0.0.1".to_owned(),
        every: Duration::from_secs(2),
        exit_after: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let secs = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or(format!("{flag}: not a number of seconds: {v}"))
        };
        match flag.as_str() {
            "--name" => options.name = value()?,
            "--port" => {
                let v = value()?;
                options.port = v.parse().map_err(|_| format!("--port: not a port: {v}"))?;
            }
            "--connect" => options.connect.push(value()?),
            "--cookie" => options.cookie = value()?,
            "--host" => options.host = value()?,
            "--every" => options.every = secs(value()?)?,
            "--exit-after" => options.exit_after = Some(secs(value()?)?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.name.is_empty() {
        return Err("--name is required".to_owned());
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(why) => {
            eprintln!("{why}");
            eprintln!(
                "usage: manual_node --name NAME [--port PORT] [--connect HOST:PORT]... \
                 [--cookie COOKIE] [--host HOST] [--every SECS] [--exit-after SECS]"
            );
            return std::process::ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("manual_node: {why}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let mut server = NodeServer::new(
        options.port,
        options.cookie.clone(),
        options.name.clone(),
        options.host.clone(),
        None,
        Some(NodeConnectionMode::Transitive),
    );
    if options.host == "127.0.0.1" || options.host == "localhost" {
        server = server.with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let (node, node_handle) = Actor::spawn(None, server, ()).await.map_err(|e| {
        format!(
            "cannot start the node (is port {} free?): {e}",
            options.port
        )
    })?;
    let info = ractor_cluster::node::node_info(&node)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "node {} (id {:016x}) listening on {}; peers reach it at {}",
        info.name, info.node_id, info.listen_addr, info.connection_string
    );

    let (events_tx, mut events) = mpsc::unbounded_channel();
    node.cast(NodeServerMessage::SubscribeToEvents {
        id: "manual_node".to_owned(),
        subscription: Box::new(PrintEvents(events_tx.clone())),
    })
    .map_err(|e| e.to_string())?;

    let (pinger, pinger_handle) = Actor::spawn(None, Pinger, info.name.clone())
        .await
        .map_err(|e| format!("cannot start the pinger: {e}"))?;

    // Dial the given peers, retrying for a while in case they are not up yet.
    for addr in options.connect.clone() {
        let node = node.clone();
        let report = events_tx.clone();
        tokio::spawn(async move {
            for attempt in 1..=30 {
                match ractor_cluster::client_connect(&node, addr.as_str()).await {
                    Ok(()) => return,
                    Err(e) if attempt == 1 || attempt % 10 == 0 => {
                        let _ = report.send(format!("cannot reach {addr} yet ({e}); retrying"));
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let _ = report.send(format!("gave up dialing {addr}"));
        });
    }

    let mut tick = tokio::time::interval(options.every);
    let exit_after = tokio::time::sleep(options.exit_after.unwrap_or(Duration::MAX / 4));
    tokio::pin!(exit_after);
    let mut greeted: Vec<ActorId> = Vec::new();
    let why = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break "Ctrl-C",
            () = &mut exit_after => break "--exit-after elapsed",
            Some(event) = events.recv() => println!("{event}"),
            _ = tick.tick() => report(&node, &info.name, &mut greeted).await,
        }
    };

    println!("stopping ({why})");
    pinger.stop(None);
    node.stop(None);
    for (what, handle) in [("pinger", pinger_handle), ("node", node_handle)] {
        match tokio::time::timeout(STOP_TIMEOUT, handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("the {what} failed: {e}")),
            Err(_) => return Err(format!("the {what} did not stop within {STOP_TIMEOUT:?}")),
        }
    }
    Ok(())
}

/// Prints the group's members, greets the new remote ones and pings every remote one.
async fn report(node: &ActorRef<NodeServerMessage>, own_name: &str, greeted: &mut Vec<ActorId>) {
    let sessions: HashMap<NodeId, NodeServerSessionInformation> =
        match ractor::call_t!(node, NodeServerMessage::GetSessions, CALL_TIMEOUT_MS) {
            Ok(sessions) => sessions,
            Err(e) => {
                println!("cannot list sessions: {e}");
                return;
            }
        };
    let name_of = |node_id: NodeId| {
        sessions
            .values()
            .find(|s| s.peer_node_id() == Some(node_id))
            .and_then(|s| s.peer_name.as_ref())
            .map_or_else(|| format!("{node_id:016x}"), |n| n.name.clone())
    };
    // This node first, then the others by name.
    let mut members: Vec<(Option<String>, ractor::ActorCell)> = pg::get_members(&GROUP.to_owned())
        .into_iter()
        .map(|member| match member.get_id() {
            ActorId::Local(_) => (None, member),
            ActorId::Remote { node_id, .. } => (Some(name_of(node_id)), member),
        })
        .collect();
    members.sort_by(|a, b| a.0.cmp(&b.0));
    println!(
        "[{own_name}] {} session(s); group {GROUP:?} has {} member(s):",
        sessions.len(),
        members.len()
    );
    for (peer, member) in members {
        match peer {
            None => println!("  {own_name} (this node)"),
            Some(peer) => {
                let pinger: ActorRef<PingerMessage> = member.into();
                if !greeted.contains(&pinger.get_id()) {
                    greeted.push(pinger.get_id());
                    let _ = pinger.cast(PingerMessage::Hello(own_name.to_owned()));
                }
                let started = Instant::now();
                match ractor::call_t!(
                    pinger,
                    PingerMessage::Ping,
                    CALL_TIMEOUT_MS,
                    own_name.to_owned()
                ) {
                    Ok(pong) => println!(
                        "  {peer}: pong from {} in {:.2} ms (up {} s, {} pings answered)",
                        pong.node,
                        started.elapsed().as_secs_f64() * 1e3,
                        pong.up_for_secs,
                        pong.pings_answered
                    ),
                    Err(e) => println!("  {peer}: no answer ({e})"),
                }
            }
        }
    }
    // Forget the pingers that left, so they are greeted again if they come back.
    let present: Vec<ActorId> = pg::get_members(&GROUP.to_owned())
        .iter()
        .map(|m| m.get_id())
        .collect();
    greeted.retain(|id| present.contains(id));
}
