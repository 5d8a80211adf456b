//! Location transparency across two or three nodes in separate processes: actor references in
//! messages and replies (also through a third node, and to actors that are gone), the announce
//! modes (on demand, named or grouped), remote spawn, remote monitors and links (exit reasons,
//! failures and node loss) and the cluster-wide name lookup with its conflict rules.
//!
//! Like `process_peer.rs`, this executable is both the runner (`harness = false`) and, started
//! with `RACTOR_CLUSTER_TEST_PEER=<name>`, a peer node on 127.0.0.1 that prints
//! `READY <port> <node id>` and then follows one command per line on stdin:
//!
//! | command              | effect                                                    | answer  |
//! |----------------------|-----------------------------------------------------------|---------|
//! | `connect <port>`     | connects to 127.0.0.1:port                                 | `OK`    |
//! | `wait-peers <n>`     | waits until `n` sessions are ready                         | `OK`    |
//! | `spawn-named <name>` | spawns a test actor registered under `name`                | `OK`    |
//! | `stop-named <name>`  | stops it with the reason `bye <name>`                      | `OK`    |
//! | `stop-spawned`       | stops every actor spawned remotely here, reason `retired`  | `OK`    |
//! | `where-is <name>`    | looks the name up with `node::where_is`                    | `AT <node id>` or `NONE` |
//!
//! Each peer runs a [`Holder`] in the group `holders` and registers the spawnable kind `test`
//! (a test actor, arguments `()`, that fails when it receives `Num(POISON)`). ractor's registries
//! are global to a process, so each node runs in its own.

mod common;

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use common::peer_process::{tests, Commands, PeerProcess, TestFn};
use common::{eventually, within, TestActor, TestMessage, WAIT};
use ractor::{
    pg, Actor, ActorCell, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort, SupervisionEvent,
};
use ractor_cluster::node::{Announce, RemoteSpawnError};
use ractor_cluster::{
    NodeConnectionMode, NodeId, NodeServer, NodeServerMessage, RactorClusterMessage,
};
use tokio::sync::mpsc;

const ANNOUNCE_ENV: &str = "RACTOR_CLUSTER_LOCATION_ANNOUNCE";
const HOLDERS: &str = "holders";
/// The number that makes a remotely spawned test actor fail, with the error text `poisoned`.
const POISON: u64 = 666;

// ---------------------------------------------------------------------------------------------
// Actors with references in their messages

/// Keeps one reference to a test actor, and hands out references.
#[derive(RactorClusterMessage)]
enum HolderMessage {
    /// Keep this reference.
    Hold(ActorRef<TestMessage>),
    /// Calls `Double(n)` on the held actor and answers with the result (0 if none or failed).
    #[rpc]
    AskHeld(u64, RpcReplyPort<u64>),
    /// Answers with a reference to a new test actor on this node that is in no group and has
    /// no name (so it is announced only on demand).
    #[rpc]
    Fresh(RpcReplyPort<ActorRef<TestMessage>>),
    /// Answers with the held reference, if any, as an `ActorCell`.
    #[rpc]
    HeldCell(RpcReplyPort<Option<ActorCell>>),
    /// Answers with a reference to a test actor of this node that has already stopped.
    #[rpc]
    Dead(RpcReplyPort<ActorRef<TestMessage>>),
}

struct Holder;

impl Actor for Holder {
    type Msg = HolderMessage;
    type State = Option<ActorRef<TestMessage>>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<HolderMessage>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(None)
    }

    async fn handle(
        &self,
        _: ActorRef<HolderMessage>,
        message: HolderMessage,
        held: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            HolderMessage::Hold(actor) => *held = Some(actor),
            HolderMessage::AskHeld(n, reply) => {
                let value = match held {
                    Some(actor) => {
                        ractor::call_t!(actor, TestMessage::Double, 5_000, n).unwrap_or(0)
                    }
                    None => 0,
                };
                let _ = reply.send(value);
            }
            HolderMessage::Fresh(reply) => {
                let (actor, _) = Actor::spawn(None, TestActor, ()).await?;
                let _ = reply.send(actor);
            }
            HolderMessage::HeldCell(reply) => {
                let _ = reply.send(held.as_ref().map(ActorRef::get_cell));
            }
            HolderMessage::Dead(reply) => {
                let (actor, _) = Actor::spawn(None, TestActor, ()).await?;
                actor.stop_and_wait(None, Some(WAIT)).await?;
                let _ = reply.send(actor);
            }
        }
        Ok(())
    }
}

