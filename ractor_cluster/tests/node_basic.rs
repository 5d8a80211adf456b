//! Two nodes in one process, connected over TCP on 127.0.0.1.
//!
//! ractor's pid registry and process groups are global to the process, so both nodes see every
//! test actor as local and each announces it to the other. A proxy is told apart from the real
//! actor by its id: `ActorId::Remote { node_id, .. }`, where `node_id` names the node it stands
//! for. Every test uses its own node names and group names, so tests running in parallel do not
//! see each other's groups. Every wait is bounded.

mod common;

use ractor::{pg, Actor, ActorCell, ActorId, ActorRef};
use ractor_cluster::NodeId;

use common::{
    connect_ready, eventually, failed, held_call, nodes_with_different_cookies, proxy_in,
    spawn_in_group, start_node, wait_for_proxy, within, Event, Node, TestActor, TestMessage,
};

/// The id `node` has on its peers (read from `peer`'s session list).
async fn id_seen_by(node: &Node, peer: &Node) -> NodeId {
    let sessions = peer.sessions().await;
    sessions
        .values()
        .find(|s| s.peer_name.as_ref().map(|n| n.name.as_str()) == Some(&node.name))
        .and_then(|s| s.peer_node_id())
        .expect("not connected")
}

// ---------------------------------------------------------------------------------------------
// Nodes and a test actor

