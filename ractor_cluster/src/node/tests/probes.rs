//! Round-trip probes (PROTOCOL.md, "Round-trip probes") against a scripted peer: the node answers
//! probes with their number, ignores answers it did not ask for, and probes a 2.5 peer itself.
//! And the probe that checks a report of a peer's silence (rule H3): a peer that answers keeps
//! its session, one that says nothing loses it one heartbeat interval after the report.

use std::time::Duration;

use tokio::time::Instant;

use crate::protocol::message::{ControlMessage, SessionMessage};
use crate::testing::{node_builder, within, Event, ScriptedPeer, TestNode};

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

/// The heartbeat interval of the nodes that check reports: how long a reported peer has to answer
/// (long enough for the test's own peer to answer on a loaded machine).
const CHECK_WITHIN: Duration = Duration::from_secs(1);

/// How long after a report a test looks whether the session is still up: past the bound.
const PAST_THE_BOUND: Duration = Duration::from_millis(1500);

/// A node (no round-trip probes of its own, so every probe seen checks a report) with two
/// admitted, synced scripted peers: the one to be reported, and the reporter.
async fn node_with_suspect_and_reporter() -> (TestNode, ScriptedPeer, ScriptedPeer) {
    let mut node = TestNode::start(
        node_builder("checks")
            .with_heartbeat_interval(CHECK_WITHIN)
            // The scripted peers send no heartbeats: only a report may end their sessions.
            .with_down_after(Duration::from_secs(60))
            .with_rtt_probe_interval(Duration::ZERO),
    )
    .await;
    let mut suspect = ScriptedPeer::connect(&node, "suspect").await;
    let mut reporter = ScriptedPeer::connect(&node, "reporter").await;
    for peer in [&suspect, &reporter] {
        node.event_where(|e| *e == Event::Authenticated(peer.name.clone()))
            .await;
    }
    suspect.sync().await;
    reporter.sync().await;
    (node, suspect, reporter)
}

async fn sessions_of(node: &TestNode) -> usize {
    ractor::call_t!(node.actor, crate::NodeServerMessage::GetSessions, 10_000)
        .unwrap()
        .len()
}

fn is_probe(message: &SessionMessage) -> bool {
    matches!(message, SessionMessage::Control(ControlMessage::Probe(_)))
}

async fn report(reporter: &mut ScriptedPeer, suspect: &ScriptedPeer) {
    reporter
        .send_control(ControlMessage::PeerSilent {
            node: suspect.node_id(),
            incarnation: suspect.incarnation,
        })
        .await;
}

#[tokio::test]
async fn a_report_about_a_peer_that_answers_the_probe_leaves_its_session_up() {
    let (node, mut suspect, mut reporter) = node_with_suspect_and_reporter().await;
    let reported = Instant::now();
    report(&mut reporter, &suspect).await;
    let probe = suspect
        .next_where("a probe that checks the report", is_probe)
        .await;
    let SessionMessage::Control(ControlMessage::Probe(number)) = probe else {
        unreachable!("matched above")
    };
    suspect
        .send_control(ControlMessage::ProbeAnswer(number))
        .await;
    // Past the bound the report had: the session is still there.
    tokio::time::sleep_until(reported + PAST_THE_BOUND).await;
    suspect.sync().await;
    reporter.sync().await;
    assert_eq!(sessions_of(&node).await, 2);
    // A later report, answered by other traffic than the answer (any frame counts), too.
    let reported = Instant::now();
    report(&mut reporter, &suspect).await;
    suspect
        .next_where("a probe that checks the second report", is_probe)
        .await;
    suspect.send_control(ControlMessage::Heartbeat).await;
    tokio::time::sleep_until(reported + PAST_THE_BOUND).await;
    suspect.sync().await;
    assert_eq!(sessions_of(&node).await, 2);
    node.stop().await;
}

#[tokio::test]
async fn a_report_about_a_peer_that_says_nothing_ends_its_session_one_interval_later() {
    let (mut node, mut suspect, mut reporter) = node_with_suspect_and_reporter().await;
    let reported = Instant::now();
    report(&mut reporter, &suspect).await;
    let ended = node
        .event_where(|e| matches!(e, Event::Ended(reason) if reason.contains(&reporter.name)))
        .await;
    let took = reported.elapsed();
    assert!(took >= CHECK_WITHIN, "ended after {took:?}: {ended:?}");
    assert!(
        ended
            == Event::Ended(format!(
                "{} heard nothing from the peer for its down_after: declared down",
                reporter.name
            )),
        "{ended:?}"
    );
    // It was asked first; then its session closed, and only its.
    suspect.next_where("a probe", is_probe).await;
    within("the suspect's session to close", async {
        while suspect.next().await.is_some() {}
    })
    .await;
    reporter.sync().await;
    node.stop().await;
}
