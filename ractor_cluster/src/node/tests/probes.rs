//! Round-trip probes (PROTOCOL.md, "Round-trip probes") against a scripted peer: the node answers
//! probes with their number, ignores answers it did not ask for, and probes a 2.5 peer itself.

use std::time::Duration;

use crate::protocol::message::{ControlMessage, SessionMessage};
use crate::testing::{node_builder, within, ScriptedPeer, TestNode};

fn is_answer(number: u64) -> impl Fn(&SessionMessage) -> bool {
    move |m| *m == SessionMessage::Control(ControlMessage::ProbeAnswer(number))
}

#[tokio::test]
async fn a_probe_is_answered_with_its_number_and_a_stray_answer_is_ignored() {
    // No probes of the node's own, so every answer seen is to the peer's probes.
    let node =
        TestNode::start(node_builder("answers").with_rtt_probe_interval(Duration::ZERO)).await;
    let mut peer = ScriptedPeer::connect(&node, "prober").await;
    peer.send_control(ControlMessage::Probe(42)).await;
    peer.next_where("the answer to probe 42", is_answer(42))
        .await;
    // An answer to a probe the node never sent: ignored, the session goes on.
    peer.send_control(ControlMessage::ProbeAnswer(7)).await;
    peer.send_control(ControlMessage::Probe(43)).await;
    peer.next_where("the answer to probe 43", is_answer(43))
        .await;
    let stats = within("peer_stats", crate::node::peer_stats(&node.actor))
        .await
        .unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].rtt, None, "a stray answer is no sample");
    node.stop().await;
}

#[tokio::test]
async fn the_node_probes_its_peer_and_times_the_answer() {
    let node = TestNode::start(
        node_builder("probing")
            .with_heartbeat_interval(Duration::from_millis(20))
            .with_rtt_probe_interval(Duration::from_millis(20)),
    )
    .await;
    let mut peer = ScriptedPeer::connect(&node, "probed").await;
    let probe = peer
        .next_where("a probe from the node", |m| {
            matches!(m, SessionMessage::Control(ControlMessage::Probe(_)))
        })
        .await;
    let SessionMessage::Control(ControlMessage::Probe(number)) = probe else {
        unreachable!("matched above")
    };
    peer.send_control(ControlMessage::ProbeAnswer(number)).await;
    let rtt = within("the round trip to be recorded", async {
        loop {
            let stats = crate::node::peer_stats(&node.actor).await.unwrap();
            if let Some(rtt) = stats.first().and_then(|s| s.rtt) {
                return rtt;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(rtt.samples, 1);
    assert!(rtt.last < Duration::from_secs(5), "{rtt:?}");
    node.stop().await;
}
