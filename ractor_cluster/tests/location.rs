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
//! | `spawn-named-holder <name>` | spawns a [`Holder`] registered under `name`         | `OK`    |
//! | `spawn-named-failing <name>` | spawns an actor under `name` that fails on `Num(POISON)` | `OK` |
//! | `spawn-named-untyped <name>` | spawns an actor of an unregistered message type under `name` | `OK` |
//! | `registry-at <name>` | finds `name` with `ractor::registry::where_is`, as a holder: where it runs (see [`registry_node`]) | `AT <node id>` or `NONE` |
//! | `ready-peers`        | counts the sessions that are ready                         | `PEERS <n>` |
//!
//! Each peer runs a [`Holder`] in the group `holders` and registers the spawnable kind `test`
//! (a test actor, arguments `()`, that fails when it receives `Num(POISON)`). A peer is
//! transitive unless `RACTOR_CLUSTER_LOCATION_MODE=isolated`, and puts its peers' named actors
//! in ractor's registry if `RACTOR_CLUSTER_LOCATION_REGISTRY=on`. ractor's registries are global
//! to a process, so each node runs in its own.

mod common;

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use common::peer_process::{tests, Commands, PeerProcess, TestFn};
use common::{eventually, within, TestActor, TestMessage, WAIT};
use ractor::{
    pg, Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort,
    SupervisionEvent,
};
use ractor_cluster::node::{Announce, RemoteSpawnError};
use ractor_cluster::{
    NodeConnectionMode, NodeId, NodeServer, NodeServerMessage, RactorClusterMessage,
};
use tokio::sync::mpsc;

const ANNOUNCE_ENV: &str = "RACTOR_CLUSTER_LOCATION_ANNOUNCE";
const MODE_ENV: &str = "RACTOR_CLUSTER_LOCATION_MODE";
/// `on`: the peer's node puts its peers' named actors in ractor's registry.
const REGISTRY_ENV: &str = "RACTOR_CLUSTER_LOCATION_REGISTRY";
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

/// The message of [`Untyped`]: generic, so the derive does not register it for name forwarding.
#[derive(RactorClusterMessage)]
enum UntypedMessage<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static> {
    Ping(T),
}

/// A named actor whose message type no node registers: found by `node::where_is` only.
struct Untyped;

impl Actor for Untyped {
    type Msg = UntypedMessage<u64>;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Self::Msg>, (): ()) -> Result<(), ActorProcessingErr> {
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
    start_node_with(name, announce, NodeConnectionMode::Transitive, |server| {
        server
    })
    .await
}

