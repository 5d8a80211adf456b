//! Large messages and floods: heartbeats are not starved by a 16 MiB message on a slow link, and
//! the outbound queue to a peer that cannot keep up stays within its bound.

mod common;

use std::time::{Duration, Instant};

use common::link::{linked_with_actor, Fault};
use common::{
    checksum, patterned, start_node_with, within, Event, Node, NodeOptions, TestMessage,
    FAST_LIVENESS,
};
use ractor_cluster::backpressure::{outbound_backlog, wait_for_outbound_room};

fn options(max_outbound: Option<usize>) -> NodeOptions {
    NodeOptions {
        liveness: Some(FAST_LIVENESS),
        max_outbound,
        ..NodeOptions::default()
    }
}

fn assert_still_connected(node: &mut Node) {
    let events = node.drain_events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Disconnected(_))),
        "{}: {events:?}",
        node.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_message_on_a_slow_link_does_not_get_its_sender_declared_down() {
    let mut a = start_node_with("big-a", options(None)).await;
    let mut b = start_node_with("big-b", options(None)).await;
    let (link, on_b, proxy) = linked_with_actor(&mut a, &mut b, "big-group").await;
    let (_, down_after) = FAST_LIVENESS;

    // At most 64 KiB per 10 ms: the message takes several times `down_after` to cross, so
    // without fragments no whole frame would arrive for that long.
    link.set(Fault::Delay(Duration::from_millis(10)));
    let blob = patterned(16 * 1024 * 1024 - 1024);
    let expected = (blob.len() as u64, checksum(&blob));
    let started = Instant::now();
    proxy.cast(TestMessage::Blob(blob)).unwrap();
    // Small messages behind it go on meanwhile; the call's own timeout bounds the wait.
    for n in 0..100 {
        proxy.cast(TestMessage::Num(n)).unwrap();
    }
    let blobs = ractor::call_t!(proxy, TestMessage::Blobs, 60_000).unwrap();
    let took = started.elapsed();
    assert_eq!(blobs, vec![expected]);
    assert!(
        took > 2 * down_after,
        "the link was too fast to show anything: {took:?}"
    );
    assert_still_connected(&mut a);
    assert_still_connected(&mut b);
    println!("16 MiB crossed in {took:?} with down_after = {down_after:?}");
    on_b.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbound_queue_to_a_slow_peer_stays_within_its_bound() {
    const LIMIT: usize = 256 * 1024;
    // Default liveness: the stall below must not get the peer declared down.
    let outbound = NodeOptions {
        max_outbound: Some(LIMIT),
        ..NodeOptions::default()
    };
    let mut a = start_node_with("slow-a", outbound).await;
    let mut b = start_node_with("slow-b", NodeOptions::default()).await;
    let (link, on_b, proxy) = linked_with_actor(&mut a, &mut b, "slow-group").await;

    // The peer stops reading. A sender that does not pace itself casts 8 MiB at once, far over
    // the bound: the socket buffers fill, then the queue, then the proxy stops taking casts from
    // its mailbox.
    link.set(Fault::Stall);
    let payload = vec![1u8; 1024];
    let count = 8 * 1024;
    for _ in 0..count {
        proxy.cast(TestMessage::Blob(payload.clone())).unwrap();
    }
    let backlog = || outbound_backlog(&proxy.get_cell()).unwrap_or(0);
    common::eventually("the queue to fill up to its bound", || backlog() >= LIMIT).await;
    // It stays there, however long the peer stalls.
    for _ in 0..50 {
        let now = backlog();
        // One frame may be queued past the bound: the one being added when it was reached.
        assert!(now <= LIMIT + 2048, "backlog {now} over {LIMIT}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let paused = within(
        "a paced sender to wait",
        tokio::time::timeout(
            Duration::from_millis(100),
            wait_for_outbound_room(&proxy.get_cell()),
        ),
    )
    .await;
    assert!(paused.is_err(), "no room while the peer reads nothing");

    // The peer reads again: everything arrives, and a paced sender never overfills the queue.
    link.set(Fault::Pass);
    let paced = 1024;
    for _ in 0..paced {
        wait_for_outbound_room(&proxy.get_cell()).await;
        assert!(backlog() <= LIMIT + 2048, "{}", backlog());
        proxy.cast(TestMessage::Num(1)).unwrap();
    }
    let blobs = ractor::call_t!(proxy, TestMessage::Blobs, 30_000).unwrap();
    assert_eq!(blobs.len(), count);
    let numbers = ractor::call_t!(proxy, TestMessage::Numbers, 30_000).unwrap();
    assert_eq!(numbers.len(), paced);
    assert_still_connected(&mut a);
    on_b.stop(None);
    a.stop().await;
    b.stop().await;
}
