//! Nodes in one process over every kind of transport (TCP, TLS, in-memory duplex, Unix socket),
//! with large messages, simultaneous dials and a wrong cookie.
//!
//! ractor's pid registry and process groups are global to the process: every test uses its own
//! node names and group names, and tells a proxy apart from the real actor by its id
//! (`ActorId::Remote { node_id, .. }`). Every wait is bounded.

mod common;

use std::time::Duration;

use common::{
    connect_ready, failed, nodes_with_different_cookies, patterned, remote_members, spawn_in_group,
    start_node, start_node_with, tls_pair, wait_for_proxy, within, Event, Node, NodeOptions,
    TestMessage,
};
use ractor::ActorRef;
use ractor_cluster::{ClusterBidiStream, IncomingEncryptionMode, NodeServerMessage};

/// Casts, then calls, through `proxy`: the call comes after the casts on the same path, so its
/// answer shows that they all arrived, in order.
async fn casts_and_a_call_work(proxy: &ActorRef<TestMessage>) {
    for n in 0..100u64 {
        proxy.cast(TestMessage::Num(n)).unwrap();
    }
    let numbers = ractor::call_t!(proxy, TestMessage::Numbers, 5_000).unwrap();
    assert_eq!(numbers, (0..100).collect::<Vec<_>>());
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 21).unwrap(),
        42
    );
}

