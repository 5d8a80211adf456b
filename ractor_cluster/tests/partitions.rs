//! Real network partitions: nodes in separate processes, each in its own Linux network namespace,
//! split by cutting the link between two bridges, and a downing policy deciding which side stays.
//!
//! The network, all of it made by the test in namespaces named `rcd<pid>…` and removed when the
//! test ends (however it ends):
//!
//! ```text
//!   namespace rcd<pid><t>n1 (10.77.0.1) ─┐                    ┌─ namespace …n4 (10.77.0.4)
//!   namespace rcd<pid><t>n2 (10.77.0.2) ─┼─ br0 ─ l0 ═══ l1 ─ br1 ─┴─ namespace …n5 (10.77.0.5)
//!   namespace rcd<pid><t>n3 (10.77.0.3) ─┘    (namespace rcd<pid><t>sw)
//! ```
//!
//! Each node's namespace holds one end of a veth pair (`eth0`); the other end is a port of one of
//! two bridges in a switch namespace, and a third veth pair `l0`–`l1` joins the bridges, with a
//! little `tc netem` delay on it. Cutting that link (`ip link set l0 down`, or `netem loss 100%`)
//! splits the cluster into the two bridges' sides, each still connected inside. No address is
//! given outside those namespaces, so no traffic leaves them.
//!
//! This executable is both the runner (`harness = false`) and the peers: started again with
//! `RACTOR_CLUSTER_TEST_PEER=<name>` in its environment (inside a namespace, through `ip netns
//! exec`), it runs a node `<name>@<address>` that finds the others by static seeds, with downing
//! by keep-majority, prints `READY <port> <node id>` and answers commands on stdin:
//!
//! | command   | answer                                                             |
//! |-----------|--------------------------------------------------------------------|
//! | `members` | `MEMBERS name=Status,…`: the view, itself included, sorted by name |
//! | `refused` | `REFUSED <n>`: sessions this node refused, their peer's run downed |
//!
//! Where the kernel refuses to make namespaces (no root, no `ip`), each test prints why it skips.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::peer_process::{tests, Commands, PeerProcess, TestFn};
use common::within;
use ractor::Actor;
use ractor_cluster::discovery::StaticSeeds;
use ractor_cluster::downing::{Downing, DowningStrategy};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{
    membership, NodeConnectionMode, NodeEventSubscription, NodeServer, SessionEnd,
};

/// Where each peer listens, in its own namespace.
const PORT: u16 = 4697;
const ADDR_ENV: &str = "RACTOR_CLUSTER_TEST_ADDR";
const SEEDS_ENV: &str = "RACTOR_CLUSTER_TEST_SEEDS";

/// Short liveness and downing timings, so that a partition is decided within a few seconds.
const HEARTBEAT: Duration = Duration::from_millis(250);
const DOWN_AFTER: Duration = Duration::from_millis(1500);
const STABLE_AFTER: Duration = Duration::from_millis(2000);
const DISCOVERY_INTERVAL: Duration = Duration::from_millis(300);

const TESTS: &[(&str, TestFn)] = tests![
    a_3_2_split_downs_the_2_side_and_the_3_side_carries_on,
    a_2_2_split_keeps_the_side_with_the_lowest_node_id,
];

fn main() -> ExitCode {
    common::peer_process::main(TESTS, Some(Duration::from_secs(90)), |name| async move {
        peer_main(name).await
    })
}

// ---------------------------------------------------------------------------------------------
// The peer

/// Counts the sessions this node refused because that run of their peer was downed.
struct Refusals(Arc<AtomicU64>);

