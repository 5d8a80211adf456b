//! What an idle link costs: heartbeats go only on links that carried nothing else for a heartbeat
//! interval. The count of heartbeats is per process, so this binary holds this one test alone.
//! Every wait is bounded.

mod common;

use std::time::Duration;

use ractor_cluster::node::heartbeats_sent;

use common::{
    connect_ready, spawn_in_group, start_node_with, wait_for_proxy, NodeOptions, TestMessage,
};

const HEARTBEAT: Duration = Duration::from_millis(100);
const WINDOW: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_links_carry_no_heartbeats() {
    let options = || NodeOptions {
        liveness: Some((HEARTBEAT, Duration::from_secs(2))),
        ..Default::default()
    };
    let mut a = start_node_with("beat-a", options()).await;
    let mut b = start_node_with("beat-b", options()).await;
    connect_ready(&mut a, &mut b).await;
    // One actor, seen by each node as the other's: casting to each proxy crosses the link one way.
    let actor = spawn_in_group("beat.group").await;
    let to_b = wait_for_proxy("beat.group", b.id, &actor.get_cell()).await;
    let to_a = wait_for_proxy("beat.group", a.id, &actor.get_cell()).await;

    // Idle: each side heartbeats every interval, about 2 × 10 in the window.
    let before = heartbeats_sent();
    tokio::time::sleep(WINDOW).await;
    let idle = heartbeats_sent() - before;

    // Busy both ways: a cast every 10 ms in each direction; no heartbeat is needed.
    let before = heartbeats_sent();
    let started = tokio::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < WINDOW {
        to_b.cast(TestMessage::Num(n)).unwrap();
        to_a.cast(TestMessage::Num(n)).unwrap();
        n += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = heartbeats_sent() - before;

    assert!(idle >= 10, "idle links sent only {idle} heartbeats");
    assert!(
        busy * 4 <= idle,
        "busy links sent {busy} heartbeats (idle: {idle})"
    );
}
