//! What an authenticated peer can make a node hold (issue 12, section 2): each bound, scripted
//! frame by frame, with a setting small enough to reach.

use std::time::Duration;

use ractor::{Actor, ActorId};

use crate::node::references;
use crate::node::session::test_hooks;
use crate::protocol::codec;
use crate::protocol::limits::MAX_WANTED_PIDS;
use crate::protocol::message::{
    ActorAnnouncement, ControlMessage, PeerAnnouncement, SessionMessage, SpawnOutcome,
};
use crate::protocol::reference::WireReference;
use crate::testing::{node_builder, unique, within, IdleRemotable, ScriptedPeer, TestNode};

fn announced(pids: std::ops::Range<u64>) -> ControlMessage {
    ControlMessage::ActorsSpawned(
        pids.map(|pid| ActorAnnouncement { pid, name: None })
            .collect(),
    )
}

/// Sends `frames` control messages in one write, so that the node reads them in one go.
async fn send_batch(peer: &mut ScriptedPeer, messages: impl IntoIterator<Item = ControlMessage>) {
    let mut frames = Vec::new();
    for control in messages {
        SessionMessage::Control(control)
            .encode_frame(u32::MAX, &mut frames)
            .unwrap();
    }
    peer.send_bytes(&frames).await;
}

#[tokio::test]
async fn a_reference_reaches_only_actors_a_peer_may_address() {
    let mut node = TestNode::start(node_builder("remotable")).await;
    let peer = ScriptedPeer::connect(&node, "peer").await;
    let session = node
        .event_where(|e| matches!(e, crate::testing::Event::Authenticated(_)))
        .await;
    drop(session);
    let (pingable, _) = Actor::spawn(None, IdleRemotable, ()).await.unwrap();
    let reference = |pid| WireReference {
        node: node.node_id(),
        incarnation: peer.auth.peer_incarnation,
        pid,
    };
    // A remotable actor is reached...
    let cell = references::resolve(reference(pingable.get_id().pid())).unwrap();
    assert_eq!(cell.get_id(), pingable.get_id());
    // ...the node server is not: the reference gives a stopped stand-in.
    let server_pid = node.actor.get_id().pid();
    let cell = references::resolve(reference(server_pid)).unwrap();
    assert_ne!(cell.get_id(), node.actor.get_id());
    assert!(!matches!(cell.get_id(), ActorId::Local(_)));
    pingable.stop(None);
    node.stop().await;
}

#[tokio::test]
async fn actors_wanted_is_answered_once_per_pid_and_bounded_per_message() {
    let node = TestNode::start(node_builder("wanted")).await;
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    const GONE: u64 = u64::MAX - 1;
    peer.send_control(ControlMessage::ActorsWanted(vec![GONE; 100]))
        .await;
    let seen = peer.sync().await;
    let answers = seen
        .iter()
        .filter(|m| {
            matches!(
                m,
                SessionMessage::Control(ControlMessage::ActorStopped { pid: GONE, .. })
            )
        })
        .count();
    assert_eq!(answers, 1, "{seen:?}");
    // One more than a message may ask for ends the session, before a single answer is queued.
    let too_many = (0..=MAX_WANTED_PIDS as u64)
        .map(|pid| pid + 1_000_000_000)
        .collect();
    peer.send_control(ControlMessage::ActorsWanted(too_many))
        .await;
    let mut stopped = 0;
    while let Some(message) = peer.next().await {
        // Only answers to this message count: other tests in this process stop actors too, and
        // the node tells its peer about those.
        if matches!(
            message,
            SessionMessage::Control(ControlMessage::ActorStopped { pid, .. }) if pid >= 1_000_000_000
        ) {
            stopped += 1;
        }
    }
    assert_eq!(stopped, 0);
    node.stop().await;
}

