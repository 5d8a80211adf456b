//! Two nodes in one process, connected over TCP on 127.0.0.1.
//!
//! ractor's pid registry and process groups are global to the process, so both nodes see every
//! test actor as local and each announces it to the other. A proxy is told apart from the real
//! actor by its id: `ActorId::Remote { node_id, .. }`, where `node_id` names the node it stands
//! for. Every test uses its own node names and group names, so tests running in parallel do not
//! see each other's groups. Every wait is bounded.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{pg, Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{
    NodeEventSubscription, NodeId, NodeServer, NodeServerMessage, RactorClusterMessage,
};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Nodes and events

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Opened,
    Authenticated(String),
    Ready(String),
    Disconnected,
}

struct Events(mpsc::UnboundedSender<Event>);

impl NodeEventSubscription for Events {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Opened);
    }
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Disconnected);
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let name = ses.peer_name.map(|n| n.name).unwrap_or_default();
        let _ = self.0.send(Event::Authenticated(name));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let name = ses.peer_name.map(|n| n.name).unwrap_or_default();
        let _ = self.0.send(Event::Ready(name));
    }
}

struct Node {
    server: ActorRef<NodeServerMessage>,
    handle: JoinHandle<()>,
    port: u16,
    name: String,
    events: mpsc::UnboundedReceiver<Event>,
}

/// A free port on 127.0.0.1 (the node is then told to listen on it).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

async fn start_node(name: &str, cookie: &str) -> Node {
    let port = free_port();
    let server = NodeServer::new(
        port,
        cookie.to_owned(),
        name.to_owned(),
        "localhost".to_owned(),
        None,
        None,
    )
    .with_listen_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (server, handle) = Actor::spawn(None, server, ()).await.unwrap();
    let (tx, events) = mpsc::unbounded_channel();
    server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "test".into(),
            subscription: Box::new(Events(tx)),
        })
        .unwrap();
    Node {
        server,
        handle,
        port,
        name: format!("{name}@localhost"),
        events,
    }
}

impl Node {
    async fn next_event(&mut self) -> Event {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no node event in time")
            .expect("event channel closed")
    }

    async fn sessions(&self) -> HashMap<NodeId, NodeServerSessionInformation> {
        ractor::call_t!(self.server, NodeServerMessage::GetSessions, 5_000).unwrap()
    }

    async fn connect_to(&self, other: &Node) {
        ractor_cluster::client_connect(&self.server, ("127.0.0.1", other.port))
            .await
            .unwrap();
    }

    async fn stop(self) {
        self.server.stop(None);
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("node did not stop")
            .unwrap();
    }

    /// The id this node has on its peers (read from `peer`'s session list).
    async fn id_seen_by(&self, peer: &Node) -> NodeId {
        let sessions = peer.sessions().await;
        sessions
            .iter()
            .find(|(_, s)| s.peer_name.as_ref().map(|n| n.name.as_str()) == Some(&self.name))
            .map(|(id, _)| *id)
            .expect("not connected")
    }
}

/// Connects `a` to `b` and waits until both report the session ready.
async fn connect_ready(a: &mut Node, b: &mut Node) {
    a.connect_to(b).await;
    for node in [&mut *a, &mut *b] {
        loop {
            if let Event::Ready(_) = node.next_event().await {
                break;
            }
        }
    }
}

/// Polls `check` until it holds, or fails after [`WAIT`].
async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A remote-capable test actor

#[derive(RactorClusterMessage)]
enum TestMessage {
    Num(u64),
    #[rpc]
    Numbers(RpcReplyPort<Vec<u64>>),
    #[rpc]
    Echo(String, RpcReplyPort<String>),
    #[rpc]
    Double(u64, RpcReplyPort<u64>),
    #[rpc]
    SlowDouble(u64, RpcReplyPort<u64>),
    /// Keeps the reply port and never answers.
    #[rpc]
    Hold(RpcReplyPort<u64>),
    /// Drops the reply port and stops: the caller must get an error, not hang.
    #[rpc]
    DieNow(RpcReplyPort<u64>),
}

struct TestActor;

impl Actor for TestActor {
    type Msg = TestMessage;
    type State = (Vec<u64>, Vec<RpcReplyPort<u64>>);
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok((Vec::new(), Vec::new()))
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            TestMessage::Num(n) => state.0.push(n),
            TestMessage::Numbers(reply) => {
                let _ = reply.send(state.0.clone());
            }
            TestMessage::Hold(reply) => state.1.push(reply),
            TestMessage::Echo(text, reply) => {
                let _ = reply.send(text);
            }
            TestMessage::Double(n, reply) => {
                let _ = reply.send(n * 2);
            }
            TestMessage::SlowDouble(n, reply) => {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let _ = reply.send(n * 2);
                });
            }
            TestMessage::DieNow(reply) => {
                drop(reply);
                myself.stop(None);
            }
        }
        Ok(())
    }
}

