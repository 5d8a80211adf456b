//! Large messages and floods: heartbeats are not starved by a 16 MiB message on a slow link, the
//! outbound queue to a peer that cannot keep up stays within its bound, and a peer cannot make a
//! node hold more for it than a bound, whether or not it reads what it asked for.

mod common;

use std::time::{Duration, Instant};

use common::link::{linked_with_actor, Fault};
use common::{
    checksum, patterned, spawn_in_group, start_node_with, wait_for_proxy, within, Event, Node,
    NodeOptions, TestMessage, FAST_LIVENESS,
};
use ractor::rpc::CallResult;
use ractor_cluster::backpressure::{
    outbound_backlog, paced_cast, wait_for_outbound_room, PACED_MAILBOX_BYTES,
};

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

/// Liveness for the node that must not end the session itself: heartbeats as usual, but down only
/// after a minute, far beyond every wait of these tests.
fn patient() -> NodeOptions {
    NodeOptions {
        liveness: Some((Duration::from_millis(100), Duration::from_secs(60))),
        ..NodeOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_the_replies_it_asked_for_is_cut_off() {
    const LIMIT: usize = 1024 * 1024;
    const DOWN_AFTER: Duration = Duration::from_secs(2);
    let mut a = start_node_with("greedy-a", patient()).await;
    // Down after 2 s: longer than b's reader takes to make all the replies below (it encodes
    // them), so that only not reading can make b declare a down.
    let mut b = start_node_with(
        "greedy-b",
        NodeOptions {
            liveness: Some((Duration::from_millis(100), DOWN_AFTER)),
            max_outbound: Some(LIMIT),
            ..NodeOptions::default()
        },
    )
    .await;
    let (link, on_b, proxy) = linked_with_actor(&mut a, &mut b, "greedy-group").await;

    // `a` keeps sending (heartbeats, small calls) but reads nothing `b` sends. Its calls ask for
    // 32 MiB of replies in all: far over b's bound and what the sockets between them hold.
    link.set_back(Fault::Stall);
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let proxy = proxy.clone();
            tokio::spawn(async move {
                proxy
                    .call(
                        |reply| TestMessage::MakeBlob(1 << 20, reply),
                        Some(Duration::from_secs(30)),
                    )
                    .await
            })
        })
        .collect();

    // `b` stops reading once its replies fill the bound, then hears nothing for down_after and
    // ends the session. Without that, a's heartbeats would keep it up for a's whole minute while
    // the replies piled up.
    let ended = Event::Disconnected(Some(a.name.clone()));
    tokio::time::timeout(DOWN_AFTER * 4, b.wait_event(|e| *e == ended))
        .await
        .expect("b to end the session with the peer that reads nothing");
    for call in calls {
        let result = within("a call to end", call).await.unwrap();
        assert!(
            !matches!(result, Ok(CallResult::Success(_))),
            "no reply can have arrived"
        );
    }
    on_b.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_no_more_calls_from_a_peer_than_it_has_answered_plus_a_bound() {
    /// b's bound, below the default so that the test shows the setting at work.
    const MAX_UNANSWERED_CALLS: usize = 100;
    let mut a = start_node_with("asker-a", patient()).await;
    let mut b = start_node_with(
        "asker-b",
        NodeOptions {
            max_unanswered_calls: Some(MAX_UNANSWERED_CALLS),
            ..options(None)
        },
    )
    .await;
    let (_link, holder, hold_proxy) = linked_with_actor(&mut a, &mut b, "asker-holds").await;
    let other = spawn_in_group("asker-other").await;
    let other_proxy = wait_for_proxy("asker-other", b.id, &other.get_cell()).await;

    // As many calls as the bound, which b's actor holds unanswered, then a cast behind them
    // (through the same proxy, so in that order). The calls are made as `ActorRef::call` makes
    // them, without waiting for each.
    let mut held = Vec::new();
    for _ in 0..MAX_UNANSWERED_CALLS {
        let (port, answer) = ractor::concurrency::oneshot::<u64>();
        hold_proxy.cast(TestMessage::Hold(port.into())).unwrap();
        held.push(answer);
    }
    hold_proxy.cast(TestMessage::Num(7)).unwrap();

    // b reads nothing past the bound while its actor holds the calls, and does not hold its own
    // deafness against a: the session outlives down_after (600 ms) twice over.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let numbers = ractor::call_t!(holder, TestMessage::Numbers, 5_000).unwrap();
    assert!(numbers.is_empty(), "read past the bound: {numbers:?}");
    assert_still_connected(&mut b);

    // Once the held calls are answered (with an error: their ports are dropped), b reads on.
    holder.stop(None);
    for answer in held {
        let answer = within("a held call to end", answer).await;
        assert!(answer.is_err(), "{answer:?}");
    }
    let doubled = within("a call once the calls are answered", async {
        ractor::call_t!(other_proxy, TestMessage::Double, 5_000, 21)
    })
    .await
    .unwrap();
    assert_eq!(doubled, 42);
    assert_still_connected(&mut b);
    other.stop(None);
    a.stop().await;
    b.stop().await;
}

// One thread, so that the sender and the proxy take turns: with only the queue to wait on, the
// sender would cast the whole flood into the proxy's mailbox before the proxy first ran.
#[tokio::test(flavor = "current_thread")]
async fn paced_casts_wait_for_the_proxy_and_its_queue() {
    const LIMIT: usize = 256 * 1024;
    const COUNT: usize = 64 * 1024;
    let outbound = NodeOptions {
        max_outbound: Some(LIMIT),
        ..NodeOptions::default()
    };
    let mut a = start_node_with("paced-a", outbound).await;
    let mut b = start_node_with("paced-b", NodeOptions::default()).await;
    let (link, on_b, proxy) = linked_with_actor(&mut a, &mut b, "paced-group").await;

    // The peer reads nothing: 64 MiB of paced casts stop at the sockets' buffers, the queue's
    // bound and the proxy mailbox's allowance.
    link.set(Fault::Stall);
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = tokio::spawn({
        let (proxy, accepted) = (proxy.clone(), accepted.clone());
        async move {
            for _ in 0..COUNT {
                paced_cast(&proxy, TestMessage::Blob(vec![1u8; 1024]))
                    .await
                    .unwrap();
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let count = || accepted.load(std::sync::atomic::Ordering::Relaxed);
    // Until the count stops moving for 200 ms (at most the usual wait).
    within("the paced sender to stop", async {
        let mut last = usize::MAX;
        while count() != last {
            last = count();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let stopped_at = count();
    assert!(
        !sender.is_finished(),
        "all {COUNT} casts went into the mailbox"
    );
    // Whatever the loopback's socket buffers hold, plus the queue and the allowance.
    let bounded = LIMIT + PACED_MAILBOX_BYTES as usize;
    assert!(
        stopped_at < COUNT / 2 && stopped_at >= bounded / 1024,
        "stopped after {stopped_at} casts"
    );

    // The peer reads again: every cast arrives, in full.
    link.set(Fault::Pass);
    within("the paced sender to finish", sender).await.unwrap();
    let blobs = ractor::call_t!(proxy, TestMessage::Blobs, 30_000).unwrap();
    assert_eq!(blobs.len(), COUNT);
    assert_still_connected(&mut a);
    on_b.stop(None);
    a.stop().await;
    b.stop().await;
}
