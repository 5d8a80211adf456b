//! Crossed dials: a peer that closes a session because it keeps another one with this node is
//! alive and connected, and its member does not go down while the other session is admitted.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::ANOTHER_SESSION_KEPT;
use crate::membership::{self, MemberEvent, MemberStatus, MemberSubscription};
use crate::protocol::message::{ControlMessage, FrameProtection};
use crate::testing::{node_builder, within, Event, ScriptedPeer, TestNode};

/// Forwards member events to the test.
struct Forward(mpsc::UnboundedSender<MemberEvent>);

impl MemberSubscription for Forward {
    fn member_changed(&self, event: MemberEvent) {
        let _ = self.0.send(event);
    }
}

/// Connects as `name` (run `incarnation`) and finishes the initial exchange.
async fn ready_as(node: &mut TestNode, name: &str, incarnation: u64) -> ScriptedPeer {
    let mut peer = ScriptedPeer::connect_named(
        node,
        name.to_owned(),
        incarnation,
        FrameProtection::Sealed,
        false,
    )
    .await;
    peer.send_control(ControlMessage::InitialSyncDone).await;
    node.event_where(|e| *e == Event::Ready(peer.name.clone()))
        .await;
    peer
}

/// The refusal a node sends for a session it does not keep because it keeps another.
fn kept_another(node: &TestNode) -> ControlMessage {
    ControlMessage::Disconnect {
        reason: format!(
            "already connected to {} through another session {ANOTHER_SESSION_KEPT}",
            node.name
        ),
    }
}

#[tokio::test]
async fn a_session_closed_for_another_one_does_not_show_its_peer_down() {
    let grace = Duration::from_millis(1500);
    let mut node = TestNode::start(node_builder("crossed").with_handshake_timeout(grace)).await;
    let (tx, mut events) = mpsc::unbounded_channel();
    membership::subscribe(&node.actor, "test", Box::new(Forward(tx)))
        .await
        .unwrap();
    let mut first = ScriptedPeer::connect(&node, "both-dialed").await;
    let (name, incarnation) = (first.name.clone(), first.incarnation);
    first.send_control(ControlMessage::InitialSyncDone).await;
    node.event_where(|e| *e == Event::Ready(name.clone())).await;
    let mine = |e: &MemberEvent| e.member.name == name;
    within("the peer to be up", async {
        while !events.recv().await.is_some_and(|e| mine(&e)) {}
    })
    .await;

    // The peer keeps the session it dialed at the same time, and closes this one...
    first.send_control(kept_another(&node)).await;
    drop(first);
    node.event_where(
        |e| matches!(e, Event::Disconnected(n) if n.as_deref() == Some(name.as_str())),
    )
    .await;
    // ...which the node admits a moment later.
    let mut second = ready_as(&mut node, &name, incarnation).await;
    tokio::time::sleep(grace + Duration::from_millis(300)).await;
    let mut changes = Vec::new();
    while let Ok(event) = events.try_recv() {
        if mine(&event) {
            changes.push(event.member.status);
        }
    }
    assert!(changes.is_empty(), "the member changed: {changes:?}");

    // Closed for another session that never comes: down once the grace has run out.
    second.send_control(kept_another(&node)).await;
    drop(second);
    let started = tokio::time::Instant::now();
    let down = within("the member to go down", async {
        loop {
            let event = events.recv().await.expect("the subscription stays");
            if mine(&event) {
                return event;
            }
        }
    })
    .await;
    assert_eq!(down.member.status, MemberStatus::Down);
    assert!(started.elapsed() >= grace / 2, "{:?}", started.elapsed());
    node.stop().await;
}