/// The proxy that stands, on some node, for `actor` of the node with id `node_id`.
fn proxy_in(group: &str, node_id: NodeId, actor: &ActorCell) -> Option<ActorCell> {
    let wanted = ActorId::Remote {
        node_id,
        pid: actor.get_id().pid(),
    };
    pg::get_members(&group.to_owned())
        .into_iter()
        .find(|m| m.get_id() == wanted)
}

async fn wait_for_proxy(group: &str, node_id: NodeId, actor: &ActorCell) -> ActorRef<TestMessage> {
    let mut found = None;
    eventually("the proxy to join the group", || {
        found = proxy_in(group, node_id, actor);
        found.is_some()
    })
    .await;
    found.unwrap().into()
}

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
    let mut a = start_node(&format!("{tag}-a"), "cookie").await;
    let mut b = start_node(&format!("{tag}-b"), "cookie").await;
    connect_ready(&mut a, &mut b).await;
    let group = format!("{tag}-group");
    let (actor, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    pg::join(group.clone(), vec![actor.get_cell()]);
    let a_id = a.id_seen_by(&b).await;
    let proxy = wait_for_proxy(&group, a_id, &actor.get_cell()).await;
    (a, b, actor, proxy, group)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_open_authenticate_get_ready_and_disconnect() {
    let mut a = start_node("events-a", "cookie").await;
    let mut b = start_node("events-b", "cookie").await;
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
    let id_of_a = a.id_seen_by(&b).await;
    assert_ne!(id_of_a, *id_of_b);

    b.stop().await;
    assert_eq!(a.next_event().await, Event::Disconnected);
    assert!(a.sessions().await.is_empty());
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cookie_gives_no_session_on_either_side() {
    for client_first in [true, false] {
        let tag = if client_first { "cookie1" } else { "cookie2" };
        let mut a = start_node(&format!("{tag}-a"), "right").await;
        let mut b = start_node(&format!("{tag}-b"), "wrong").await;
        if client_first {
            a.connect_to(&b).await;
        } else {
            b.connect_to(&a).await;
        }
        for node in [&mut a, &mut b] {
            assert_eq!(node.next_event().await, Event::Opened);
            assert_eq!(node.next_event().await, Event::Disconnected);
            assert!(node.sessions().await.is_empty());
        }
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
        let (n, doubled) = tokio::time::timeout(WAIT, call).await.unwrap().unwrap();
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
    let result = tokio::time::timeout(WAIT, proxy.call(TestMessage::DieNow, None))
        .await
        .expect("the call hung");
    assert!(
        !matches!(result, Ok(ractor::rpc::CallResult::Success(_))),
        "{result:?}"
    );

    // Now the target is dead: later calls fail too, whether or not the proxy has heard yet.
    let result = tokio::time::timeout(WAIT, proxy.call(TestMessage::Numbers, None))
        .await
        .expect("the call hung");
    assert!(
        !matches!(result, Ok(ractor::rpc::CallResult::Success(_))),
        "{result:?}"
    );
    // And the proxy stops once the peer reports the stop.
    tokio::time::timeout(WAIT, async {
        while proxy.get_status() != ractor::ActorStatus::Stopped {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the proxy did not stop");
    drop(actor);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_fail_when_the_session_ends() {
    let (a, b, actor, proxy, _) = two_nodes_and_actor("ended").await;
    // The target holds the reply port forever; only the end of the session can end the call.
    let call = tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.call(TestMessage::Hold, None).await }
    });
    // A round trip on the same session, so the `Hold` call is most likely in flight by now
    // (if not, it fails all the same).
    let _ = ractor::call_t!(proxy, TestMessage::Numbers, 5_000).unwrap();
    a.stop().await;
    let result = tokio::time::timeout(WAIT, call)
        .await
        .expect("the call hung")
        .unwrap();
    assert!(
        !matches!(result, Ok(ractor::rpc::CallResult::Success(_))),
        "{result:?}"
    );
    actor.stop(None);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_groups_sync_both_ways_with_scopes() {
    let mut a = start_node("pg-a", "cookie").await;
    let mut b = start_node("pg-b", "cookie").await;
    let scope = "pg-scope".to_owned();
    let group = "pg-group".to_owned();

    // Joined before the connection: arrives with the initial sync.
    let (early, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    pg::join_scoped(scope.clone(), group.clone(), vec![early.get_cell()]);

    connect_ready(&mut a, &mut b).await;
    let id_a = a.id_seen_by(&b).await;
    let id_b = b.id_seen_by(&a).await;
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
