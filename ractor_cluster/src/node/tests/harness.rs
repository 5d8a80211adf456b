//! The harness itself: a scripted peer authenticates and is answered; two real nodes pair up over
//! a pipe; a peer that stalls its handshake is dropped (moved here from `tests/hostile_peers.rs`).

use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::protocol::message::{ControlMessage, FrameProtection, SessionMessage};
use crate::testing::{accepted_pipe, node_builder, within, Event, Pair, ScriptedPeer, TestNode};

#[tokio::test]
async fn a_scripted_peer_authenticates_and_is_answered_in_order() {
    let mut node = TestNode::start(node_builder("scripted")).await;
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    assert!(peer.auth.keys.is_some(), "the session is sealed by default");
    assert_eq!(peer.auth.peer.name, node.name);
    assert_eq!(peer.auth.peer_node_id, node.node_id());
    node.event_where(|e| *e == Event::Authenticated(peer.name.clone()))
        .await;
    // The node's own initial exchange ends with its InitialSyncDone.
    peer.next_where("the node's initial sync", |m| {
        *m == SessionMessage::Control(ControlMessage::InitialSyncDone)
    })
    .await;
    peer.send_control(ControlMessage::InitialSyncDone).await;
    node.event_where(|e| *e == Event::Ready(peer.name.clone()))
        .await;
    peer.sync().await;
    let sessions =
        ractor::call_t!(node.actor, crate::NodeServerMessage::GetSessions, 10_000).unwrap();
    let ids: Vec<_> = sessions.values().map(|s| s.peer_node_id()).collect();
    assert_eq!(ids, vec![Some(peer.node_id())]);
    node.stop().await;
}

#[tokio::test]
async fn a_scripted_peer_may_ask_for_plaintext() {
    let node = TestNode::start(node_builder("plain").with_plaintext_frames()).await;
    let mut peer = ScriptedPeer::connect_with(&node, "peer", FrameProtection::Plaintext).await;
    assert!(peer.auth.keys.is_none());
    peer.sync().await;
    node.stop().await;
}

#[tokio::test]
async fn two_nodes_pair_over_a_pipe() {
    let pair = Pair::connect(node_builder("pair-a"), node_builder("pair-b")).await;
    let sessions =
        ractor::call_t!(pair.a.actor, crate::NodeServerMessage::GetSessions, 10_000).unwrap();
    let peers: Vec<_> = sessions
        .values()
        .filter_map(|s| s.peer_name.as_ref().map(|n| n.name.clone()))
        .collect();
    assert_eq!(peers, vec![pair.b.name.clone()]);
    pair.stop().await;
}

/// Moved from `tests/hostile_peers.rs` (`a_peer_that_stops_mid_handshake_is_dropped_after_the_
/// timeout`), with the same assertions, over a pipe instead of a socket.
#[tokio::test]
async fn a_peer_that_stops_mid_handshake_is_dropped_after_the_timeout() {
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(700);
    let mut node =
        TestNode::start(node_builder("midhs").with_handshake_timeout(HANDSHAKE_TIMEOUT)).await;
    // Whatever the node sends, this client answers nothing.
    let mut pipe = accepted_pipe(&node);
    assert_eq!(node.next_event().await, Event::Opened);
    let started = tokio::time::Instant::now();
    assert_eq!(node.next_event().await, Event::Disconnected(None));
    let waited = started.elapsed();
    let end = node.next_event().await;
    assert!(
        matches!(&end, Event::Ended(reason) if reason.contains("did not complete")),
        "{end:?}"
    );
    assert!(
        waited >= HANDSHAKE_TIMEOUT / 2,
        "closed after {waited:?}, before the handshake timeout"
    );
    within("the node to close the pipe", async {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    node.stop().await;
}
