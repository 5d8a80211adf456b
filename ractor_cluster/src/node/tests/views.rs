//! Discovery views (protocol 2.10): a node that runs discovery tells each peer a digest of what it
//! lists, and leaves the nodes a peer's discovery lists too out of the peers it names to it.

use crate::discovery::StaticSeeds;
use crate::protocol::listed::listed_digest;
use crate::protocol::message::{ControlMessage, SessionMessage};
use crate::testing::{node_builder, Event, ScriptedPeer, TestNode};

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