impl NodeEventSubscription for Refusals {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {}
    fn node_session_ended(&self, _: NodeServerSessionInformation, end: &SessionEnd) {
        if end.to_string().contains("was downed") {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn peer_main(name: String) {
    let addr: Ipv4Addr = std::env::var(ADDR_ENV)
        .expect("the peer's address")
        .parse()
        .expect("an IPv4 address");
    let seeds = std::env::var(SEEDS_ENV).expect("the seeds");
    let server = NodeServer::new(
        PORT,
        "partitions".into(),
        name,
        addr.to_string(),
        None,
        Some(NodeConnectionMode::Transitive),
    )
    .with_listen_addr(IpAddr::V4(addr))
    .with_heartbeat_interval(HEARTBEAT)
    .with_down_after(DOWN_AFTER)
    .with_downing(Downing::new(DowningStrategy::KeepMajority).stable_after(STABLE_AFTER))
    .with_discovery(StaticSeeds::new(seeds.split(',')), DISCOVERY_INTERVAL);
    let (node, _handle) = Actor::spawn(None, server, ())
        .await
        .expect("the node starts");
    let refused = Arc::new(AtomicU64::new(0));
    let _ = node.cast(ractor_cluster::NodeServerMessage::SubscribeToEvents {
        id: "refusals".into(),
        subscription: Box::new(Refusals(Arc::clone(&refused))),
    });
    let info = ractor_cluster::node::node_info(&node)
        .await
        .expect("the node answers");
    let mut commands = Commands::ready(info.listen_addr.port(), info.node_id);
    while let Some(command) = commands.next().await {
        match command.as_str() {
            "members" => match membership::members(&node).await {
                Ok(members) => {
                    let listed: Vec<String> = members
                        .iter()
                        .map(|m| format!("{}={:?}", m.name, m.status))
                        .collect();
                    commands.answer(&format!("MEMBERS {}", listed.join(",")));
                }
                Err(err) => commands.answer(&format!("ERR {err}")),
            },
            "refused" => {
                commands.answer(&format!("REFUSED {}", refused.load(Ordering::Relaxed)));
            }
            other => commands.answer(&format!("ERR unknown command {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The network

/// Runs `ip` (or another tool) with `args`; the error says what failed and why.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Two bridges joined by one link, and one namespace per node on either side. Every namespace is
/// removed when dropped.
struct Network {
    switch: String,
    /// The nodes' namespaces, node `i` (from 1) at `10.77.0.<i>`.
    nodes: Vec<String>,
    /// Whether the kernel has `netem` (some containers' kernels do not).
    netem: bool,
}

impl Drop for Network {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and so their peers.
        for namespace in self.nodes.iter().chain(std::iter::once(&self.switch)) {
            let _ = run("ip", &["netns", "del", namespace]);
        }
    }
}

impl Network {
    /// `left` nodes on one bridge and `right` on the other; `Err` says why namespaces cannot be
    /// made here.
    fn new(test: u32, left: usize, right: usize) -> Result<Self, String> {
        let prefix = format!("rcd{}{test}", std::process::id());
        let switch = format!("{prefix}sw");
        run("ip", &["netns", "add", &switch])?;
        let mut network = Self {
            switch,
            nodes: Vec::new(),
            netem: true,
        };
        let sw = network.switch.clone();
        let in_sw = |args: &[&str]| {
            let mut all = vec!["-n", sw.as_str()];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        for bridge in ["br0", "br1"] {
            in_sw(&["link", "add", bridge, "type", "bridge"])?;
            in_sw(&["link", "set", bridge, "up"])?;
        }
        in_sw(&["link", "add", "l0", "type", "veth", "peer", "name", "l1"])?;
        for (end, bridge) in [("l0", "br0"), ("l1", "br1")] {
            in_sw(&["link", "set", end, "master", bridge])?;
            in_sw(&["link", "set", end, "up"])?;
            if let Err(err) = network.set_netem(end, "delay 2ms") {
                println!("no netem here, the link between the bridges has no delay ({err})");
                network.netem = false;
            }
        }
        for i in 1..=left + right {
            let namespace = format!("{prefix}n{i}");
            run("ip", &["netns", "add", &namespace])?;
            network.nodes.push(namespace.clone());
            let port = format!("v{i}");
            let bridge = if i <= left { "br0" } else { "br1" };
            in_sw(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
            ])?;
            in_sw(&["link", "set", &port, "master", bridge])?;
            in_sw(&["link", "set", &port, "up"])?;
            let addr = format!("{}/24", Self::addr(i));
            run(
                "ip",
                &["-n", &namespace, "addr", "add", &addr, "dev", "eth0"],
            )?;
            run("ip", &["-n", &namespace, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &namespace, "link", "set", "lo", "up"])?;
        }
        Ok(network)
    }

    fn addr(i: usize) -> String {
        format!("10.77.0.{i}")
    }

    /// Sets the `netem` discipline of the switch's link end `end` (`l0` or `l1`).
    fn set_netem(&self, end: &str, params: &str) -> Result<(), String> {
        let mut args = vec![
            "netns",
            "exec",
            &self.switch,
            "tc",
            "qdisc",
            "replace",
            "dev",
        ];
        args.extend([end, "root", "netem"]);
        args.extend(params.split_whitespace());
        run("ip", &args)
    }

    /// Cuts the link between the bridges by taking it down, or brings it back up.
    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        run("ip", &["-n", &self.switch, "link", "set", "l0", state]).expect("the link changes");
    }

    /// Drops every packet on the link between the bridges, both ways, or lets them through again
    /// (with `netem`; by taking the link down and up where the kernel has no `netem`).
    fn drop_all(&self, drop: bool) {
        if !self.netem {
            println!("no netem here: the link is cut by taking it down");
            return self.link(!drop);
        }
        let params = if drop { "loss 100%" } else { "delay 2ms" };
        for end in ["l0", "l1"] {
            self.set_netem(end, params).expect("netem changes");
        }
    }

    /// Starts node `i` (from 1) in its namespace, seeded with every node's address.
    async fn start_node(&self, i: usize) -> PeerProcess {
        let seeds: Vec<String> = (1..=self.nodes.len())
            .map(|i| format!("{}:{PORT}", Self::addr(i)))
            .collect();
        let env = [(ADDR_ENV, Self::addr(i)), (SEEDS_ENV, seeds.join(","))];
        let namespace = &self.nodes[i - 1];
        let prefix = ["ip", "netns", "exec", namespace.as_str()];
        PeerProcess::spawn_via(&prefix, &format!("n{i}"), &env).await
    }

    /// Starts the nodes, one process in each namespace, and waits until each sees all as up.
    async fn start_nodes(&self) -> Vec<PeerProcess> {
        let count = self.nodes.len();
        let mut peers = Vec::new();
        for i in 1..=count {
            peers.push(self.start_node(i).await);
        }
        let all_up = view(&names(count), &[]);
        for peer in &mut peers {
            peer.eventually_answers("members", &all_up).await;
        }
        peers
    }
}

/// Whether the test can make namespaces here; if not, prints why the test skips.
fn network(test: u32, left: usize, right: usize) -> Option<Network> {
    if !cfg!(target_os = "linux") {
        println!("skipping: network namespaces need Linux");
        return None;
    }
    match Network::new(test, left, right) {
        Ok(network) => Some(network),
        Err(err) => {
            println!("skipping: cannot make network namespaces here ({err})");
            None
        }
    }
}

/// The full names of nodes `1..=count`.
fn names(count: usize) -> Vec<String> {
    (1..=count)
        .map(|i| format!("n{i}@{}", Network::addr(i)))
        .collect()
}

/// The `members` answer for `names`, those in `down` down and the others up.
fn view(names: &[String], down: &[&String]) -> String {
    let listed: Vec<String> = names
        .iter()
        .map(|name| {
            let status = if down.contains(&name) { "Down" } else { "Up" };
            format!("{name}={status}")
        })
        .collect();
    format!("MEMBERS {}", listed.join(","))
}

async fn refused(peer: &mut PeerProcess) -> u64 {
    let answer = peer.command("refused").await;
    answer
        .strip_prefix("REFUSED ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{answer}"))
}

// ---------------------------------------------------------------------------------------------
// The tests

async fn a_3_2_split_downs_the_2_side_and_the_3_side_carries_on() {
    let Some(network) = network(1, 3, 2) else {
        return;
    };
    let mut peers = network.start_nodes().await;
    let names = names(5);
    let (stays, goes) = names.split_at(3);
    network.link(false);

    // The 3 side downs the 2 side and carries on among itself.
    let downed: Vec<&String> = goes.iter().collect();
    for peer in &mut peers[..3] {
        peer.eventually_answers("members", &view(&names, &downed))
            .await;
    }
    // Each node of the 2 side learns that it lost (its own member is down), and downs the
    // other side; its partner on the same side stays up in its view.
    for (i, peer) in peers[3..].iter_mut().enumerate() {
        let mut down: Vec<&String> = stays.iter().collect();
        down.extend(goes.get(i));
        peer.eventually_answers("members", &view(&names, &down))
            .await;
    }

    // The link is back: the downed runs dial the 3 side again (and are dialed), and are
    // refused, on both sides, for as long as they run.
    let before = refused(&mut peers[0]).await;
    network.link(true);
    within("the 3 side to refuse the downed nodes", async {
        while refused(&mut peers[0]).await < before + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for peer in &mut peers[..3] {
        assert_eq!(peer.command("members").await, view(&names, &downed));
    }

    // Only a new run of a downed node is admitted: n4 restarts, and the 3 side takes it back.
    peers[3].kill().await;
    peers[3] = network.start_node(4).await;
    for peer in &mut peers[..3] {
        peer.eventually_answers("members", &view(&names, &[&names[4]]))
            .await;
    }
}

async fn a_2_2_split_keeps_the_side_with_the_lowest_node_id() {
    let Some(network) = network(2, 2, 2) else {
        return;
    };
    let mut peers = network.start_nodes().await;
    let names = names(4);
    let lowest = peers
        .iter()
        .enumerate()
        .min_by_key(|(_, p)| p.id)
        .map(|(i, _)| i)
        .expect("four nodes");
    // The side of the node with the lowest id stays, whichever it is.
    let (stays, goes) = if lowest < 2 {
        (0..2, 2..4)
    } else {
        (2..4, 0..2)
    };
    network.drop_all(true);

    let downed: Vec<&String> = names[goes.clone()].iter().collect();
    for peer in &mut peers[stays.clone()] {
        peer.eventually_answers("members", &view(&names, &downed))
            .await;
    }
    for i in goes {
        let mut down: Vec<&String> = names[stays.clone()].iter().collect();
        down.push(&names[i]);
        let answer = view(&names, &down);
        peers[i].eventually_answers("members", &answer).await;
    }
    network.drop_all(false);
}