/// Forwards the supervision events of the actors it monitors to a channel.
struct Watcher;

impl Actor for Watcher {
    type Msg = ();
    type State = mpsc::UnboundedSender<String>;
    type Arguments = mpsc::UnboundedSender<String>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        events: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(events)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        events: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let text = match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                format!(
                    "terminated {} {}",
                    cell.get_id(),
                    reason.unwrap_or_default()
                )
            }
            SupervisionEvent::ActorFailed(cell, err) => format!("failed {} {err}", cell.get_id()),
            _ => return Ok(()),
        };
        let _ = events.send(text);
        Ok(())
    }
}

async fn watcher() -> (ActorRef<()>, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (watcher, _) = Actor::spawn(None, Watcher, tx).await.unwrap();
    (watcher, rx)
}

// ---------------------------------------------------------------------------------------------
// Nodes

struct LocalNode {
    server: ActorRef<NodeServerMessage>,
    port: u16,
    id: NodeId,
}

async fn start_node(name: &str, announce: Announce) -> LocalNode {
    let server = NodeServer::new(
        0,
        "cookie".into(),
        name.into(),
        "localhost".into(),
        None,
        Some(NodeConnectionMode::Transitive),
    )
    .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
    .with_announcement(announce);
    let (server, _) = Actor::spawn(None, server, ()).await.unwrap();
    let info = ractor_cluster::node::node_info(&server).await.unwrap();
    LocalNode {
        server,
        port: info.listen_addr.port(),
        id: info.node_id,
    }
}

async fn ready_sessions(server: &ActorRef<NodeServerMessage>) -> usize {
    let sessions = ractor::call_t!(server, NodeServerMessage::GetSessions, 5_000).unwrap();
    let mut ready = 0;
    for info in sessions.values() {
        if ractor::call_t!(
            info.actor,
            ractor_cluster::NodeSessionMessage::GetReadyState,
            5_000
        )
        .unwrap_or(false)
        {
            ready += 1;
        }
    }
    ready
}

