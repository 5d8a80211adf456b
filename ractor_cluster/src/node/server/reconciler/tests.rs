//! Unit tests of the reconciler: which node of a pair dials first, how a peer is known by its
//! address, how a dial to the node itself is recognised, a refused dial tried again (by the node
//! that dials first only), the grace a node gives the peer that is to dial first, and a dial
//! passed over for a node that is dialing.

use std::time::Duration;

use tokio::time::Instant;

use super::{dials_first, reaches_itself, seen_address};

#[test]
fn of_two_nodes_that_find_each_other_exactly_one_dials_first() {
    let addresses: Vec<String> = (0..64)
        .map(|i| format!("127.0.0.1:{}", 30000 + i))
        .collect();
    let mut first_dials = vec![0usize; addresses.len()];
    for (i, a) in addresses.iter().enumerate() {
        for (j, b) in addresses.iter().enumerate() {
            if i != j {
                assert_ne!(dials_first(a, b), dials_first(b, a), "{a} and {b}");
                first_dials[i] += usize::from(dials_first(a, b));
            }
        }
    }
    // Spread: no node dials nearly all or nearly none of the 63 others first.
    assert!(
        first_dials.iter().all(|n| (16..=47).contains(n)),
        "{first_dials:?}"
    );
}

fn addr(text: &str) -> std::net::SocketAddr {
    text.parse().unwrap()
}

/// The `127.0.0.1` address of `port`, as discovery lists it.
fn address(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Two free ports whose addresses `first_dials` orders as wanted: whether the node at the first
/// dials the node at the second first.
fn two_ports(first_dials: bool) -> (u16, u16) {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap()
    };
    loop {
        let (a, b) = (free_port(), free_port());
        if a != b && dials_first(&address(a), &address(b)) == first_dials {
            return (a, b);
        }
    }
}

/// A node listening on `127.0.0.1:port`.
fn node(port: u16, name: &str) -> crate::node::NodeServer {
    crate::node::NodeServer::new(
        port,
        "reconciler-cookie".into(),
        name.into(),
        "127.0.0.1".into(),
        None,
        None,
    )
    .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
}

