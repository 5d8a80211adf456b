//! Which peers a node watches, on real sessions: the nearest on the ring of node ids, decided
//! again as peers come and go (see `server::watch`).

use crate::protocol::identity::node_id_of;
use crate::protocol::message::{ControlMessage, SessionMessage};
use crate::testing::{node_builder, Event, ScriptedPeer, TestNode};

/// What the node last told a peer of whether it watches it, among `messages`, if anything.
fn last_watching(messages: &[SessionMessage]) -> Option<bool> {
    messages.iter().rev().find_map(|m| match m {
        SessionMessage::Control(ControlMessage::Watching(watching)) => Some(*watching),
        _ => None,
    })
}

#[tokio::test]
async fn when_a_watched_neighbour_leaves_the_next_peer_on_its_side_is_watched() {
    // One peer on each side of the node.
    let mut node = TestNode::start(node_builder("ring").with_watched_peers(2)).await;
    let mut peers = Vec::new();
    let mut told = Vec::new();
    for _ in 0..4 {
        let mut peer = ScriptedPeer::connect(&node, "ring-peer").await;
        peer.send_control(ControlMessage::InitialSyncDone).await;
        node.event_where(|e| *e == Event::Ready(peer.name.clone()))
            .await;
        peers.push(peer);
        told.push(Vec::new());
    }
    // Everything each peer was told until all four were in (a session starts watching; the node
    // says so when that changes).
    for (peer, told) in peers.iter_mut().zip(&mut told) {
        told.extend(peer.sync().await);
    }
    let key = |name: &str| (node_id_of(name), name.to_owned());
    let mut ring: Vec<(u64, String)> = peers.iter().map(|p| key(&p.name)).collect();
    ring.push(key(&node.name));
    ring.sort();
    let own = ring.iter().position(|k| *k == key(&node.name)).unwrap();
    let at = |offset: usize| {
        let wanted = &ring[(own + offset) % ring.len()];
        peers.iter().position(|p| key(&p.name) == *wanted).unwrap()
    };
    let (next, after_next, before) = (at(1), at(2), at(ring.len() - 1));
    for (index, (peer, told)) in peers.iter_mut().zip(&told).enumerate() {
        let watched = index == next || index == before;
        if last_watching(told).unwrap_or(true) != watched {
            // The node's word may still be on its way: the server tells the session, which
            // tells the peer, apart from the sync's answer.
            peer.next_where(
                &format!("the node to say it watches peer {index}: {watched}"),
                |m| *m == SessionMessage::Control(ControlMessage::Watching(watched)),
            )
            .await;
        }
    }

    // The next peer on one side leaves: the one after it is now the nearest on that side.
    let gone = peers.remove(next);
    let after_next = if after_next > next {
        after_next - 1
    } else {
        after_next
    };
    drop(gone);
    peers[after_next]
        .next_where("the node to watch the next peer", |m| {
            *m == SessionMessage::Control(ControlMessage::Watching(true))
        })
        .await;
    node.stop().await;
}