async fn wait_ready(server: &ActorRef<NodeServerMessage>, count: usize) {
    within("sessions to be ready", async {
        while ready_sessions(server).await < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// The holder of node `node`, as a proxy in the `holders` group.
async fn holder_of(node: NodeId) -> ActorRef<HolderMessage> {
    let mut found = None;
    eventually("the peer's holder", || {
        found = pg::get_members(&HOLDERS.to_owned())
            .into_iter()
            .find(|m| m.get_id().node() == node);
        found.is_some()
    })
    .await;
    found.unwrap().into()
}

// ---------------------------------------------------------------------------------------------
// The peer

static SPAWNED: Mutex<Vec<ActorCell>> = Mutex::new(Vec::new());

/// Spawned by `register_spawnable`: a test actor that the peer can stop on command.
struct Spawnable;

impl Actor for Spawnable {
    type Msg = TestMessage;
    type State = <TestActor as Actor>::State;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<TestMessage>,
        (): (),
    ) -> Result<Self::State, ActorProcessingErr> {
        SPAWNED.lock().unwrap().push(myself.get_cell());
        TestActor.pre_start(myself, ()).await
    }

    async fn handle(
        &self,
        myself: ActorRef<TestMessage>,
        message: TestMessage,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if matches!(message, TestMessage::Num(POISON)) {
            return Err("poisoned".into());
        }
        TestActor.handle(myself, message, state).await
    }
}

async fn peer_main(name: &str) {
    let announce = match std::env::var(ANNOUNCE_ENV).as_deref() {
        Ok("on-demand") => Announce::OnDemand,
        Ok("named-or-grouped") => Announce::NamedOrGrouped,
        _ => Announce::All,
    };
    ractor_cluster::node::register_spawnable("test", || Spawnable);
    let node = start_node(name, announce).await;
    let (holder, _) = Actor::spawn(None, Holder, ()).await.unwrap();
    pg::join(HOLDERS.to_owned(), vec![holder.get_cell()]);
    // Plenty of actors that an on-demand node does not announce.
    let mut quiet = Vec::new();
    for _ in 0..50 {
        quiet.push(Actor::spawn(None, TestActor, ()).await.unwrap().0);
    }
    let mut named = std::collections::HashMap::new();
    let mut commands = Commands::ready(node.port, node.id);
    while let Some(line) = commands.next().await {
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let arg = words.next().unwrap_or_default().to_owned();
        let answer = match command {
            "connect" => {
                let port: u16 = arg.parse().unwrap_or(0);
                match ractor_cluster::client_connect(&node.server, ("127.0.0.1", port)).await {
                    Ok(_) => "OK".to_owned(),
                    Err(err) => format!("ERR {err}"),
                }
            }
            "wait-peers" => {
                let count: usize = arg.parse().unwrap_or(0);
                wait_ready(&node.server, count).await;
                "OK".to_owned()
            }
            "spawn-named" => match Actor::spawn(Some(arg.clone()), TestActor, ()).await {
                Ok((actor, _)) => {
                    named.insert(arg, actor);
                    "OK".to_owned()
                }
                Err(err) => format!("ERR {err}"),
            },
            "stop-named" => match named.remove(&arg) {
                Some(actor) => {
                    actor.stop(Some(format!("bye {arg}")));
                    "OK".to_owned()
                }
                None => "ERR no such actor".to_owned(),
            },
            "stop-spawned" => {
                for cell in SPAWNED.lock().unwrap().drain(..) {
                    cell.stop(Some("retired".into()));
                }
                "OK".to_owned()
            }
            "where-is" => match ractor_cluster::node::where_is(&arg) {
                Some(cell) if cell.get_id().is_local() => format!("AT {}", node.id),
                Some(cell) => format!("AT {}", cell.get_id().node()),
                None => "NONE".to_owned(),
            },
            other => format!("ERR unknown command {other:?}"),
        };
        commands.answer(&answer);
    }
}

// ---------------------------------------------------------------------------------------------
// The parent's handle on a peer

/// A peer process of this executable.
type Peer = PeerProcess;

async fn spawn_peer(name: &str, announce: &str) -> Peer {
    PeerProcess::spawn(name, &[(ANNOUNCE_ENV, announce.to_owned())]).await
}

/// A (this process) and B, connected.
async fn two_nodes(tag: &str, announce_b: &str) -> (LocalNode, Peer) {
    let a = start_node(&format!("{tag}-a"), Announce::All).await;
    let mut b = spawn_peer(&format!("{tag}-b"), announce_b).await;
    b.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 1).await;
    b.ok("wait-peers 1").await;
    (a, b)
}

/// A (this process), B and C, all connected (B and C through A, transitively).
async fn three_nodes(tag: &str, announce_b: &str) -> (LocalNode, Peer, Peer) {
    let a = start_node(&format!("{tag}-a"), Announce::All).await;
    let mut b = spawn_peer(&format!("{tag}-b"), announce_b).await;
    let mut c = spawn_peer(&format!("{tag}-c"), "all").await;
    b.ok(&format!("connect {}", a.port)).await;
    c.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 2).await;
    b.ok("wait-peers 2").await;
    c.ok("wait-peers 2").await;
    (a, b, c)
}

// ---------------------------------------------------------------------------------------------
// The tests