/// Of two nodes starting together, the one that dials first may find the other not listening
/// yet; its dial is tried again when the backoff runs out, not at the next round (here a
/// minute away), since the other leaves the pair to it.
#[tokio::test]
async fn a_refused_discovery_dial_is_tried_again_when_its_backoff_runs_out() {
    use crate::discovery::StaticSeeds;
    use crate::node::NodeServerMessage;
    use ractor::Actor;

    // Two ports such that the first node is the one to dial first.
    let (port_a, port_b) = two_ports(true);
    // Three retries, 0.15-0.3 s, 0.3-0.6 s and 0.6-1.2 s apart (with jitter): b, started 0.1 s
    // after a, is up well before the last of them even on a loaded machine.
    let backoff = crate::node::ReconnectPolicy::default()
        .with_initial_backoff(Duration::from_millis(300))
        .with_max_backoff(Duration::from_secs(2));
    let a = node(port_a, "retry-a")
        .with_reconnect(backoff)
        .with_discovery(StaticSeeds::new([address(port_b)]), Duration::from_secs(60));
    let (a, _) = Actor::spawn(None, a, ()).await.unwrap();
    // The first round dials b at once, and nothing listens there yet.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (b, _) = Actor::spawn(None, node(port_b, "retry-b"), ())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sessions = ractor::call!(a, NodeServerMessage::GetSessions).unwrap();
        if sessions.values().any(|s| s.peer_name.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "a did not dial b again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.stop(None);
    b.stop(None);
}

/// Counts the reconciler's "cannot connect to a discovered node" events: the one event with both
/// an `attempt` and a `delay` field.
struct RefusedDials(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RefusedDials {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let fields = event.metadata().fields();
        if fields.field("attempt").is_some() && fields.field("delay").is_some() {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// A node that leaves a pair to its peer dials it when its grace ends; finding nobody listening,
/// it does not try again before the next round (here a minute away), where the node that dials
/// first would at its backoff: the peer dials as soon as it is up. This peer runs no discovery,
/// so that a retry would be the only way the two meet.
#[tokio::test]
async fn the_node_that_leaves_the_pair_does_not_retry_a_refused_dial_before_the_next_round() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::discovery::StaticSeeds;
    use crate::node::NodeServerMessage;
    use ractor::Actor;
    use tracing_subscriber::layer::SubscriberExt;

    // The test's runtime is one thread, which every task of both nodes runs on.
    let refused = Arc::new(AtomicUsize::new(0));
    let _capture = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(RefusedDials(Arc::clone(&refused))),
    );
    let (port_waiting, port_peer) = two_ports(false);
    let waiting = node(port_waiting, "leaves-waiting").with_discovery(
        StaticSeeds::new([address(port_peer)]),
        Duration::from_secs(60),
    );
    let (waiting, _) = Actor::spawn(None, waiting, ()).await.unwrap();
    let deadline = Instant::now() + super::FIRST_DIAL_GRACE + Duration::from_secs(10);
    while refused.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no dial when the grace ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (peer, _) = Actor::spawn(None, node(port_peer, "leaves-peer"), ())
        .await
        .unwrap();
    // Retried at its backoff, the dial would come again within 0.05–0.1, 0.1–0.2 and 0.2–0.4 s
    // of the last (the default backoff, jittered): refused again, or a session with the peer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        refused.load(Ordering::SeqCst),
        1,
        "the refused dial was retried"
    );
    let sessions = ractor::call!(waiting, NodeServerMessage::GetSessions).unwrap();
    assert!(
        sessions.values().all(|s| s.peer_name.is_none()),
        "the refused dial was retried"
    );
    waiting.stop(None);
    peer.stop(None);
}

/// A node that leaves a pair to its peer (which is to dial first) dials the peer itself once the
/// grace has passed without a dial from it, not rounds later (here the round is a minute), and
/// not before.
#[tokio::test]
async fn a_node_dials_the_peer_that_was_to_dial_first_when_the_grace_ends() {
    use crate::discovery::StaticSeeds;
    use crate::node::NodeServerMessage;
    use ractor::Actor;

    // Two ports such that `waiting` leaves the pair to `silent`, which runs no discovery and so
    // never dials.
    let (port_waiting, port_silent) = two_ports(false);
    let (silent, _) = Actor::spawn(None, node(port_silent, "grace-silent"), ())
        .await
        .unwrap();
    let seeds = StaticSeeds::new([address(port_waiting), address(port_silent)]);
    let waiting =
        node(port_waiting, "grace-waiting").with_discovery(seeds, Duration::from_secs(60));
    let started = Instant::now();
    let (waiting, _) = Actor::spawn(None, waiting, ()).await.unwrap();
    let connected = || async {
        let sessions = ractor::call!(waiting, NodeServerMessage::GetSessions).unwrap();
        sessions.values().any(|s| s.peer_name.is_some())
    };
    tokio::time::sleep(super::FIRST_DIAL_GRACE / 2).await;
    assert!(!connected().await, "dialed before the grace ended");
    let deadline = started + super::FIRST_DIAL_GRACE + Duration::from_secs(5);
    while !connected().await {
        assert!(Instant::now() < deadline, "the waiting node did not dial");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    waiting.stop(None);
    silent.stop(None);
}

/// Connects to the node listening on `port` and says, in a client hello, that it is the node
/// listed at `claimed`; goes no further (no proof), and keeps the connection open until dropped.
async fn claim_to_be(port: u16, claimed: &str) -> tokio::net::TcpStream {
    use crate::protocol::handshake::{ClientDriver, Fresh, HandshakeConfig};
    use crate::protocol::identity::Cookie;
    use crate::protocol::message::{FrameProtection, WireNodeName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let config = HandshakeConfig {
        cookie: Cookie::new("not-the-cookie"),
        local: WireNodeName {
            name: "claimed@127.0.0.1".to_owned(),
            connection_string: claimed.to_owned(),
        },
        incarnation: 1,
        frames: FrameProtection::Sealed,
        hidden: false,
    };
    let fresh = Fresh {
        nonce: rand::random(),
        key_secret: rand::random(),
    };
    let mut hello = Vec::new();
    ClientDriver::start(config, fresh, &mut hello).unwrap();
    stream.write_all(&hello).await.unwrap();
    // The node's hello in answer: the claim has been heard.
    let mut answer = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer))
        .await
        .expect("the node answers the hello")
        .unwrap();
    stream
}

/// A node, a listener at the one address its discovery lists (whose node is to dial first, so
/// that the node leaves the pair to it for the grace), and a connection to the node whose hello
/// says it comes from that address.
struct Claimed {
    node: ractor::ActorRef<crate::node::NodeServerMessage>,
    started: Instant,
    listed: tokio::net::TcpListener,
    claim: tokio::net::TcpStream,
}

/// Starts the [`Claimed`] scene, with rounds `interval` apart; the claim is not timed out (the
/// handshake timeout is 30 s).
async fn claimed(name: &str, interval: Duration) -> Claimed {
    use crate::discovery::StaticSeeds;
    use ractor::Actor;

    let (port, port_listed) = two_ports(false);
    let listed = tokio::net::TcpListener::bind(("127.0.0.1", port_listed))
        .await
        .unwrap();
    let started = Instant::now();
    let server = node(port, name)
        .with_handshake_timeout(Duration::from_secs(30))
        .with_discovery(StaticSeeds::new([address(port_listed)]), interval);
    let (node, _) = Actor::spawn(None, server, ()).await.unwrap();
    let claim = claim_to_be(port, &address(port_listed)).await;
    Claimed {
        node,
        started,
        listed,
        claim,
    }
}

/// A node whose discovery lists an address does not dial it while a connection it accepted says
/// (in its hello, before any proof) that it comes from the node at that address: the pair's
/// session is left to that dial. The claim proves nothing, and once its connection ends without
/// a peer, the node dials the address at once.
#[tokio::test]
async fn a_node_does_not_dial_a_node_that_is_dialing_it() {
    let scene = claimed("intro-waiting", Duration::from_secs(60)).await;
    assert!(
        scene.started.elapsed() < super::FIRST_DIAL_GRACE,
        "too slow a start"
    );

    // Without the claim, the grace's end would have brought a dial.
    let quiet_until = scene.started + super::FIRST_DIAL_GRACE + Duration::from_secs(1);
    let dialed = tokio::time::timeout_at(quiet_until, scene.listed.accept()).await;
    assert!(dialed.is_err(), "dialed a node that was dialing it");

    drop(scene.claim);
    let dialed = tokio::time::timeout(Duration::from_secs(5), scene.listed.accept()).await;
    assert!(
        dialed.is_ok(),
        "not dialed once the claiming connection ended"
    );
    scene.node.stop(None);
}

/// A claim that is never proved passes over one dial only: at the next round, the node dials the
/// address although the claiming connection is still open.
#[tokio::test]
async fn a_claim_to_be_dialing_passes_over_one_dial_only() {
    // Rounds 0.3 s apart, and so a grace of two rounds.
    let scene = claimed("intro-once", Duration::from_millis(300)).await;
    let dialed = tokio::time::timeout(Duration::from_secs(5), scene.listed.accept()).await;
    assert!(dialed.is_ok(), "a claim kept the node from dialing");
    scene.node.stop(None);
}

#[test]
fn a_peer_is_known_by_the_address_it_connects_from_with_the_port_it_advertises() {
    assert_eq!(
        seen_address("10.0.0.7:51234", "pod-7.svc:4697").as_deref(),
        Some("10.0.0.7:4697")
    );
    assert_eq!(
        seen_address("[::ffff:127.0.0.1]:40000", "localhost:4100").as_deref(),
        Some("127.0.0.1:4100")
    );
    assert_eq!(
        seen_address("[fd00::2]:40000", "[fd00::2]:4100").as_deref(),
        Some("[fd00::2]:4100")
    );
    assert_eq!(seen_address("unknown", "localhost:4100"), None);
    assert_eq!(seen_address("10.0.0.7:1", "no-port"), None);
}

#[test]
fn a_dial_to_the_own_listener_is_recognised() {
    // Bound to one address: only that address and port.
    let listen = addr("127.0.0.2:4697");
    assert!(reaches_itself(
        listen,
        addr("127.0.0.1:50000"),
        addr("127.0.0.2:4697")
    ));
    assert!(!reaches_itself(
        listen,
        addr("127.0.0.2:50000"),
        addr("127.0.0.1:4697")
    ));
    assert!(!reaches_itself(
        listen,
        addr("127.0.0.1:50000"),
        addr("127.0.0.2:4698")
    ));
    // Bound to every address: a connection that stayed on this host, to this port.
    let listen = addr("[::]:4697");
    assert!(reaches_itself(
        listen,
        addr("10.0.0.5:50000"),
        addr("10.0.0.5:4697")
    ));
    assert!(reaches_itself(
        listen,
        addr("[::ffff:127.0.0.1]:50000"),
        addr("127.0.0.1:4697")
    ));
    assert!(!reaches_itself(
        listen,
        addr("10.0.0.5:50000"),
        addr("10.0.0.6:4697")
    ));
}
