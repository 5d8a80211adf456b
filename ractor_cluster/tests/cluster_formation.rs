//! Clusters formed by discovery alone: real nodes on 127.0.0.1, in isolated mode (so that every
//! connection is the reconciler's doing, not a transitive dial), each given a discovery source
//! that the test controls and that counts its rounds. Every wait is bounded.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_cluster::discovery::{Discovery, DiscoveryFuture};
use ractor_cluster::node::ReconnectPolicy;

use common::{start_node_with, Event, Node, NodeOptions, WAIT};

/// Discovery rounds come fast in these tests.
const INTERVAL: Duration = Duration::from_millis(50);

/// A discovery source whose list the test sets while the nodes run.
#[derive(Default)]
struct Listed {
    addresses: Mutex<Vec<String>>,
    rounds: AtomicUsize,
}

impl Listed {
    fn set(&self, addresses: Vec<String>) {
        *self.addresses.lock().unwrap() = addresses;
    }

    fn rounds(&self) -> usize {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Waits until `more` rounds have been answered from now on.
    async fn wait_rounds(&self, more: usize) {
        let target = self.rounds() + more;
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.rounds() < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "discovery was not asked {more} more times"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Discovery for Listed {
    fn discover(&self) -> DiscoveryFuture<'_> {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        let addresses = self.addresses.lock().unwrap().clone();
        Box::pin(std::future::ready(Ok(addresses)))
    }
}

/// A quick backoff, so that the tests do not wait for the default's seconds.
fn quick_backoff() -> ReconnectPolicy {
    ReconnectPolicy::default()
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(100))
}

async fn start(name: &str, discovery: &Arc<Listed>, port: u16, reconnect: ReconnectPolicy) -> Node {
    let discovery: Arc<dyn Discovery> = discovery.clone();
    start_node_with(
        name,
        NodeOptions {
            port,
            discovery: Some((discovery, INTERVAL)),
            reconnect: Some(reconnect),
            ..Default::default()
        },
    )
    .await
}

fn address(node: &Node) -> String {
    format!("127.0.0.1:{}", node.port)
}

/// A port on 127.0.0.1 that nothing listens on (as far as this test knows): bound, then freed.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until every node has an authenticated session with every other one, and no other.
async fn wait_full_mesh(nodes: &[Node]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut complete = true;
        for node in nodes {
            let mut expected: Vec<String> = nodes
                .iter()
                .filter(|n| n.name != node.name)
                .map(|n| n.name.clone())
                .collect();
            expected.sort();
            if node.peer_names().await != expected {
                complete = false;
                break;
            }
        }
        if complete {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the nodes did not form one full mesh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `node`'s authenticated peers are exactly `names`.
async fn wait_peers(node: &Node, names: &[&str]) {
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    let deadline = tokio::time::Instant::now() + WAIT;
    while node.peer_names().await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} did not get to peers {expected:?}",
            node.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn opened(node: &mut Node) -> usize {
    node.drain_events()
        .iter()
        .filter(|e| **e == Event::Opened)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_start_together_form_one_cluster() {
    const NODES: usize = 8;
    // One list for all, as DNS or a seed list would give them: each node finds itself in it too.
    let discovery = Arc::new(Listed::default());
    let mut nodes = Vec::new();
    for i in 0..NODES {
        nodes.push(start(&format!("cold-{i}"), &discovery, 0, quick_backoff()).await);
    }
    // Published at once, when all are up: every node dials every other at the same time.
    discovery.set(nodes.iter().map(address).collect());
    wait_full_mesh(&nodes).await;

    // Once complete, the rounds that follow dial no one: neither a connected peer (the name of
    // the node behind each address is known, whichever side's session was kept) nor itself.
    // Dials that a round started before the mesh was complete may still land (and be refused as
    // duplicates): two rounds on every node let them settle first.
    discovery.wait_rounds(2 * NODES).await;
    for node in &mut nodes {
        opened(node);
    }
    discovery.wait_rounds(5 * NODES).await;
    for node in &mut nodes {
        assert_eq!(opened(node), 0, "{} opened sessions again", node.name);
    }
    wait_full_mesh(&nodes).await;
}

/// A discovery source for two nodes that answers both their first rounds at the same instant
/// (each waits for the other), with both addresses; later rounds find nothing.
struct FoundTogether {
    addresses: Mutex<Vec<String>>,
    first_rounds: tokio::sync::Barrier,
    rounds: AtomicUsize,
}

impl Discovery for FoundTogether {
    fn discover(&self) -> DiscoveryFuture<'_> {
        let round = self.rounds.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if round >= 2 {
                return Ok(Vec::new());
            }
            self.first_rounds.wait().await;
            Ok(self.addresses.lock().unwrap().clone())
        })
    }
}

#[tokio::test]
async fn two_nodes_that_find_each_other_at_once_open_one_session_not_two() {
    let ports = [free_port(), free_port()];
    let discovery = Arc::new(FoundTogether {
        addresses: Mutex::new(ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()),
        first_rounds: tokio::sync::Barrier::new(2),
        rounds: AtomicUsize::new(0),
    });
    let mut nodes = Vec::new();
    for (i, port) in ports.into_iter().enumerate() {
        let discovery: Arc<dyn Discovery> = discovery.clone();
        let options = NodeOptions {
            port,
            discovery: Some((discovery, INTERVAL)),
            reconnect: Some(quick_backoff()),
            ..Default::default()
        };
        nodes.push(start_node_with(&format!("pair-{i}"), options).await);
    }
    wait_full_mesh(&nodes).await;
    // Both nodes' first rounds found the other at the same instant: had both dialed, each would
    // have opened two sessions (its own dial and the other's), one of them only to close it.
    let deadline = tokio::time::Instant::now() + WAIT;
    while discovery.rounds.load(Ordering::SeqCst) < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "discovery rounds stopped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opened: Vec<usize> = nodes.iter_mut().map(opened).collect();
    assert_eq!(opened, [1, 1], "sessions opened by each node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_that_do_not_complete_make_a_node_dial_fewer_at_once() {
    // Eight listeners that accept and never answer: each dial ends when the node's handshake
    // timeout does, before authentication, as with peers too loaded to answer.
    let open = Arc::new(AtomicUsize::new(0));
    // The most dials open at once before `shrunk_by` and after it, and the dials after it.
    let max_open_early = Arc::new(AtomicUsize::new(0));
    let max_open_late = Arc::new(AtomicUsize::new(0));
    let dials_late = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let shrunk_by = Duration::from_secs(3);
    let mut addresses = Vec::new();
    let mut holders = Vec::new();
    for _ in 0..8 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        addresses.push(listener.local_addr().unwrap().to_string());
        let open = Arc::clone(&open);
        let max_open_early = Arc::clone(&max_open_early);
        let max_open_late = Arc::clone(&max_open_late);
        let dials_late = Arc::clone(&dials_late);
        holders.push(tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                if started.elapsed() < shrunk_by {
                    max_open_early.fetch_max(now_open, Ordering::SeqCst);
                } else {
                    max_open_late.fetch_max(now_open, Ordering::SeqCst);
                    dials_late.fetch_add(1, Ordering::SeqCst);
                }
                let open = Arc::clone(&open);
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buffer = [0u8; 1024];
                    while matches!(stream.read(&mut buffer).await, Ok(n) if n > 0) {}
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }));
    }
    let discovery = Arc::new(Listed::default());
    discovery.set(addresses);
    let discovery_source: Arc<dyn Discovery> = discovery.clone();
    let node = start_node_with(
        "window",
        NodeOptions {
            discovery: Some((discovery_source, INTERVAL)),
            reconnect: Some(quick_backoff()),
            handshake_timeout: Some(Duration::from_millis(300)),
            max_discovery_dials: Some(4),
            ..NodeOptions::default()
        },
    )
    .await;
    common::eventually("six dials after the window had time to shrink", || {
        dials_late.load(Ordering::SeqCst) >= 6
    })
    .await;
    // The bound was used at first (more may look open for a moment, as below).
    let early = max_open_early.load(Ordering::SeqCst);
    assert!(early >= 4, "{early} dials under way at once at first");
    // One at a time by then (two for the moment a listener has not yet seen a closed dial end).
    let late = max_open_late.load(Ordering::SeqCst);
    assert!(late <= 2, "{late} dials under way at once");
    node.stop().await;
    for holder in holders {
        holder.abort();
    }
}

