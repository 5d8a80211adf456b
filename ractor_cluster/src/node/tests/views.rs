//! Discovery views (protocol 2.10): a node that runs discovery tells each peer a digest of what it
//! lists, and leaves the nodes a peer's discovery lists too out of the peers it names to it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::discovery::{Discovery, DiscoveryFuture, StaticSeeds};
use crate::protocol::listed::listed_digest;
use crate::protocol::message::{ControlMessage, SessionMessage};
use crate::testing::{node_builder, within, Event, ScriptedPeer, TestNode};

/// What discovery lists in these tests: the address every scripted peer advertises, and one that
/// no peer has.
const LISTED: [&str; 2] = ["localhost:1", "localhost:2"];

/// Whether `message` names the node called `name` to its receiver.
fn names(message: &SessionMessage, name: &str) -> bool {
    matches!(message, SessionMessage::Control(ControlMessage::PeersKnown(peers))
        if peers.iter().any(|p| p.name == name))
}

/// Connects a scripted peer that tells the node `view` (if any) and finishes its initial exchange;
/// returns it with what the node sent it meanwhile.
async fn ready_peer(
    node: &mut TestNode,
    prefix: &str,
    view: Option<[u8; 16]>,
) -> (ScriptedPeer, Vec<SessionMessage>) {
    let mut peer = ScriptedPeer::connect(node, prefix).await;
    if let Some(view) = view {
        peer.send_control(ControlMessage::DiscoveryView(view)).await;
    }
    peer.send_control(ControlMessage::InitialSyncDone).await;
    node.event_where(|e| *e == Event::Ready(peer.name.clone()))
        .await;
    let told = peer.sync().await;
    (peer, told)
}

#[tokio::test]
async fn a_peer_whose_discovery_lists_the_same_is_not_told_of_the_nodes_it_lists() {
    let server = node_builder("views")
        .with_discovery(StaticSeeds::new(LISTED), std::time::Duration::from_secs(60));
    let mut node = TestNode::start(server).await;
    let same = listed_digest(LISTED);
    // The node tells a peer its own view before its initial exchange ends.
    let (first, told) = ready_peer(&mut node, "first", None).await;
    assert!(
        told.contains(&SessionMessage::Control(ControlMessage::DiscoveryView(
            same
        ))),
        "{told:?}"
    );
    // `first` advertises a listed address: a peer that lists the same is not told of it...
    let (_, told) = ready_peer(&mut node, "same-view", Some(same)).await;
    assert!(!told.iter().any(|m| names(m, &first.name)), "{told:?}");
    // ...one whose discovery lists something else, or that runs none, is.
    let other = listed_digest(["localhost:1"]);
    let (_, told) = ready_peer(&mut node, "other-view", Some(other)).await;
    assert!(told.iter().any(|m| names(m, &first.name)), "{told:?}");
    let (_, told) = ready_peer(&mut node, "no-view", None).await;
    assert!(told.iter().any(|m| names(m, &first.name)), "{told:?}");
    node.stop().await;
}

#[tokio::test]
async fn a_node_without_discovery_tells_no_view_and_names_every_peer() {
    let mut node = TestNode::start(node_builder("no-views")).await;
    let (first, told) = ready_peer(&mut node, "first", None).await;
    assert!(
        !told
            .iter()
            .any(|m| matches!(m, SessionMessage::Control(ControlMessage::DiscoveryView(_)))),
        "{told:?}"
    );
    let (_, told) = ready_peer(&mut node, "second", Some(listed_digest(LISTED))).await;
    assert!(told.iter().any(|m| names(m, &first.name)), "{told:?}");
    node.stop().await;
}

/// A discovery source whose list the test changes, counting the rounds that asked it.
struct Changing {
    list: Mutex<Vec<String>>,
    rounds: AtomicUsize,
}

impl Changing {
    fn new(list: &[&str]) -> Self {
        Self {
            list: Mutex::new(list.iter().map(|a| (*a).to_owned()).collect()),
            rounds: AtomicUsize::new(0),
        }
    }

    /// Lists `list` from now on, and returns once two rounds have asked since: the first of
    /// them has handed its answer to the node server, ahead of anything the test sends it later.
    async fn set(&self, list: &[&str]) {
        *self.list.lock().unwrap() = list.iter().map(|a| (*a).to_owned()).collect();
        let asked = self.rounds.load(Ordering::SeqCst);
        within("two discovery rounds", async {
            while self.rounds.load(Ordering::SeqCst) < asked + 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
}

impl Discovery for Changing {
    fn discover(&self) -> DiscoveryFuture<'_> {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        let list = self.list.lock().unwrap().clone();
        Box::pin(std::future::ready(Ok(list)))
    }
}

#[tokio::test]
async fn a_peer_the_list_leaves_out_is_named_to_a_peer_with_the_same_view() {
    let discovery = Arc::new(Changing::new(&LISTED));
    let server =
        node_builder("unlisted").with_discovery(Arc::clone(&discovery), Duration::from_millis(20));
    let mut node = TestNode::start(server).await;
    // Every scripted peer advertises the first listed address...
    let (first, _) = ready_peer(&mut node, "first", None).await;
    // ...which the list then leaves out: `first` is unlisted from now on, and so is `second`,
    // admitted after the change.
    let now = ["localhost:2"];
    discovery.set(&now).await;
    let (second, _) = ready_peer(&mut node, "second", None).await;
    let (_, told) = ready_peer(&mut node, "same-view", Some(listed_digest(now))).await;
    assert!(told.iter().any(|m| names(m, &first.name)), "{told:?}");
    assert!(told.iter().any(|m| names(m, &second.name)), "{told:?}");
    node.stop().await;
}