#[tokio::test]
async fn proxies_are_bounded_per_peer_and_in_total() {
    let node = TestNode::start(
        node_builder("proxies")
            .with_max_proxies_per_peer(3)
            .with_max_proxies(5),
    )
    .await;
    let mut first = ScriptedPeer::connect(&node, "first").await;
    first.send_control(announced(1..11)).await;
    first.sync().await;
    assert_eq!(references::proxies_of_node(first.node_id()), 3);
    // A reference to another of its actors finds no room either: it resolves to a stopped cell.
    let beyond = references::resolve(WireReference {
        node: first.node_id(),
        incarnation: first.incarnation,
        pid: 50,
    })
    .unwrap();
    assert!(!references::is_running(&beyond));
    assert_eq!(references::proxies_of_node(first.node_id()), 3);

    // The node's bound: two left for the next peer.
    let mut second = ScriptedPeer::connect(&node, "second").await;
    second.send_control(announced(1..11)).await;
    second.sync().await;
    assert_eq!(references::proxies_of_node(second.node_id()), 2);

    // Room is made as the first peer's actors stop.
    for pid in 1..4 {
        first
            .send_control(ControlMessage::ActorStopped { pid, reason: None })
            .await;
    }
    first.sync().await;
    within("the stopped proxies to be forgotten", async {
        while references::proxies_of_node(first.node_id()) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    second.send_control(announced(20..30)).await;
    second.sync().await;
    assert_eq!(references::proxies_of_node(second.node_id()), 3);
    node.stop().await;
}

// One thread, as in a node running one tokio worker: the reader reads a whole batch before the
// session runs, unless the bound stops it.
#[tokio::test(flavor = "current_thread")]
async fn control_messages_wait_for_the_session_within_the_bound() {
    let node = TestNode::start(node_builder("control").with_max_queued_control_messages(4)).await;
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    let queue = test_hooks::control_queues()
        .get(&peer.node_id())
        .cloned()
        .expect("the session's control queue");
    // Heartbeats are the reader's business: they never queue for the session.
    send_batch(&mut peer, (0..300).map(|_| ControlMessage::Heartbeat)).await;
    peer.sync().await;
    assert!(queue.high_water() <= 1, "{}", queue.high_water());
    // Other control messages queue, at most four at a time.
    let scope = unique("scope");
    let leaves = (0..300).map(|n| ControlMessage::GroupLeft {
        scope: scope.clone(),
        group: format!("g{n}"),
        pids: vec![n],
    });
    send_batch(&mut peer, leaves).await;
    peer.sync().await;
    assert!(queue.high_water() <= 4, "{}", queue.high_water());
    // An ActorsWanted counts for the answers it asks for: with one of 100 pids queued, the reader
    // hands on nothing more until the session has answered them.
    let wanted = (0..5).map(|n| {
        ControlMessage::ActorsWanted((0..100).map(|p| u64::MAX - 1_000 - n * 100 - p).collect())
    });
    send_batch(&mut peer, wanted).await;
    peer.sync().await;
    let high = queue.high_water();
    assert!((100..104).contains(&high), "{high}");
    node.stop().await;
}

#[tokio::test]
async fn remote_spawns_are_bounded_per_peer_and_end_with_the_session() {
    let kind = unique("pingable");
    crate::node::register_spawnable(&kind, || IdleRemotable);
    let node = TestNode::start(node_builder("spawns").with_max_remote_spawns_per_peer(2)).await;
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    for request in 1..=3 {
        peer.send_control(ControlMessage::SpawnRequest {
            request,
            kind: kind.clone(),
            args: codec::encode_to_vec(&()).unwrap(),
        })
        .await;
    }
    let mut spawned = Vec::new();
    let mut refused = 0;
    while spawned.len() + refused < 3 {
        let reply = peer
            .next_where("a spawn reply", |m| {
                matches!(
                    m,
                    SessionMessage::Control(ControlMessage::SpawnReply { .. })
                )
            })
            .await;
        match reply {
            SessionMessage::Control(ControlMessage::SpawnReply {
                outcome: SpawnOutcome::Spawned { pid },
                ..
            }) => spawned.push(pid),
            SessionMessage::Control(ControlMessage::SpawnReply {
                outcome: SpawnOutcome::Failed(why),
                ..
            }) => {
                assert!(why.contains("with_max_remote_spawns_per_peer"), "{why}");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((spawned.len(), refused), (2, 1));
    // The session supervises them: when the peer goes, they stop.
    drop(peer);
    within("the spawned actors to stop with the session", async {
        while spawned
            .iter()
            .any(|pid| ractor::registry::where_is_pid(ActorId::Local(*pid)).is_some())
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    node.stop().await;
}

#[tokio::test]
async fn group_joins_are_bounded_in_names_and_per_peer() {
    let node = TestNode::start(node_builder("groups").with_max_groups_per_peer(2)).await;
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    peer.send_control(announced(1..2)).await;
    let scope = unique("scope");
    let long = "g".repeat(crate::protocol::limits::MAX_GROUP_NAME_LEN + 1);
    // The long name first: without its own bound, it would take one of the two places.
    for group in [long.as_str(), "a", "b", "c"] {
        peer.send_control(ControlMessage::GroupJoined {
            scope: scope.clone(),
            group: group.to_owned(),
            pids: vec![1],
        })
        .await;
    }
    peer.sync().await;
    let members = |group: &str| ractor::pg::get_scoped_members(&scope, &group.to_owned()).len();
    assert_eq!(
        [long.as_str(), "a", "b", "c"].map(members),
        [0, 1, 1, 0],
        "two groups, and no name over the bound"
    );
    // Leaving one makes room for another.
    peer.send_control(ControlMessage::GroupLeft {
        scope: scope.clone(),
        group: "a".to_owned(),
        pids: vec![1],
    })
    .await;
    peer.send_control(ControlMessage::GroupJoined {
        scope: scope.clone(),
        group: "c".to_owned(),
        pids: vec![1],
    })
    .await;
    peer.sync().await;
    assert_eq!(["a", "b", "c"].map(members), [0, 1, 1]);
    node.stop().await;
}

#[tokio::test]
async fn where_is_node_questions_are_answered_at_a_bounded_rate() {
    let node = TestNode::start(node_builder("whereis").with_where_is_node_rate(2)).await;
    let mut asker = ScriptedPeer::connect(&node, "asker").await;
    let known = ScriptedPeer::connect(&node, "known").await;
    for _ in 0..5 {
        asker
            .send_control(ControlMessage::WhereIsNode {
                node: known.node_id(),
            })
            .await;
    }
    // The session has passed the questions it answers to the server once this returns; the
    // server has handed its answers back once the call returns; and the session has sent them
    // once the second sync returns.
    let mut seen = asker.sync().await;
    ractor::call_t!(node.actor, crate::NodeServerMessage::GetSessions, 10_000).unwrap();
    seen.extend(asker.sync().await);
    let answers = seen
        .iter()
        .filter(|m| matches!(m, SessionMessage::Control(ControlMessage::PeersKnown(_))))
        .count();
    assert_eq!(answers, 2, "{seen:?}");
    node.stop().await;
}

#[tokio::test]
async fn transitive_dials_are_bounded() {
    let node = TestNode::start(
        crate::testing::transitive_builder("dials")
            .with_max_transitive_dials(2)
            .with_handshake_timeout(Duration::from_secs(30)),
    )
    .await;
    // Every named node is this listener, which accepts and never answers: each dial stays under
    // way (handshaking) for the test's length.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    let named = (0..10)
        .map(|n| PeerAnnouncement {
            name: format!("{}@nowhere", unique(&format!("named{n}"))),
            connection_string: addr.clone(),
            tls: false,
        })
        .collect();
    peer.send_control(ControlMessage::PeersKnown(named)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let (socket, _) = within("a dial", listener.accept()).await.unwrap();
        held.push(socket);
    }
    peer.sync().await;
    // Nothing more comes: the bound holds (without it, all ten arrive at once).
    let more = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(more.is_err(), "a third dial was made");
    node.stop().await;
}

/// The same supervision end to end, between two real nodes over a pipe: an actor that `a` spawned
/// on `b` stops when `a` goes.
#[tokio::test]
async fn an_actor_spawned_by_a_peer_stops_when_the_peer_goes() {
    let kind = unique("pingable");
    crate::node::register_spawnable(&kind, || IdleRemotable);
    let pair = crate::testing::Pair::connect(node_builder("spawner"), node_builder("host")).await;
    let proxy = crate::node::spawn_remote(pair.b.node_id(), &kind, &(), Duration::from_secs(5))
        .await
        .expect("the host spawns it");
    let pid = proxy.get_id().pid();
    let spawned = ractor::registry::where_is_pid(ActorId::Local(pid)).expect("it runs on the host");
    assert!(spawned.supports_remoting());
    let crate::testing::Pair { a, b } = pair;
    a.stop().await;
    within("the spawned actor to stop with the session", async {
        while ractor::registry::where_is_pid(ActorId::Local(pid)).is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    b.stop().await;
}