#[tokio::test]
async fn every_missing_node_is_dialed_until_it_comes() {
    let (port_b, port_c) = (free_port(), free_port());
    let discovery = Arc::new(Listed::default());
    discovery.set(vec![
        format!("127.0.0.1:{port_b}"),
        format!("127.0.0.1:{port_c}"),
    ]);
    let a = start("late-a", &discovery, 0, quick_backoff()).await;
    // Several rounds find nobody at either address.
    discovery.wait_rounds(5).await;
    assert!(a.peer_names().await.is_empty());

    let quiet = Arc::new(Listed::default());
    let b = start("late-b", &quiet, port_b, quick_backoff()).await;
    wait_peers(&a, &["late-b@localhost"]).await;
    // Not only the first node that answers: the other is dialed on and on too.
    let c = start("late-c", &quiet, port_c, quick_backoff()).await;
    wait_peers(&a, &["late-b@localhost", "late-c@localhost"]).await;
    drop((b, c));
}

#[tokio::test]
async fn a_lost_node_is_dialed_again() {
    let quiet = Arc::new(Listed::default());
    let b = start("lost-b", &quiet, 0, quick_backoff()).await;
    let port_b = b.port;
    let discovery = Arc::new(Listed::default());
    discovery.set(vec![address(&b)]);
    // Redialing lost peers is the reconciler's job here, not the reconnect policy's.
    let a = start("lost-a", &discovery, 0, quick_backoff()).await;
    wait_peers(&a, &["lost-b@localhost"]).await;

    b.stop().await;
    wait_peers(&a, &[]).await;
    let b = start("lost-b", &quiet, port_b, quick_backoff()).await;
    wait_peers(&a, &["lost-b@localhost"]).await;
    drop(b);
}

