//! Sessions are sealed by default (PROTOCOL.md, "Records"): two real nodes talk through a TCP relay
//! that replays or injects bytes, and the receiving node delivers nothing twice, nothing
//! injected, and ends the session. Plaintext is an opt-out both nodes must take.
//!
//! ```text
//! node A ──dial──► Link (replays / injects) ──► node B
//! ```

mod common;

use ractor::ActorRef;

use common::link::{linked_with_actor, Fault};
use common::{start_node, start_node_with, Event, Node, NodeOptions, TestMessage};

const MARKER: &str = "a marker anyone on the path could look for";

/// Casts `range` through `proxy`; stops quietly once the proxy is gone (the session ended).
fn cast_numbers(proxy: &ActorRef<TestMessage>, range: std::ops::Range<u64>) {
    for n in range {
        if proxy.cast(TestMessage::Num(n)).is_err() {
            break;
        }
    }
}

/// What the actor received: each number once, in order, and only numbers that were cast.
async fn assert_delivered_once_in_order(actor: &ActorRef<TestMessage>, sent: u64) -> Vec<u64> {
    let numbers = ractor::call_t!(actor, TestMessage::Numbers, 5_000).unwrap();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "a number arrived twice or out of order: {numbers:?}"
    );
    assert!(numbers.iter().all(|n| *n < sent), "{numbers:?}");
    numbers
}

/// Waits until both nodes report the session between them gone.
async fn wait_disconnected(a: &mut Node, b: &mut Node) {
    let gone = |e: &Event| matches!(e, Event::Disconnected(_));
    b.wait_event(gone).await;
    a.wait_event(gone).await;
}

/// Two nodes linked through a relay, a test actor and its proxy (casts go A → relay → B), and
/// 100 casts delivered before the relay misbehaves.
async fn relayed(
    tag: &str,
) -> (
    Node,
    Node,
    common::link::Link,
    ActorRef<TestMessage>,
    ActorRef<TestMessage>,
) {
    let mut a = start_node(&format!("{tag}-a")).await;
    let mut b = start_node(&format!("{tag}-b")).await;
    let (link, actor, proxy) = linked_with_actor(&mut a, &mut b, &format!("{tag}-group")).await;
    cast_numbers(&proxy, 0..100);
    // A call on the same path comes after every cast.
    let echoed = ractor::call_t!(proxy, TestMessage::Echo, 5_000, MARKER.to_owned()).unwrap();
    assert_eq!(echoed, MARKER);
    assert_eq!(
        assert_delivered_once_in_order(&actor, 100).await,
        (0..100).collect::<Vec<_>>()
    );
    (a, b, link, actor, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_replays_bytes_ends_the_session_and_nothing_arrives_twice() {
    let (mut a, mut b, link, actor, proxy) = relayed("replay").await;
    link.set(Fault::Replay);
    // Casts one at a time, so the relay sees many chunks, each followed by the one before it.
    for n in 100..400 {
        cast_numbers(&proxy, n..n + 1);
        tokio::task::yield_now().await;
    }
    wait_disconnected(&mut a, &mut b).await;
    let numbers = assert_delivered_once_in_order(&actor, 400).await;
    assert_eq!(numbers[..100], (0..100).collect::<Vec<_>>());
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_injects_bytes_ends_the_session_and_nothing_injected_arrives() {
    let (mut a, mut b, link, actor, proxy) = relayed("inject").await;
    link.set(Fault::Inject);
    for n in 100..400 {
        cast_numbers(&proxy, n..n + 1);
        tokio::task::yield_now().await;
    }
    wait_disconnected(&mut a, &mut b).await;
    assert_delivered_once_in_order(&actor, 400).await;
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sessions_are_secret_and_plaintext_needs_both_nodes_to_opt_out() {
    for (a_plain, b_plain, visible) in [
        (false, false, false),
        (true, false, false),
        (true, true, true),
    ] {
        let tag = format!("secret-{a_plain}-{b_plain}");
        let options = |plaintext_frames| NodeOptions {
            plaintext_frames,
            ..NodeOptions::default()
        };
        let mut a = start_node_with(&format!("{tag}-a"), options(a_plain)).await;
        let mut b = start_node_with(&format!("{tag}-b"), options(b_plain)).await;
        let (link, actor, proxy) = linked_with_actor(&mut a, &mut b, &format!("{tag}-group")).await;
        let echoed = ractor::call_t!(proxy, TestMessage::Echo, 5_000, MARKER.to_owned()).unwrap();
        assert_eq!(echoed, MARKER);
        let carried = link.carried();
        let seen = carried
            .windows(MARKER.len())
            .any(|w| w == MARKER.as_bytes());
        assert_eq!(
            seen, visible,
            "a plaintext: {a_plain}, b plaintext: {b_plain}"
        );
        // The handshake is in the clear either way: the relay did carry the node's name.
        assert!(carried
            .windows(a.name.len())
            .any(|w| w == a.name.as_bytes()));
        actor.stop(None);
        a.stop().await;
        b.stop().await;
    }
}
