//! Failure detection and reconnection between nodes in one process, through a fault-injecting
//! link (`common::link`): a link that goes silent is declared down within the configured bound
//! and fails pending calls at once, a cut link is dialed again with proxies and groups restored,
//! a slow or flooded link is not mistaken for a dead one; plus connect-and-wait, disconnect, and
//! the limits on connections that do not authenticate. Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use common::link::{linked, linked_with_actor, Fault, Link};
use common::{
    failed, held_call, remote_members, start_node_with, tls_pair, wait_for_proxy, within, Event,
    Node, NodeOptions, TestMessage, FAST_LIVENESS,
};
use ractor_cluster::node::ReconnectPolicy;
use ractor_cluster::{ConnectError, IncomingEncryptionMode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn fast() -> NodeOptions {
    NodeOptions {
        liveness: Some(FAST_LIVENESS),
        handshake_timeout: Some(Duration::from_millis(1500)),
        ..NodeOptions::default()
    }
}

/// Waits for `node` to report the loss of its session with `peer`; returns when that happened.
async fn lost(node: &mut Node, peer: &str) -> Instant {
    let gone = Event::Disconnected(Some(peer.to_owned()));
    node.wait_event(|e| *e == gone).await;
    Instant::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_link_is_declared_down_in_time_and_fails_the_pending_call() {
    let (heartbeat, down_after) = FAST_LIVENESS;
    let mut a = start_node_with("bh-a", fast()).await;
    let mut b = start_node_with("bh-b", fast()).await;
    let (link, actor, proxy) = linked_with_actor(&mut a, &mut b, "bh-group").await;
    let held = held_call(&proxy).await;

    link.set(Fault::BlackHole);
    let silent_from = Instant::now();
    let detected = lost(&mut a, &b.name).await;
    let took = detected - silent_from;
    println!("black hole declared down after {took:?}");
    // The last frame may have crossed up to one heartbeat before the link went silent; at most
    // `down_after / 8` of checking delay follows, plus the session's teardown.
    assert!(
        took >= down_after - heartbeat,
        "declared down too early: {took:?}"
    );
    assert!(
        took < down_after + down_after / 8 + Duration::from_millis(500),
        "declared down too late: {took:?}"
    );
    let result = within("the held call to fail", held).await.unwrap();
    assert!(failed(&result), "{result:?}");
    let failed_after = silent_from.elapsed();
    assert!(
        failed_after < took + Duration::from_millis(500),
        "{failed_after:?}"
    );
    // The peer, silent on its side too, comes to the same conclusion.
    lost(&mut b, &a.name).await;
    common::eventually("the proxy to stop", || {
        proxy.get_status() == ractor::ActorStatus::Stopped
    })
    .await;
    assert!(a.sessions().await.is_empty());

    // The link heals: `a` had dialed `b`, so it dials it again and all comes back.
    link.set(Fault::Pass);
    let ready = Event::Ready(b.name.clone());
    a.wait_event(|e| *e == ready).await;
    let proxy = wait_for_proxy("bh-group", b.id, &actor.get_cell()).await;
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 4).unwrap(),
        8
    );
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_is_dialed_again_with_proxies_and_groups_restored() {
    let mut a = start_node_with("cut-a", fast()).await;
    let mut b = start_node_with("cut-b", fast()).await;
    let (link, on_b, old) = linked_with_actor(&mut a, &mut b, "cut-group").await;
    let held = held_call(&old).await;

    link.cut();
    let cut_at = Instant::now();
    lost(&mut a, &b.name).await;
    let result = within("the held call to fail", held).await.unwrap();
    assert!(failed(&result), "{result:?}");
    assert!(
        cut_at.elapsed() < Duration::from_secs(1),
        "{:?}",
        cut_at.elapsed()
    );

    let ready = Event::Ready(b.name.clone());
    a.wait_event(|e| *e == ready).await;
    println!("session back {:?} after the cut", cut_at.elapsed());
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);
    common::eventually("the old proxy to stop", || {
        old.get_status() == ractor::ActorStatus::Stopped
    })
    .await;
    let new = wait_for_proxy("cut-group", b.id, &on_b.get_cell()).await;
    assert_ne!(new.get_cell().get_status(), ractor::ActorStatus::Stopped);
    // Both nodes live in this process, so each has a proxy of `on_b`: one per node.
    let of_b = remote_members("cut-group")
        .into_iter()
        .filter(|m| m.get_id().node() == b.id)
        .count();
    assert_eq!(of_b, 1);
    assert!(old.cast(TestMessage::Num(1)).is_err());
    new.cast(TestMessage::Num(2)).unwrap();
    assert_eq!(
        ractor::call_t!(new, TestMessage::Numbers, 5_000).unwrap(),
        vec![2]
    );
    on_b.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_flood_and_a_slow_link_are_not_mistaken_for_a_dead_peer() {
    let mut a = start_node_with("flood-a", fast()).await;
    let mut b = start_node_with("flood-b", fast()).await;
    let (link, on_b, proxy) = linked_with_actor(&mut a, &mut b, "flood-group").await;
    let (_, down_after) = FAST_LIVENESS;

    // Four times `down_after` of casts as fast as the sender can go, in bursts of 20,000 (each
    // followed by a call, so at most one burst is in flight and memory stays bounded).
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < 4 * down_after {
        for _ in 0..20_000 {
            proxy.cast(TestMessage::Num(sent)).unwrap();
            sent += 1;
        }
        let n = sent;
        assert_eq!(
            ractor::call_t!(proxy, TestMessage::Double, 10_000, n).unwrap(),
            2 * n
        );
    }
    println!("{sent} casts in {:?}", started.elapsed());

    // A link slower than the heartbeat interval, but faster than `down_after`.
    link.set(Fault::Delay(down_after / 3));
    let slow_from = Instant::now();
    while slow_from.elapsed() < 2 * down_after {
        assert_eq!(
            ractor::call_t!(proxy, TestMessage::Double, 5_000, 1).unwrap(),
            2
        );
    }
    let interrupted = |e: &Event| matches!(e, Event::Disconnected(_));
    let events = a.drain_events();
    assert!(!events.iter().any(interrupted), "{events:?}");
    let events = b.drain_events();
    assert!(!events.iter().any(interrupted), "{events:?}");
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);
    on_b.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_wait_returns_the_session_or_says_why_not() {
    use std::error::Error as _;

    let a = start_node_with("wait-a", fast()).await;
    let b = start_node_with("wait-b", fast()).await;

    // Nothing listens on a port just released.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let wait = Duration::from_secs(5);
    let err = ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", closed), wait)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Io(_)), "{err:?}");
    assert!(err.source().is_some());

    // A link that swallows everything: the connection opens, the handshake never completes.
    let link = Link::start(b.port).await;
    link.set(Fault::BlackHole);
    let short = Duration::from_millis(300);
    let err = ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", link.port), short)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::Timeout(t) if t == short),
        "{err:?}"
    );
    drop(link);

    // A node with another cookie: refused, and not dialed again.
    let mut other = start_node_with(
        "wait-other",
        NodeOptions {
            cookie: "another cookie".into(),
            ..fast()
        },
    )
    .await;
    let err = ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", other.port), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::AuthenticationFailed(_)),
        "{err}"
    );
    assert_eq!(other.next_event().await, Event::Opened);
    assert_eq!(other.next_event().await, Event::Disconnected(None));

    // Success, and a second call for the same peer answers with the one session kept.
    let first = ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", b.port), wait)
        .await
        .unwrap();
    assert_eq!(first.peer_name.as_ref().unwrap().name, b.name);
    let again = ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", b.port), wait)
        .await
        .unwrap();
    assert_eq!(again.peer_name.as_ref().unwrap().name, b.name);
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);

    // Removing the peer ends the session on both sides, and it is not dialed again.
    assert!(ractor_cluster::node::disconnect(&a.server, &b.name)
        .await
        .unwrap());
    within("both sides to drop the session", async {
        while !(a.sessions().await.is_empty() && b.sessions().await.is_empty()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Longer than the first backoffs of a redial (50-100 ms, then 100-200 ms) would take.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a.sessions().await.is_empty());
    assert!(
        other.drain_events().is_empty(),
        "the refused peer was dialed again"
    );
    assert!(!ractor_cluster::node::disconnect(&a.server, &b.name)
        .await
        .unwrap());
    a.stop().await;
    b.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnection_can_be_turned_off() {
    let mut a = start_node_with(
        "noredial-a",
        NodeOptions {
            reconnect: Some(ReconnectPolicy::disabled()),
            ..fast()
        },
    )
    .await;
    let mut b = start_node_with("noredial-b", fast()).await;
    let link = linked(&mut a, &mut b).await;
    link.cut();
    lost(&mut a, &b.name).await;
    lost(&mut b, &a.name).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a.drain_events().is_empty());
    assert!(a.sessions().await.is_empty());
    a.stop().await;
    b.stop().await;
}

/// Waits until `node` closes `socket` (reads end of stream or an error).
async fn closed_by_the_node(mut socket: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_and_a_stalled_tls_client_do_not_block_others() {
    let handshake_timeout = Duration::from_secs(2);
    let (acceptor, connector) = tls_pair();
    let options = |tls: bool| NodeOptions {
        handshake_timeout: Some(handshake_timeout),
        encryption: tls.then(|| IncomingEncryptionMode::Tls(acceptor.clone())),
        ..fast()
    };
    let tls_node = start_node_with("stall-tls", options(true)).await;
    let raw_node = start_node_with("stall-raw", options(false)).await;
    let client = start_node_with("stall-client", options(false)).await;

    // Connect and say nothing: to the TLS node, a TLS handshake that never starts; to the other,
    // a node handshake that never starts.
    let stalled_tls = TcpStream::connect(("127.0.0.1", tls_node.port))
        .await
        .unwrap();
    let silent = TcpStream::connect(("127.0.0.1", raw_node.port))
        .await
        .unwrap();
    let started = Instant::now();

    ractor_cluster::client_connect_enc_and_wait(
        &client.server,
        ("127.0.0.1", tls_node.port),
        connector,
        "localhost",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    ractor_cluster::client_connect_and_wait(
        &client.server,
        ("127.0.0.1", raw_node.port),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(
        took < handshake_timeout / 2,
        "the stalled clients delayed others: {took:?}"
    );

    // The stalled ones are closed when their time is up.
    within(
        "the stalled TLS client to be closed",
        closed_by_the_node(stalled_tls),
    )
    .await;
    within("the silent client to be closed", closed_by_the_node(silent)).await;
    assert!(started.elapsed() >= handshake_timeout / 2);
    tls_node.stop().await;
    raw_node.stop().await;
    client.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_unauthenticated_cap_are_closed_at_once() {
    let mut a = start_node_with(
        "cap-a",
        NodeOptions {
            max_unauthenticated: Some(2),
            handshake_timeout: Some(Duration::from_secs(5)),
            ..fast()
        },
    )
    .await;
    let b = start_node_with("cap-b", fast()).await;
    let first = TcpStream::connect(("127.0.0.1", a.port)).await.unwrap();
    let second = TcpStream::connect(("127.0.0.1", a.port)).await.unwrap();
    assert_eq!(a.next_event().await, Event::Opened);
    assert_eq!(a.next_event().await, Event::Opened);

    // The third is closed at once, well before the handshake timeout.
    let third = TcpStream::connect(("127.0.0.1", a.port)).await.unwrap();
    let started = Instant::now();
    within(
        "the third connection to be closed",
        closed_by_the_node(third),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // So is a real node while the cap is reached.
    let err = ractor_cluster::client_connect_and_wait(
        &b.server,
        ("127.0.0.1", a.port),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::SessionEnded(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // Once the silent ones leave, room is made.
    drop(first);
    drop(second);
    a.wait_event(|e| *e == Event::Disconnected(None)).await;
    a.wait_event(|e| *e == Event::Disconnected(None)).await;
    ractor_cluster::client_connect_and_wait(
        &b.server,
        ("127.0.0.1", a.port),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    a.stop().await;
    b.stop().await;
}

/// Whoever answers at a lost peer's address can refuse the handshake or send a bad proof: that
/// must not stop the redials. Here an impostor with another cookie answers at the address for a
/// while (each refusal is reported as an authentication failure), then the real peer is back
/// there, and the node gets its session back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_during_a_redial_does_not_stop_the_redials() {
    let patient = ReconnectPolicy::default()
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(200));
    let mut a = start_node_with(
        "refused-redial-a",
        NodeOptions {
            reconnect: Some(patient),
            ..fast()
        },
    )
    .await;
    let mut b = start_node_with("refused-redial-b", fast()).await;
    let mut impostor = start_node_with(
        "refused-redial-impostor",
        NodeOptions {
            cookie: "another cookie".into(),
            ..fast()
        },
    )
    .await;
    let link = linked(&mut a, &mut b).await;
    let (ends_tx, mut ends) = tokio::sync::mpsc::unbounded_channel();
    a.server
        .cast(ractor_cluster::NodeServerMessage::SubscribeToEvents {
            id: "ends".into(),
            subscription: Box::new(common::SessionEnds(ends_tx)),
        })
        .unwrap();

    // The address now leads to the impostor; the session through the link is cut.
    link.retarget(impostor.port);
    link.cut();
    lost(&mut a, &b.name).await;
    let mut refusals = 0;
    while refusals < 3 {
        let end = within("a redial to end", ends.recv()).await.unwrap();
        if end.is_authentication_failure() {
            refusals += 1;
        }
    }
    // The impostor saw the redials, and admitted none.
    impostor.wait_event(|e| *e == Event::Opened).await;
    assert!(impostor.sessions().await.is_empty());

    // The real peer answers there again: the redials find it.
    link.retarget(b.port);
    let back = Instant::now();
    let ready = Event::Ready(b.name.clone());
    a.wait_event(|e| *e == ready).await;
    println!(
        "session back {:?} after the address led to the peer again",
        back.elapsed()
    );
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);
    a.stop().await;
    b.stop().await;
    impostor.stop().await;
}