/// Waits until both nodes have authenticated each other and finished the initial sync.
async fn both_ready(a: &mut Node, b: &mut Node) {
    let (a_name, b_name) = (a.name.clone(), b.name.clone());
    a.wait_event(|e| *e == Event::Ready(b_name.clone())).await;
    b.wait_event(|e| *e == Event::Ready(a_name.clone())).await;
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_and_calls_work_over_tls() {
    let (acceptor, connector) = tls_pair();
    let mut a = start_node_with(
        "tls-a",
        NodeOptions {
            encryption: Some(IncomingEncryptionMode::Tls(acceptor)),
            ..NodeOptions::default()
        },
    )
    .await;
    let mut b = start_node("tls-b").await;
    let actor = spawn_in_group("tls-group").await;

    within(
        "a TLS connection",
        ractor_cluster::client_connect_enc(
            &b.server,
            ("127.0.0.1", a.port),
            connector,
            "localhost",
        ),
    )
    .await
    .unwrap();
    both_ready(&mut a, &mut b).await;

    let proxy = wait_for_proxy("tls-group", a.id, &actor.get_cell()).await;
    casts_and_a_call_work(&proxy).await;
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitive_connections_stay_tls() {
    // Every node accepts TLS only: a plain TCP dial to C would be refused.
    let (acceptor, connector) = tls_pair();
    let options = || NodeOptions {
        encryption: Some(IncomingEncryptionMode::Tls(acceptor.clone())),
        mode: ractor_cluster::NodeConnectionMode::Transitive,
        ..NodeOptions::default()
    };
    let a = start_node_with("tlstrans-a", options()).await;
    let b = start_node_with("tlstrans-b", options()).await;
    let c = start_node_with("tlstrans-c", options()).await;
    let dial = |from: ActorRef<NodeServerMessage>, to: u16| {
        let connector = connector.clone();
        async move {
            ractor_cluster::client_connect_enc(&from, ("127.0.0.1", to), connector, "localhost")
                .await
                .unwrap();
        }
    };
    dial(c.server.clone(), b.port).await;
    within("C and B to connect", async {
        while c.peer_names().await != vec![b.name.clone()] {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    dial(a.server.clone(), b.port).await;
    let mut expected = vec![b.name.clone(), c.name.clone()];
    expected.sort();
    within("A to reach C through what B knows", async {
        while a.peer_names().await != expected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_gets_no_session_with_a_tls_node() {
    let (acceptor, _) = tls_pair();
    let mut a = start_node_with(
        "tlsplain-a",
        NodeOptions {
            encryption: Some(IncomingEncryptionMode::Tls(acceptor)),
            handshake_timeout: Some(Duration::from_millis(500)),
            ..NodeOptions::default()
        },
    )
    .await;
    let mut b = start_node_with(
        "tlsplain-b",
        NodeOptions {
            handshake_timeout: Some(Duration::from_millis(500)),
            ..NodeOptions::default()
        },
    )
    .await;
    b.connect_to(&a).await;
    assert_eq!(b.next_event().await, Event::Opened);
    assert_eq!(b.next_event().await, Event::Disconnected(None));
    assert!(a.sessions().await.is_empty());
    assert!(a.drain_events().is_empty(), "the TLS node opened a session");
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// External transports

/// Hands the two ends of a connection to `a` (as the client) and `b` (as the server).
async fn connect_external(
    a: &mut Node,
    b: &mut Node,
    client_end: Box<dyn ClusterBidiStream>,
    server_end: Box<dyn ClusterBidiStream>,
) {
    ractor_cluster::client_connect_external(&a.server, client_end)
        .await
        .unwrap();
    b.server
        .cast(NodeServerMessage::ConnectionOpenedExternal {
            stream: server_end,
            is_server: true,
        })
        .unwrap();
    both_ready(a, b).await;
    assert!(!a.session_with(b).await.is_server);
    assert!(b.session_with(a).await.is_server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_and_calls_work_over_an_in_memory_duplex() {
    let mut a = start_node("duplex-a").await;
    let mut b = start_node("duplex-b").await;
    let actor = spawn_in_group("duplex-group").await;
    // A small buffer, so the writers have to wait for the readers.
    let (near, far) = tokio::io::duplex(4096);
    connect_external(&mut a, &mut b, Box::new(near), Box::new(far)).await;

    // Both directions: the proxy on a for b's view of the actor, and the reverse.
    let proxy_on_b = wait_for_proxy("duplex-group", a.id, &actor.get_cell()).await;
    let proxy_on_a = wait_for_proxy("duplex-group", b.id, &actor.get_cell()).await;
    casts_and_a_call_work(&proxy_on_b).await;
    assert_eq!(
        ractor::call_t!(proxy_on_a, TestMessage::Double, 5_000, 4).unwrap(),
        8
    );

    // Ending the session from one side ends it on the other.
    b.stop().await;
    a.wait_event(|e| matches!(e, Event::Disconnected(_))).await;
    assert!(a.sessions().await.is_empty());
    actor.stop(None);
    a.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_and_calls_work_over_a_unix_socket_pair() {
    let mut a = start_node("unix-a").await;
    let mut b = start_node("unix-b").await;
    let actor = spawn_in_group("unix-group").await;
    let (near, far) = tokio::net::UnixStream::pair().unwrap();
    connect_external(&mut a, &mut b, Box::new(near), Box::new(far)).await;
    let proxy = wait_for_proxy("unix-group", a.id, &actor.get_cell()).await;
    casts_and_a_call_work(&proxy).await;
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Large messages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_four_mebibyte_message_goes_as_a_cast_and_comes_back_as_a_reply() {
    const LEN: usize = 4 * 1024 * 1024;
    let mut a = start_node("big-a").await;
    let mut b = start_node("big-b").await;
    connect_ready(&mut a, &mut b).await;
    let actor = spawn_in_group("big-group").await;
    let proxy = wait_for_proxy("big-group", a.id, &actor.get_cell()).await;

    let payload = patterned(LEN);
    let sum = common::checksum(&payload);
    proxy.cast(TestMessage::Blob(payload)).unwrap();
    // A small cast after the large one, on the same path, arrives after it.
    proxy.cast(TestMessage::Blob(vec![7])).unwrap();
    let blobs = ractor::call_t!(proxy, TestMessage::Blobs, 10_000).unwrap();
    assert_eq!(blobs, vec![(LEN as u64, sum), (1, common::checksum(&[7]))]);

    let reply = ractor::call_t!(proxy, TestMessage::MakeBlob, 10_000, LEN as u64).unwrap();
    assert_eq!(reply.len(), LEN);
    assert!(reply == patterned(LEN), "the reply differs");
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Simultaneous dial

/// Once each node has one session with the other: both report it ready, and calls cross it in
/// both directions through proxies that are in `group`. (The proxies of a losing session must not
/// have taken the winners out of the group when they stopped: they share their `ActorId`s.)
async fn traffic_flows_both_ways(a: &Node, b: &Node, group: &str, actor: &ActorRef<TestMessage>) {
    for (node, peer) in [(a, b), (b, a)] {
        let sessions = node.sessions().await;
        let session = sessions
            .values()
            .find(|s| s.peer_node_id() == Some(peer.id))
            .expect("a session with the peer")
            .actor
            .clone();
        within("the kept session to get ready", async {
            while !ractor::call_t!(
                session,
                ractor_cluster::NodeSessionMessage::GetReadyState,
                5_000
            )
            .unwrap()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
    let proxy_on_b = wait_for_proxy(group, a.id, &actor.get_cell()).await;
    let proxy_on_a = wait_for_proxy(group, b.id, &actor.get_cell()).await;
    assert_eq!(
        ractor::call_t!(proxy_on_b, TestMessage::Double, 5_000, 1).unwrap(),
        2
    );
    assert_eq!(
        ractor::call_t!(proxy_on_a, TestMessage::Double, 5_000, 2).unwrap(),
        4
    );
}

/// Waits until `node` has opened two sessions and ended all but one, and the one left has
/// authenticated.
async fn one_of_two_sessions_left(node: &mut Node) {
    let (mut opened, mut ended) = (0, 0);
    while opened < 2 || opened - ended != 1 {
        match node.next_event().await {
            Event::Opened => opened += 1,
            Event::Disconnected(_) => ended += 1,
            _ => {}
        }
    }
    // The one left may still be finishing its handshake.
    within("the kept session to authenticate", async {
        while node.sessions().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_the_same_single_session_on_both_sides() {
    for round in 0..8 {
        let mut a = start_node(&format!("simul{round}-a")).await;
        let mut b = start_node(&format!("simul{round}-b")).await;
        let group = format!("simul{round}-group");
        let actor = spawn_in_group(&group).await;

        let (dialed_a, dialed_b) = tokio::join!(
            ractor_cluster::client_connect(&a.server, ("127.0.0.1", b.port)),
            ractor_cluster::client_connect(&b.server, ("127.0.0.1", a.port)),
        );
        dialed_a.unwrap();
        dialed_b.unwrap();

        // Each node opened two sessions; every one that is not kept must end.
        for node in [&mut a, &mut b] {
            one_of_two_sessions_left(node).await;
        }
        let on_a = a.sessions().await;
        let on_b = b.sessions().await;
        assert_eq!(on_a.len(), 1, "round {round}: {on_a:?}");
        assert_eq!(on_b.len(), 1, "round {round}: {on_b:?}");
        let (a_side, b_side) = (&a.session_with(&b).await, &b.session_with(&a).await);

        // The same connection: one side dialed it (and sees the other's listening port), the
        // other accepted it (and sees the dialer's ephemeral port).
        assert_ne!(a_side.is_server, b_side.is_server, "round {round}");
        let (dialer, acceptor, acceptor_port, dialer_port) = if a_side.is_server {
            (b_side, a_side, a.port, b.port)
        } else {
            (a_side, b_side, b.port, a.port)
        };
        assert_eq!(
            dialer.peer_addr,
            format!("127.0.0.1:{acceptor_port}"),
            "round {round}"
        );
        assert_ne!(
            acceptor.peer_addr,
            format!("127.0.0.1:{dialer_port}"),
            "round {round}"
        );
        traffic_flows_both_ways(&a, &b, &group, &actor).await;
        actor.stop(None);
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dials_in_the_same_direction_leave_one_session() {
    // Each node may see a different connection authenticate first; both must keep the same one.
    for round in 0..10 {
        let mut a = start_node(&format!("twodial{round}-a")).await;
        let mut b = start_node(&format!("twodial{round}-b")).await;
        let group = format!("twodial{round}-group");
        let actor = spawn_in_group(&group).await;
        tokio::join!(a.connect_to(&b), a.connect_to(&b));
        for node in [&mut a, &mut b] {
            one_of_two_sessions_left(node).await;
        }
        assert_eq!(a.sessions().await.len(), 1, "round {round}");
        assert_eq!(b.sessions().await.len(), 1, "round {round}");
        traffic_flows_both_ways(&a, &b, &group, &actor).await;
        actor.stop(None);
        a.stop().await;
        b.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Wrong cookie, self-connection, a failed call

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cookie_creates_no_proxies_on_either_side() {
    let actor = spawn_in_group("badcookie-group").await;
    for client_first in [true, false] {
        let tag = if client_first { "badc1" } else { "badc2" };
        let (a, b) = nodes_with_different_cookies(tag, client_first).await;
        let ids = [a.id, b.id];
        assert!(
            !remote_members("badcookie-group")
                .iter()
                .any(|m| ids.contains(&m.get_id().node())),
            "a proxy appeared without authentication"
        );
        a.stop().await;
        b.stop().await;
    }
    actor.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_does_not_connect_to_itself() {
    let mut a = start_node("selfish").await;
    let b = start_node("selfish-other").await;
    ractor_cluster::client_connect(&a.server, ("127.0.0.1", a.port))
        .await
        .unwrap();
    // Both ends of the connection are sessions of `a`; both must end without authenticating.
    let mut ended = 0;
    while ended < 2 {
        match a.next_event().await {
            Event::Disconnected(peer) => {
                assert_eq!(peer, None);
                ended += 1;
            }
            Event::Opened => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(a.sessions().await.is_empty());
    // The node still serves others.
    let mut b = b;
    connect_ready(&mut b, &mut a).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_does_not_block_the_session() {
    // A call to an actor that holds its reply port, with a timeout, fails; the next call on the
    // same proxy is answered.
    let mut a = start_node("hold-a").await;
    let mut b = start_node("hold-b").await;
    connect_ready(&mut a, &mut b).await;
    let actor = spawn_in_group("hold-group").await;
    let proxy = wait_for_proxy("hold-group", a.id, &actor.get_cell()).await;
    let result = proxy
        .call(TestMessage::Hold, Some(Duration::from_millis(100)))
        .await;
    assert!(failed(&result), "{result:?}");
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 5).unwrap(),
        10
    );
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Transitive mode

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_learned_from_two_nodes_at_once_is_connected_once() {
    // B and D both know C; A connects to B and D at once and hears about C twice.
    let transitive = || NodeOptions {
        mode: ractor_cluster::NodeConnectionMode::Transitive,
        ..NodeOptions::default()
    };
    for round in 0..5 {
        let a = start_node_with(&format!("twice{round}-a"), transitive()).await;
        let b = start_node_with(&format!("twice{round}-b"), transitive()).await;
        let c = start_node_with(&format!("twice{round}-c"), transitive()).await;
        let d = start_node_with(&format!("twice{round}-d"), transitive()).await;
        c.connect_to(&b).await;
        c.connect_to(&d).await;
        within("C to connect to B and D", async {
            while c.peer_names().await.len() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        tokio::join!(a.connect_to(&b), a.connect_to(&d));
        let mut expected = vec![b.name.clone(), c.name.clone(), d.name.clone()];
        expected.sort();
        within("A to reach everyone", async {
            while a.peer_names().await != expected {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let mut on_c = vec![a.name.clone(), b.name.clone(), d.name.clone()];
        on_c.sort();
        assert_eq!(c.peer_names().await, on_c, "round {round}");
        for node in [a, b, c, d] {
            node.stop().await;
        }
    }
}

/// Waits until `node`'s authenticated peers are exactly `expected` (in any order).
async fn wait_for_peers(node: &Node, expected: &[&Node], what: &str) {
    let mut expected: Vec<String> = expected.iter().map(|n| n.name.clone()).collect();
    expected.sort();
    within(what, async {
        while node.peer_names().await != expected {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transitive_node_learns_the_peers_of_an_isolated_one() {
    // Isolated A and B, B dials A; transitive C dials only A, and reaches B through what A knows.
    let transitive = NodeOptions {
        mode: ractor_cluster::NodeConnectionMode::Transitive,
        ..NodeOptions::default()
    };
    let a = start_node("fromiso-a").await;
    let b = start_node("fromiso-b").await;
    let c = start_node_with("fromiso-c", transitive).await;
    b.connect_to(&a).await;
    wait_for_peers(&a, &[&b], "B to connect to A").await;

    c.connect_to(&a).await;
    wait_for_peers(&c, &[&a, &b], "C to reach B through A").await;
    wait_for_peers(&b, &[&a, &c], "B to accept C").await;
    for node in [a, b, c] {
        node.stop().await;
    }
}