/// Two connected nodes and a test actor in `group`, with the proxy that stands for it through
/// the session `a` → `b` (on `b`, `ActorId::Remote { node_id: id of a }`).
async fn two_nodes_and_actor(
    tag: &str,
) -> (
    Node,
    Node,
    ActorRef<TestMessage>,
    ActorRef<TestMessage>,
    String,
) {
    let mut a = start_node(&format!("{tag}-a")).await;
    let mut b = start_node(&format!("{tag}-b")).await;
    connect_ready(&mut a, &mut b).await;
    let group = format!("{tag}-group");
    let actor = spawn_in_group(&group).await;
    let a_id = id_seen_by(&a, &b).await;
    let proxy = wait_for_proxy(&group, a_id, &actor.get_cell()).await;
    (a, b, actor, proxy, group)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_open_authenticate_get_ready_and_disconnect() {
    let mut a = start_node("events-a").await;
    let mut b = start_node("events-b").await;
    a.connect_to(&b).await;

    for (node, peer) in [
        (&mut a, "events-b@localhost"),
        (&mut b, "events-a@localhost"),
    ] {
        assert_eq!(node.next_event().await, Event::Opened);
        assert_eq!(node.next_event().await, Event::Authenticated(peer.into()));
        assert_eq!(node.next_event().await, Event::Ready(peer.into()));
    }

    let on_a = a.sessions().await;
    let on_b = b.sessions().await;
    assert_eq!(on_a.len(), 1);
    assert_eq!(on_b.len(), 1);
    let (id_of_b, session) = on_a.iter().next().unwrap();
    assert!(!session.is_server);
    assert_eq!(session.node_id, *id_of_b);
    assert_ne!(*id_of_b, 0);
    let name = session.peer_name.clone().unwrap();
    assert_eq!(name.name, "events-b@localhost");
    assert_eq!(name.connection_string, format!("localhost:{}", b.port));
    assert!(on_b.values().next().unwrap().is_server);
    for session in on_a.values().chain(on_b.values()) {
        assert!(ractor::call_t!(
            session.actor,
            ractor_cluster::NodeSessionMessage::GetAuthenticationState,
            5_000
        )
        .unwrap());
        assert!(ractor::call_t!(
            session.actor,
            ractor_cluster::NodeSessionMessage::GetReadyState,
            5_000
        )
        .unwrap());
    }

    // The id of a node is the same wherever it is seen, and stable across reconnects.
    let id_of_a = id_seen_by(&a, &b).await;
    assert_ne!(id_of_a, *id_of_b);

    b.stop().await;
    assert_eq!(
        a.next_event().await,
        Event::Disconnected(Some("events-b@localhost".into()))
    );
    assert!(a.sessions().await.is_empty());
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cookie_gives_no_session_on_either_side() {
    for client_first in [true, false] {
        let tag = if client_first { "cookie1" } else { "cookie2" };
        let (a, b) = nodes_with_different_cookies(tag, client_first).await;
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_casts_arrive_complete_and_in_order() {
    let (a, b, actor, proxy, _) = two_nodes_and_actor("casts").await;
    for n in 0..10_000u64 {
        proxy.cast(TestMessage::Num(n)).unwrap();
    }
    // A call on the same path comes after every cast.
    let numbers = ractor::call_t!(proxy, TestMessage::Numbers, 10_000).unwrap();
    assert_eq!(numbers, (0..10_000).collect::<Vec<_>>());
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_return_values_of_several_types_concurrently() {
    let (a, b, actor, proxy, _) = two_nodes_and_actor("rpc").await;
    let echoed = ractor::call_t!(proxy, TestMessage::Echo, 5_000, "hello".to_owned()).unwrap();
    assert_eq!(echoed, "hello");
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 21).unwrap(),
        42
    );
    assert!(ractor::call_t!(proxy, TestMessage::Numbers, 5_000)
        .unwrap()
        .is_empty());

    // Many calls in flight at once, answered out of order: each reply reaches its own caller.
    let calls = (0..200u64).map(|n| {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let doubled = if n % 2 == 0 {
                ractor::call_t!(proxy, TestMessage::SlowDouble, 5_000, n)
            } else {
                ractor::call_t!(proxy, TestMessage::Double, 5_000, n)
            };
            (n, doubled.unwrap())
        })
    });
    for call in calls.collect::<Vec<_>>() {
        let (n, doubled) = within("a call", call).await.unwrap();
        assert_eq!(doubled, n * 2);
    }
    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_dying_or_dead_actor_fail_promptly() {
    let (a, b, actor, proxy, _) = two_nodes_and_actor("dead").await;

    // The target drops the reply port and stops while the call is in flight. No timeout on the
    // call itself: it must not hang.
    let result = within("the call", proxy.call(TestMessage::DieNow, None)).await;
    assert!(failed(&result), "{result:?}");

    // Now the target is dead: later calls fail too, whether or not the proxy has heard yet.
    let result = within("the call", proxy.call(TestMessage::Numbers, None)).await;
    assert!(failed(&result), "{result:?}");
    // And the proxy stops once the peer reports the stop.
    eventually("the proxy to stop", || {
        proxy.get_status() == ractor::ActorStatus::Stopped
    })
    .await;
    drop(actor);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_fail_when_the_session_ends() {
    let (a, b, actor, proxy, _) = two_nodes_and_actor("ended").await;
    // The target holds the reply port forever; only the end of the session can end the call.
    let call = held_call(&proxy).await;
    a.stop().await;
    let result = within("the call", call).await.unwrap();
    assert!(failed(&result), "{result:?}");
    actor.stop(None);
    b.stop().await;
}

/// Two nodes of this process, A and C, each linked to B: every actor B announces reaches the
/// process through two sessions, which must share one proxy of it. Two proxies of one actor would
/// share its id, and ractor cleans up a stopping actor's groups by id, so stopping the spare one
/// would take the kept one out of the group it had joined: the actor would be missing from the
/// group for good. The two sessions race when both are idle as B's announcement reaches them, so
/// the actors start one at a time, each once the previous one's proxy is in the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_local_nodes_linked_to_one_peer_share_one_proxy_of_each_actor() {
    const GROUP: &str = "basic.shared-proxies";
    let mut a = start_node("share-a").await;
    let mut b = start_node("share-b").await;
    let mut c = start_node("share-c").await;
    connect_ready(&mut a, &mut b).await;
    connect_ready(&mut c, &mut b).await;

    let mut actors = Vec::new();
    for _ in 0..500 {
        let actor = spawn_in_group(GROUP).await;
        wait_for_proxy_in(GROUP, b.id, &actor.get_cell()).await;
        actors.push(actor);
    }
    // The sessions handle B's announcements in order: once the proxy of an actor started after
    // the others is in the group, everything the sessions did for the others is done.
    let barrier = spawn_in_group(GROUP).await;
    wait_for_proxy_in(GROUP, b.id, &barrier.get_cell()).await;
    let missing = actors
        .iter()
        .filter(|actor| proxy_in(GROUP, b.id, &actor.get_cell()).is_none())
        .count();
    assert_eq!(
        missing, 0,
        "B's actors whose proxy left the group after joining it"
    );
}

/// Waits, bounded, until the proxy of `actor` of the node `node_id` is in `group`; polls often,
/// as the test above waits for hundreds of them.
async fn wait_for_proxy_in(group: &str, node_id: NodeId, actor: &ActorCell) {
    within("a proxy in the group", async {
        while proxy_in(group, node_id, actor).is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_groups_sync_both_ways_with_scopes() {
    let mut a = start_node("pg-a").await;
    let mut b = start_node("pg-b").await;
    let scope = "pg-scope".to_owned();
    let group = "pg-group".to_owned();

    // Joined before the connection: arrives with the initial sync.
    let (early, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    pg::join_scoped(scope.clone(), group.clone(), vec![early.get_cell()]);

    connect_ready(&mut a, &mut b).await;
    let id_a = id_seen_by(&a, &b).await;
    let id_b = id_seen_by(&b, &a).await;
    // Both nodes see the actor as local (one process), so each announces it to the other: a proxy
    // for it appears on both sides, one per direction.
    let in_scope = |node_id: NodeId, actor: &ActorCell| {
        let wanted = ActorId::Remote {
            node_id,
            pid: actor.get_id().pid(),
        };
        pg::get_scoped_members(&scope, &group)
            .iter()
            .any(|m| m.get_id() == wanted)
    };
    eventually("initial sync a→b", || in_scope(id_a, &early.get_cell())).await;
    eventually("initial sync b→a", || in_scope(id_b, &early.get_cell())).await;
    // Not in the default scope.
    assert!(proxy_in(&group, id_a, &early.get_cell()).is_none());

    // Joined after the connection: arrives as a change.
    let (late, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    pg::join_scoped(scope.clone(), group.clone(), vec![late.get_cell()]);
    eventually("join a→b", || in_scope(id_a, &late.get_cell())).await;
    eventually("join b→a", || in_scope(id_b, &late.get_cell())).await;

    // The remote members are usable as they come out of the group. (Only those of this test's
    // nodes: the nodes of tests running in parallel see `late` too and put proxies of their own
    // in the group, which go away when those tests end.)
    let wanted = ActorId::Remote {
        node_id: id_a,
        pid: late.get_id().pid(),
    };
    let proxy: ActorRef<TestMessage> = pg::get_scoped_members(&scope, &group)
        .into_iter()
        .find(|m| m.get_id() == wanted)
        .unwrap()
        .into();
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 4).unwrap(),
        8
    );

    pg::leave_scoped(scope.clone(), group.clone(), vec![late.get_cell()]);
    eventually("leave", || {
        !in_scope(id_a, &late.get_cell()) && !in_scope(id_b, &late.get_cell())
    })
    .await;

    // A stopped actor leaves everywhere.
    early.stop(None);
    eventually("stop", || {
        !in_scope(id_a, &early.get_cell()) && !in_scope(id_b, &early.get_cell())
    })
    .await;

    late.stop(None);
    a.stop().await;
    b.stop().await;
}