/// B announces on demand: A mirrors only B's group members, yet a reference to any actor of B
/// that arrives in a reply works; passed on to C, it works there too (C reaches B directly).
async fn references_travel_through_a_third_node_and_announce_on_demand() {
    let before = ractor_cluster::node::proxies_created();
    let (a, b, c) = three_nodes("refs", "on-demand").await;
    let on_b = holder_of(b.id).await;
    let on_c = holder_of(c.id).await;
    // B has 50 quiet actors, 1 holder and nothing else announced; C announces everything.
    let from_b = ractor_cluster::node::proxies_created() - before;
    assert!(from_b < 60, "{from_b} proxies after connecting");

    // A reference to an unannounced actor of B, in a reply: a proxy made on demand.
    let created = ractor_cluster::node::proxies_created();
    let fresh = ractor::call_t!(on_b, HolderMessage::Fresh, 5_000).unwrap();
    assert_eq!(fresh.get_id().node(), b.id);
    assert_eq!(ractor_cluster::node::proxies_created(), created + 1);
    assert_eq!(
        ractor::call_t!(fresh, TestMessage::Double, 5_000, 4).unwrap(),
        8
    );

    // Through a third node: C gets it from A and calls B's actor itself.
    on_c.cast(HolderMessage::Hold(fresh.clone())).unwrap();
    assert_eq!(
        ractor::call_t!(on_c, HolderMessage::AskHeld, 5_000, 21).unwrap(),
        42
    );
    // And back: C's reference to B's actor arrives here as the same proxy.
    let back = ractor::call_t!(on_c, HolderMessage::HeldCell, 5_000)
        .unwrap()
        .expect("C holds a reference");
    assert_eq!(back.get_id(), fresh.get_id());

    // A local actor of A, sent to B: B calls it here.
    let (local, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    on_b.cast(HolderMessage::Hold(local.clone())).unwrap();
    assert_eq!(
        ractor::call_t!(on_b, HolderMessage::AskHeld, 5_000, 5).unwrap(),
        10
    );
    drop((b, c));
    local.stop(None);
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
}

/// Remote spawn: typed errors for an unknown kind and bad arguments; a spawned actor is
/// monitored through its proxy, and its exit reason arrives; then node loss has its own reason.
async fn remote_spawn_and_remote_monitors() {
    let (a, mut b, c) = three_nodes("spawn", "all").await;
    let timeout = Duration::from_secs(5);
    let unknown = ractor_cluster::node::spawn_remote(b.id, "nope", &(), timeout).await;
    assert_eq!(
        unknown.unwrap_err(),
        RemoteSpawnError::UnknownKind("nope".into())
    );
    let bad = ractor_cluster::node::spawn_remote(b.id, "test", &7u64, timeout).await;
    assert!(
        matches!(bad, Err(RemoteSpawnError::BadArguments(_))),
        "{bad:?}"
    );
    assert_eq!(
        ractor_cluster::node::spawn_remote(1, "test", &(), timeout)
            .await
            .unwrap_err(),
        RemoteSpawnError::NotConnected(1)
    );

    let (watcher, mut events) = watcher().await;
    let worker: ActorRef<TestMessage> =
        ractor_cluster::node::spawn_remote(b.id, "test", &(), timeout)
            .await
            .unwrap()
            .into();
    assert_eq!(worker.get_id().node(), b.id);
    assert_eq!(
        ractor::call_t!(worker, TestMessage::Double, 5_000, 3).unwrap(),
        6
    );
    watcher.get_cell().monitor(worker.get_cell());
    b.ok("stop-spawned").await;
    let event = within("the worker's end", events.recv()).await.unwrap();
    assert_eq!(event, format!("terminated {} retired", worker.get_id()));

    // Node loss while monitoring.
    let second = ractor_cluster::node::spawn_remote(b.id, "test", &(), timeout)
        .await
        .unwrap();
    watcher.get_cell().monitor(second.clone());
    b.kill().await;
    the_node_loss_arrives(&mut events, &second).await;
    assert_eq!(second.get_status(), ActorStatus::Stopped);
    drop(c);
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
}

/// Names: B's named actor is found on A; B and C both naming one actor `dup` resolve to the
/// node with the smaller id, and to the other once the winner stops.
async fn names_resolve_across_the_cluster_with_a_deterministic_conflict_rule() {
    let (a, mut b, mut c) = three_nodes("names", "all").await;
    b.ok("spawn-named solo").await;
    let mut solo = None;
    eventually("B's named actor on A", || {
        solo = ractor_cluster::node::where_is("solo");
        solo.is_some()
    })
    .await;
    assert_eq!(solo.unwrap().get_id().node(), b.id);

    b.ok("spawn-named dup").await;
    c.ok("spawn-named dup").await;
    let (winner, loser) = if b.id < c.id {
        (&mut b, &mut c)
    } else {
        (&mut c, &mut b)
    };
    let winner_id = winner.id;
    let loser_id = loser.id;
    eventually("both claims of dup to arrive", || {
        ractor_cluster::node::where_is("dup").is_some_and(|cell| cell.get_id().node() == winner_id)
    })
    .await;
    let proxy = ractor_cluster::node::where_is("dup").unwrap();
    let (watcher, mut events) = watcher().await;
    watcher.get_cell().monitor(proxy.clone());
    winner.ok("stop-named dup").await;
    let event = within("the winner's end", events.recv()).await.unwrap();
    assert_eq!(event, format!("terminated {} bye dup", proxy.get_id()));
    eventually("the other claim to take over", || {
        ractor_cluster::node::where_is("dup").is_some_and(|cell| cell.get_id().node() == loser_id)
    })
    .await;
    drop((b, c));
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
}

/// B announces only named and grouped actors: of its 50 unnamed actors and its holder (in a
/// group), A mirrors the holder only; named actors started later are announced as they start;
/// an unnamed actor is still reachable through a reference.
async fn named_or_grouped_announces_only_named_and_grouped_actors() {
    let before = ractor_cluster::node::proxies_created();
    let (a, mut b) = two_nodes("named", "named-or-grouped").await;
    let on_b = holder_of(b.id).await;
    // Everything B announced arrived before its session was ready.
    assert_eq!(ractor_cluster::node::proxies_created() - before, 1);

    b.ok("spawn-named first").await;
    b.ok("spawn-named second").await;
    eventually("B's named actors on A", || {
        ["first", "second"].iter().all(|name| {
            ractor_cluster::node::where_is(name).is_some_and(|cell| cell.get_id().node() == b.id)
        })
    })
    .await;
    assert_eq!(ractor_cluster::node::proxies_created() - before, 3);

    let fresh = ractor::call_t!(on_b, HolderMessage::Fresh, 5_000).unwrap();
    assert_eq!(
        ractor::call_t!(fresh, TestMessage::Double, 5_000, 6).unwrap(),
        12
    );
    assert_eq!(ractor_cluster::node::proxies_created() - before, 4);
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop(b);
}

/// A local actor always wins a name on its own node, even over a remote one found first; the
/// other nodes apply the smallest-node-id rule; when the local one stops, the remote one is found
/// again.
async fn a_local_actor_wins_a_name_conflict_on_its_own_node() {
    let (a, mut b, mut c) = three_nodes("local", "all").await;
    b.ok("spawn-named shared").await;
    eventually("B's actor under the name", || {
        ractor_cluster::node::where_is("shared").is_some_and(|cell| cell.get_id().node() == b.id)
    })
    .await;
    let (local, _) = Actor::spawn(Some("shared".to_owned()), TestActor, ())
        .await
        .unwrap();
    assert_eq!(
        ractor_cluster::node::where_is("shared").map(|cell| cell.get_id()),
        Some(local.get_id())
    );
    // B keeps its own; C, which sees both as remote, picks the smaller node id.
    assert_eq!(b.command("where-is shared").await, format!("AT {}", b.id));
    c.eventually_answers("where-is shared", &format!("AT {}", a.id.min(b.id)))
        .await;

    local.stop_and_wait(None, Some(WAIT)).await.unwrap();
    assert_eq!(
        ractor_cluster::node::where_is("shared").map(|cell| cell.get_id().node()),
        Some(b.id)
    );
    c.eventually_answers("where-is shared", &format!("AT {}", b.id))
        .await;
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop((b, c));
}

/// Waits for the supervision event that reports `actor`'s node lost.
async fn the_node_loss_arrives(events: &mut mpsc::UnboundedReceiver<String>, actor: &ActorCell) {
    let event = within("the node loss", events.recv()).await.unwrap();
    assert_eq!(
        event,
        format!(
            "terminated {} {}",
            actor.get_id(),
            ractor_cluster::node::NODE_LOST
        )
    );
}

/// Asserts that `actor` stands for no actor: a call and a cast fail at once.
async fn assert_fails_clearly(actor: &ActorRef<TestMessage>) {
    let started = std::time::Instant::now();
    let call = ractor::call_t!(actor, TestMessage::Double, 5_000, 1);
    assert!(call.is_err(), "a call to a gone actor answered {call:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the call took {:?} to fail",
        started.elapsed()
    );
    assert!(actor.cast(TestMessage::Num(1)).is_err());
    eventually("the cell to stop", || {
        actor.get_status() == ActorStatus::Stopped
    })
    .await;
}

/// References to actors that are gone: a local actor that stopped while B held a reference to it
/// comes back as a stopped cell; an actor of B that stopped before its reference arrived becomes
/// a proxy that stops with `NO_SUCH_ACTOR`. Using either fails at once.
async fn references_to_gone_actors_fail_clearly() {
    let (a, b) = two_nodes("gone", "on-demand").await;
    let on_b = holder_of(b.id).await;

    let (local, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    on_b.cast(HolderMessage::Hold(local.clone())).unwrap();
    assert_eq!(
        ractor::call_t!(on_b, HolderMessage::AskHeld, 5_000, 2).unwrap(),
        4
    );
    local.stop_and_wait(None, Some(WAIT)).await.unwrap();
    let back: ActorRef<TestMessage> = ractor::call_t!(on_b, HolderMessage::HeldCell, 5_000)
        .unwrap()
        .expect("B holds a reference")
        .into();
    assert_eq!(back.get_id().pid(), local.get_id().pid());
    assert_fails_clearly(&back).await;

    let (watcher, mut events) = watcher().await;
    let dead = ractor::call_t!(on_b, HolderMessage::Dead, 5_000).unwrap();
    assert_eq!(dead.get_id().node(), b.id);
    watcher.get_cell().monitor(dead.get_cell());
    let event = within("the gone actor's proxy to stop", events.recv())
        .await
        .unwrap();
    assert_eq!(
        event,
        format!(
            "terminated {} {}",
            dead.get_id(),
            ractor_cluster::node::NO_SUCH_ACTOR
        )
    );
    assert_fails_clearly(&dead).await;
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop(b);
}

/// A local actor linked to a proxy (ractor's `link`, not only a monitor) supervises the remote
/// actor: it receives the real actor's failure with its error text, and the node loss; the
/// session forgets the failed proxy all the same.
async fn a_local_supervisor_linked_to_a_proxy_receives_the_failure() {
    let (a, mut b) = two_nodes("link", "all").await;
    let timeout = Duration::from_secs(5);
    let (supervisor, mut events) = watcher().await;
    let worker: ActorRef<TestMessage> =
        ractor_cluster::node::spawn_remote(b.id, "test", &(), timeout)
            .await
            .unwrap()
            .into();
    worker.get_cell().link(supervisor.get_cell());
    assert_eq!(
        ractor::call_t!(worker, TestMessage::Double, 5_000, 7).unwrap(),
        14
    );
    let running = ractor_cluster::node::proxies_running();
    worker.cast(TestMessage::Num(POISON)).unwrap();
    let event = within("the worker's failure", events.recv()).await.unwrap();
    assert_eq!(event, format!("failed {} poisoned", worker.get_id()));
    eventually("the failed proxy to be forgotten", || {
        ractor_cluster::node::proxies_running() == running - 1
    })
    .await;

    let second = ractor_cluster::node::spawn_remote(b.id, "test", &(), timeout)
        .await
        .unwrap();
    second.link(supervisor.get_cell());
    b.kill().await;
    the_node_loss_arrives(&mut events, &second).await;
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
}

// ---------------------------------------------------------------------------------------------
// The runner

const TESTS: &[(&str, TestFn)] = tests![
    references_travel_through_a_third_node_and_announce_on_demand,
    remote_spawn_and_remote_monitors,
    names_resolve_across_the_cluster_with_a_deterministic_conflict_rule,
    named_or_grouped_announces_only_named_and_grouped_actors,
    a_local_actor_wins_a_name_conflict_on_its_own_node,
    references_to_gone_actors_fail_clearly,
    a_local_supervisor_linked_to_a_proxy_receives_the_failure,
];

fn main() -> ExitCode {
    common::peer_process::main(TESTS, Some(WAIT * 6), |name| async move {
        peer_main(&name).await
    })
}