#[tokio::test]
async fn a_node_never_dials_itself() {
    let quiet = Arc::new(Listed::default());
    let b = start("self-b", &quiet, 0, quick_backoff()).await;
    let discovery = Arc::new(Listed::default());
    // No backoff at all: without recognising its own address, the node would dial itself at
    // every round (and open two sessions each time, the dialed one and the accepted one).
    let eager = ReconnectPolicy::default()
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(1));
    let mut a = start("self-a", &discovery, 0, eager).await;
    discovery.set(vec![address(&a), address(&b)]);
    wait_peers(&a, &["self-b@localhost"]).await;
    discovery.wait_rounds(10).await;
    // The session with b, and the accepted end of the one dial that found a's own listener.
    let sessions = opened(&mut a);
    assert!(sessions <= 2, "a opened {sessions} sessions");
    assert_eq!(a.peer_names().await, ["self-b@localhost"]);
    drop(b);
}

#[tokio::test]
async fn a_node_dials_at_most_max_discovery_dials_at_once() {
    // Six listeners that accept and never answer: every dial to them stays under way (the node's
    // handshake timeout is far away), so only the bound lets some wait.
    let mut listeners = Vec::new();
    for _ in 0..6 {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let discovery = Arc::new(Listed::default());
    discovery.set(
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect(),
    );
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut holders = Vec::new();
    for listener in listeners {
        let accepted = Arc::clone(&accepted);
        holders.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        }));
    }
    let discovery_source: Arc<dyn Discovery> = discovery.clone();
    let node = start_node_with(
        "capped",
        NodeOptions {
            discovery: Some((discovery_source, INTERVAL)),
            reconnect: Some(quick_backoff()),
            handshake_timeout: Some(Duration::from_secs(60)),
            max_discovery_dials: Some(2),
            ..NodeOptions::default()
        },
    )
    .await;
    common::eventually("two dials to be accepted", || {
        accepted.load(Ordering::SeqCst) >= 2
    })
    .await;
    // Many rounds later, the other four still wait for a dial to end.
    discovery.wait_rounds(10).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    node.stop().await;
    for holder in holders {
        holder.abort();
    }
}