async fn start_node_with(
    name: &str,
    announce: Announce,
    mode: NodeConnectionMode,
    configure: impl FnOnce(NodeServer) -> NodeServer,
) -> LocalNode {
    let server = NodeServer::new(
        0,
        "cookie".into(),
        name.into(),
        "localhost".into(),
        None,
        Some(mode),
    )
    .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
    .with_announcement(announce);
    let server = configure(server);
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

/// Where the holder that ractor's registry finds under `name` runs: `own` for a local one, else
/// the node of the test actor that its `Fresh` makes. A name forwarder thus answers for the
/// remote holder it stands for.
async fn registry_node(name: &str, own: NodeId) -> Option<NodeId> {
    let holder: ActorRef<HolderMessage> = ractor::registry::where_is(name)?.into();
    let fresh = ractor::call_t!(holder, HolderMessage::Fresh, 5_000).ok()?;
    Some(match fresh.get_id() {
        ActorId::Local(_) => own,
        ActorId::Remote { node_id, .. } => node_id,
    })
}

/// Waits until ractor's registry of this process finds the holder `name` on node `node`.
async fn registry_eventually_at(name: &str, own: NodeId, node: NodeId) {
    within(
        &format!("ractor's registry to find {name} on {node}"),
        async {
            while registry_node(name, own).await != Some(node) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    )
    .await;
}

/// Hands `holder` a reference to `actor`, and checks that the holder calls `actor` through it.
async fn hold_and_call(holder: &ActorRef<HolderMessage>, actor: &ActorRef<TestMessage>, n: u64) {
    holder.cast(HolderMessage::Hold(actor.clone())).unwrap();
    assert_eq!(
        ractor::call_t!(holder, HolderMessage::AskHeld, 5_000, n).unwrap(),
        2 * n
    );
}

/// The reference that `holder` holds, as it comes back here.
async fn held_by(holder: &ActorRef<HolderMessage>) -> ActorCell {
    ractor::call_t!(holder, HolderMessage::HeldCell, 5_000)
        .unwrap()
        .expect("the holder holds a reference")
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

/// Spawns `actor` under `name` and keeps it in `named`; the peer's answer.
async fn spawn_named<A: Actor<Arguments = ()>>(
    named: &mut std::collections::HashMap<String, ActorCell>,
    name: String,
    actor: A,
) -> String {
    match Actor::spawn(Some(name.clone()), actor, ()).await {
        Ok((actor, _)) => {
            named.insert(name, actor.get_cell());
            "OK".to_owned()
        }
        Err(err) => format!("ERR {err}"),
    }
}

async fn peer_main(name: &str) {
    let announce = match std::env::var(ANNOUNCE_ENV).as_deref() {
        Ok("on-demand") => Announce::OnDemand,
        Ok("named-or-grouped") => Announce::NamedOrGrouped,
        _ => Announce::All,
    };
    let mode = match std::env::var(MODE_ENV).as_deref() {
        Ok("isolated") => NodeConnectionMode::Isolated,
        _ => NodeConnectionMode::Transitive,
    };
    ractor_cluster::node::register_spawnable("test", || Spawnable);
    let registry = std::env::var(REGISTRY_ENV).as_deref() == Ok("on");
    let node = start_node_with(name, announce, mode, |server| {
        server.with_remote_names_in_registry(registry)
    })
    .await;
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
            "spawn-named" => spawn_named(&mut named, arg, TestActor).await,
            "spawn-named-holder" => spawn_named(&mut named, arg, Holder).await,
            "spawn-named-failing" => spawn_named(&mut named, arg, Spawnable).await,
            "spawn-named-untyped" => spawn_named(&mut named, arg, Untyped).await,
            "registry-at" => match registry_node(&arg, node.id).await {
                Some(at) => format!("AT {at}"),
                None => "NONE".to_owned(),
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
            "ready-peers" => format!("PEERS {}", ready_sessions(&node.server).await),
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

/// A node of this process whose peers' named actors are in ractor's registry.
async fn start_registry_node(name: &str) -> LocalNode {
    start_node_with(
        name,
        Announce::All,
        NodeConnectionMode::Transitive,
        |server| server.with_remote_names_in_registry(true),
    )
    .await
}

/// A peer whose peers' named actors are in ractor's registry.
async fn spawn_registry_peer(name: &str) -> Peer {
    PeerProcess::spawn(
        name,
        &[
            (ANNOUNCE_ENV, "all".to_owned()),
            (REGISTRY_ENV, "on".to_owned()),
        ],
    )
    .await
}

async fn spawn_isolated_peer(name: &str, announce: &str) -> Peer {
    PeerProcess::spawn(
        name,
        &[
            (ANNOUNCE_ENV, announce.to_owned()),
            (MODE_ENV, "isolated".to_owned()),
        ],
    )
    .await
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
    hold_and_call(&on_c, &fresh, 21).await;
    // And back: C's reference to B's actor arrives here as the same proxy.
    let back = held_by(&on_c).await;
    assert_eq!(back.get_id(), fresh.get_id());

    // A local actor of A, sent to B: B calls it here.
    let (local, _) = Actor::spawn(None, TestActor, ()).await.unwrap();
    hold_and_call(&on_b, &local, 5).await;
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

/// Names: B's named actor is found on A (with `node::where_is`; not in ractor's registry, by
/// default); B and C both naming one actor `dup` resolve to the node with the smaller id, and to
/// the other once the winner stops.
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
    // By default ractor's registry keeps local actors only (B and C spawn `dup` after they met).
    assert!(ractor::registry::where_is("solo").is_none());

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

/// ractor's own registry finds B's named actor on A, through a local name forwarder: casts and
/// calls reach B's actor, a reference to the forwarder travels as one to B's actor, and a monitor
/// of the forwarder sees B's actor stop with its reason, or fail with its error text; the name
/// then disappears.
async fn a_remote_named_actor_is_found_in_ractors_registry() {
    let a = start_registry_node("registry-a").await;
    let mut b = spawn_registry_peer("registry-b").await;
    b.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 1).await;
    b.ok("wait-peers 1").await;
    let on_b = holder_of(b.id).await;
    b.ok("spawn-named found").await;
    let mut found = None;
    eventually("B's named actor in ractor's registry", || {
        found = ractor::registry::where_is("found");
        found.is_some()
    })
    .await;
    let forwarder: ActorRef<TestMessage> = found.unwrap().into();
    let proxy = ractor_cluster::node::where_is("found").expect("B's actor by name");
    assert!(forwarder.get_id().is_local(), "a local stand-in");
    assert_eq!(proxy.get_id().node(), b.id);

    forwarder.cast(TestMessage::Num(3)).unwrap();
    forwarder.cast(TestMessage::Num(4)).unwrap();
    assert_eq!(
        ractor::call_t!(forwarder, TestMessage::Numbers, 5_000).unwrap(),
        vec![3, 4]
    );
    assert_eq!(
        ractor::call_t!(forwarder, TestMessage::Double, 5_000, 21).unwrap(),
        42
    );

    // Sent to B, the forwarder arrives as B's own actor, and comes back as its proxy.
    hold_and_call(&on_b, &forwarder, 5).await;
    let back = held_by(&on_b).await;
    assert_eq!(back.get_id(), proxy.get_id());

    let (watcher, mut events) = watcher().await;
    watcher.get_cell().monitor(forwarder.get_cell());
    b.ok("stop-named found").await;
    let event = within("the named actor's end", events.recv())
        .await
        .unwrap();
    assert_eq!(
        event,
        format!("terminated {} bye found", forwarder.get_id())
    );
    eventually("the name to go", || {
        ractor::registry::where_is("found").is_none()
    })
    .await;

    b.ok("spawn-named-failing doomed").await;
    let mut doomed = None;
    eventually("B's failing actor in ractor's registry", || {
        doomed = ractor::registry::where_is("doomed");
        doomed.is_some()
    })
    .await;
    let doomed: ActorRef<TestMessage> = doomed.unwrap().into();
    watcher.get_cell().monitor(doomed.get_cell());
    doomed.cast(TestMessage::Num(POISON)).unwrap();
    let event = within("the named actor's failure", events.recv())
        .await
        .unwrap();
    assert_eq!(event, format!("failed {} poisoned", doomed.get_id()));
    eventually("the name to go", || {
        ractor::registry::where_is("doomed").is_none()
    })
    .await;
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop(b);
}

/// Two remote nodes with one name: ractor's registry finds the one with the smaller node id, and
/// moves to it when it joins after the other (the first forwarder stops with `NAME_MOVED`); each
/// of the two keeps its own; when the winner stops, every other node finds the other one.
async fn names_in_ractors_registry_follow_the_conflict_rule() {
    // B and C name theirs before they meet: once a name is known, it is taken on every node
    // that puts remote names in ractor's registry.
    let a = start_registry_node("regnames-a").await;
    let mut b = spawn_registry_peer("regnames-b").await;
    let mut c = spawn_registry_peer("regnames-c").await;
    b.ok("spawn-named-holder dupe").await;
    c.ok("spawn-named-holder dupe").await;
    let (small, large) = if b.id < c.id {
        (&mut b, &mut c)
    } else {
        (&mut c, &mut b)
    };
    let (small_id, large_id) = (small.id, large.id);
    large.ok(&format!("connect {}", a.port)).await;
    registry_eventually_at("dupe", a.id, large_id).await;
    let first = ractor::registry::where_is("dupe").expect("a forwarder");
    let (watcher, mut events) = watcher().await;
    watcher.get_cell().monitor(first.clone());

    // The node with the smaller id joins (and, transitively, meets the other).
    small.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 2).await;
    small.ok("wait-peers 2").await;
    large.ok("wait-peers 2").await;
    let event = within("the first forwarder to make way", events.recv())
        .await
        .unwrap();
    assert_eq!(
        event,
        format!(
            "terminated {} {}",
            first.get_id(),
            ractor_cluster::node::NAME_MOVED
        )
    );
    registry_eventually_at("dupe", a.id, small_id).await;
    assert_eq!(
        small.command("registry-at dupe").await,
        format!("AT {small_id}")
    );
    assert_eq!(
        large.command("registry-at dupe").await,
        format!("AT {large_id}")
    );

    let second = ractor::registry::where_is("dupe").expect("a forwarder");
    watcher.get_cell().monitor(second.clone());
    small.ok("stop-named dupe").await;
    let event = within("the winner's end", events.recv()).await.unwrap();
    assert_eq!(event, format!("terminated {} bye dupe", second.get_id()));
    registry_eventually_at("dupe", a.id, large_id).await;
    small
        .eventually_answers("registry-at dupe", &format!("AT {large_id}"))
        .await;
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop((b, c));
}

/// The winner of a name whose message type is not registered here has no forwarder (nor does
/// the name resolve to the loser's); when it stops, the next winner gets one.
async fn a_name_passes_to_the_next_winner_after_an_unregistered_type() {
    let a = start_registry_node("untyped-a").await;
    let mut b = spawn_registry_peer("untyped-b").await;
    let mut c = spawn_registry_peer("untyped-c").await;
    let (small, large) = if b.id < c.id {
        (&mut b, &mut c)
    } else {
        (&mut c, &mut b)
    };
    let (small_id, large_id) = (small.id, large.id);
    small.ok("spawn-named-untyped mixed").await;
    large.ok("spawn-named-holder mixed").await;
    small.ok(&format!("connect {}", a.port)).await;
    large.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 2).await;
    small.ok("wait-peers 2").await;
    large.ok("wait-peers 2").await;
    // Announced after the initial announcements: once its forwarder is here, so is all the rest.
    large.ok("spawn-named-holder mixed-marker").await;
    registry_eventually_at("mixed-marker", a.id, large_id).await;
    assert_eq!(
        ractor_cluster::node::where_is("mixed").map(|cell| cell.get_id().node()),
        Some(small_id)
    );
    assert!(ractor::registry::where_is("mixed").is_none());

    small.ok("stop-named mixed").await;
    registry_eventually_at("mixed", a.id, large_id).await;
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop((b, c));
}

/// Name forwarders are never announced: of B and C, the one with the larger node id (H) names an
/// actor; the other (O) and A each get a forwarder for it. Were O's forwarder announced, A would see
/// O's smaller id win the name.
async fn name_forwarders_are_not_announced() {
    let a = start_registry_node("quiet-a").await;
    let mut b = spawn_registry_peer("quiet-b").await;
    let mut c = spawn_registry_peer("quiet-c").await;
    b.ok(&format!("connect {}", a.port)).await;
    c.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 2).await;
    b.ok("wait-peers 2").await;
    c.ok("wait-peers 2").await;
    let (host, other) = if b.id > c.id {
        (&mut b, &mut c)
    } else {
        (&mut c, &mut b)
    };
    let host_id = host.id;
    let other_id = other.id;
    host.ok("spawn-named-holder tri").await;
    other
        .eventually_answers("registry-at tri", &format!("AT {host_id}"))
        .await;
    registry_eventually_at("tri", a.id, host_id).await;
    // Announced after O's forwarder started: once A knows the marker, it knows all O announced.
    other.ok("spawn-named tri-marker").await;
    eventually("O's marker on A", || {
        ractor_cluster::node::where_is("tri-marker")
            .is_some_and(|cell| cell.get_id().node() == other_id)
    })
    .await;
    assert_eq!(
        ractor_cluster::node::where_is("tri").map(|cell| cell.get_id().node()),
        Some(host_id)
    );
    assert_eq!(other.command("where-is tri").await, format!("AT {host_id}"));
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop((b, c));
}

/// A local actor keeps its name in ractor's registry over a remote one (on each node); once it
/// stops, the remote one takes the name here, and a local actor spawned under it then finds it
/// taken.
async fn a_local_actor_keeps_its_name_in_ractors_registry_until_it_stops() {
    // A and B name theirs before they meet: once a name is known, it is taken on every node.
    let a = start_registry_node("reglocal-a").await;
    let (local, _) = Actor::spawn(Some("kept".to_owned()), Holder, ())
        .await
        .unwrap();
    let mut b = spawn_registry_peer("reglocal-b").await;
    b.ok("spawn-named-holder kept").await;
    b.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 1).await;
    b.ok("wait-peers 1").await;
    // Announced after B's initial announcements: once its forwarder is here, B's claim of `kept`
    // was seen.
    b.ok("spawn-named-holder kept-marker").await;
    registry_eventually_at("kept-marker", a.id, b.id).await;
    assert_eq!(registry_node("kept", a.id).await, Some(a.id));
    assert_eq!(b.command("registry-at kept").await, format!("AT {}", b.id));
    assert_eq!(
        ractor_cluster::node::where_is("kept").map(|cell| cell.get_id()),
        Some(local.get_id())
    );

    local.stop_and_wait(None, Some(WAIT)).await.unwrap();
    registry_eventually_at("kept", a.id, b.id).await;
    let taken = Actor::spawn(Some("kept".to_owned()), TestActor, ()).await;
    assert!(
        matches!(taken, Err(ractor::SpawnErr::ActorAlreadyRegistered(_))),
        "{:?}",
        taken.err()
    );
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop(b);
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
    hold_and_call(&on_b, &local, 2).await;
    local.stop_and_wait(None, Some(WAIT)).await.unwrap();
    let back: ActorRef<TestMessage> = held_by(&on_b).await.into();
    assert_eq!(back.get_id().pid(), local.get_id().pid());
    assert_fails_clearly(&back).await;

    let (watcher, mut events) = watcher().await;
    let dead = ractor::call_t!(on_b, HolderMessage::Dead, 5_000).unwrap();
    assert_eq!(dead.get_id().node(), b.id);
    watcher.get_cell().monitor(dead.get_cell());
    // The proxy asked B about the actor as the reference arrived, and B's answer may have ended
    // it before the monitor was set (a loaded machine delays this task): then no event comes,
    // and only the checks below apply.
    if dead.get_status() != ActorStatus::Stopped {
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
    }
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

/// A reference to an actor of a node that the receiver has no session with yet: C learns of B's
/// actor from A before anyone told C about B (C connected to A first; B, isolated, connected to
/// A later and dials nobody). C asks A where B is, connects to B, and what it sent meanwhile is
/// delivered.
async fn a_reference_to_a_node_not_yet_connected_waits_for_the_session() {
    let a = start_node("wait-a", Announce::All).await;
    let mut c = spawn_peer("wait-c", "all").await;
    c.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 1).await;
    c.ok("wait-peers 1").await;
    let mut b = spawn_isolated_peer("wait-b", "all").await;
    b.ok(&format!("connect {}", a.port)).await;
    wait_ready(&a.server, 2).await;
    b.ok("wait-peers 1").await;
    let on_b = holder_of(b.id).await;
    let on_c = holder_of(c.id).await;
    assert_eq!(c.command("ready-peers").await, "PEERS 1", "C knows only A");

    let fresh = ractor::call_t!(on_b, HolderMessage::Fresh, 5_000).unwrap();
    // C calls B's actor right after it receives the reference, before it can be connected to B.
    hold_and_call(&on_c, &fresh, 21).await;
    assert_eq!(
        c.command("ready-peers").await,
        "PEERS 2",
        "C connected to B"
    );
    // The proxy is C's ordinary proxy of B's actor from now on: it comes back as the same actor.
    let back = held_by(&on_c).await;
    assert_eq!(back.get_id(), fresh.get_id());
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
    drop((b, c));
}

/// A trivial handler for a remote cell made up by a test.
struct Nowhere;

impl Actor for Nowhere {
    type Msg = TestMessage;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<TestMessage>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A reference to actor `pid` of node `node_id` (a node nobody knows), as it arrives in a message:
/// made from a remote cell of this process that is gone by then. `watcher` supervises that cell,
/// and its end is taken from `events`.
async fn reference_from_unknown_node(
    node_id: NodeId,
    pid: u64,
    watcher: &ActorRef<()>,
    events: &mut mpsc::UnboundedReceiver<String>,
) -> ActorRef<TestMessage> {
    use ractor::Message;

    let unknown = ActorId::Remote { node_id, pid };
    let (made_up, _) =
        ractor::ActorRuntime::spawn_linked_remote(None, Nowhere, unknown, (), watcher.get_cell())
            .await
            .unwrap();
    let bytes = HolderMessage::Hold(made_up.clone()).serialize().unwrap();
    made_up.stop_and_wait(None, Some(WAIT)).await.unwrap();
    let _ = within("the made-up cell's end", events.recv()).await;
    let HolderMessage::Hold(arrived) = HolderMessage::deserialize(bytes).unwrap() else {
        unreachable!("a Hold decodes as a Hold")
    };
    assert_eq!(arrived.get_id(), unknown);
    arrived
}

/// A reference to an actor of a node that no peer knows: a transitive node waits for a session as
/// long as configured, keeping what is sent; then the proxy stops with `UNREACHABLE` and the call
/// it kept fails at once (well before the caller's timeout).
async fn a_reference_to_an_unknown_node_fails_after_the_wait() {
    let a = start_node_with(
        "nowhere-a",
        Announce::All,
        NodeConnectionMode::Transitive,
        |server| server.with_reference_wait(Duration::from_millis(300)),
    )
    .await;
    let (watcher, mut events) = watcher().await;
    let waiting = reference_from_unknown_node(0x5eed, 9, &watcher, &mut events).await;
    watcher.get_cell().monitor(waiting.get_cell());
    waiting
        .cast(TestMessage::Num(1))
        .expect("kept while waiting");
    let started = std::time::Instant::now();
    let call = ractor::call_t!(waiting, TestMessage::Double, 5_000, 1);
    assert!(
        call.is_err(),
        "a call to an unreachable actor answered {call:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the call failed only after {:?}",
        started.elapsed()
    );
    let event = within("the waiting proxy to stop", events.recv())
        .await
        .unwrap();
    assert_eq!(
        event,
        format!(
            "terminated {} {}",
            waiting.get_id(),
            ractor_cluster::node::UNREACHABLE
        )
    );
    let _ = a.server.stop_and_wait(None, Some(WAIT)).await;
}

/// A waiting reference keeps at most 1,024 messages: beyond that, a call fails at once instead
/// of waiting (here for a session that would take 60 s to give up on).
async fn a_waiting_reference_refuses_messages_beyond_its_bound() {
    let a = start_node_with(
        "bound-a",
        Announce::All,
        NodeConnectionMode::Transitive,
        |server| server.with_reference_wait(Duration::from_secs(60)),
    )
    .await;
    let (watcher, mut events) = watcher().await;
    let waiting = reference_from_unknown_node(0xb0b0, 3, &watcher, &mut events).await;
    for n in 0..1024 {
        waiting
            .cast(TestMessage::Num(n))
            .expect("kept while waiting");
    }
    let started = std::time::Instant::now();
    let call = ractor::call_t!(waiting, TestMessage::Double, 30_000, 1);
    assert!(call.is_err(), "a refused call answered {call:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the refused call failed only after {:?}",
        started.elapsed()
    );
    waiting.get_cell().stop(None);
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
    a_remote_named_actor_is_found_in_ractors_registry,
    names_in_ractors_registry_follow_the_conflict_rule,
    a_local_actor_keeps_its_name_in_ractors_registry_until_it_stops,
    name_forwarders_are_not_announced,
    a_name_passes_to_the_next_winner_after_an_unregistered_type,
    references_to_gone_actors_fail_clearly,
    a_local_supervisor_linked_to_a_proxy_receives_the_failure,
    a_reference_to_a_node_not_yet_connected_waits_for_the_session,
    a_reference_to_an_unknown_node_fails_after_the_wait,
    a_waiting_reference_refuses_messages_beyond_its_bound,
];

fn main() -> ExitCode {
    common::peer_process::main(TESTS, Some(WAIT * 6), |name| async move {
        peer_main(&name).await
    })
}
