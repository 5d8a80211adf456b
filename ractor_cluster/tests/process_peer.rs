//! Nodes in separate processes: peers that are killed, stopped, chained three at a time, or
//! that send a frame over a node's limit.
//!
//! This executable is both the test runner (`harness = false`, see `main`) and the peer: started
//! again with `RACTOR_CLUSTER_TEST_PEER=<name>` in its environment, it runs a node called
//! `<name>@localhost` on 127.0.0.1, spawns a [`TestActor`] that joins the group named by
//! `RACTOR_CLUSTER_TEST_GROUP`, prints `READY <port> <node id>` and then follows one command per
//! line on stdin, answering each with one line on stdout:
//!
//! | command            | effect                                                  | answer            |
//! |--------------------|---------------------------------------------------------|-------------------|
//! | `connect <port>`   | `client_connect` to 127.0.0.1:port                      | `OK`              |
//! | `sessions`         | the authenticated peers' names                          | `SESSIONS a,b`    |
//! | `wait-remote <id>` | waits until a proxy of node `<id>` is in the group     | `OK`              |
//! | `cast-blob <len>`  | casts a `len`-byte `Blob` to that proxy                 | `OK`              |
//! | `double <n>`       | calls `Double(n)` on that proxy                         | `VALUE <2n>`      |
//! | `stop-server`      | stops the node server and waits for it                  | `OK`              |
//!
//! Failures answer `ERR <reason>`. The peer exits when its stdin closes, so it never outlives
//! the test that started it; the tests also kill it when they end, however they end.
//!
//! ractor's registries are global to a process: a node in a separate process sees only its own
//! actors, as in production.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use common::{
    held_call, remote_members, spawn_in_group, start_node_with, within, CallTask, Event, Node,
    NodeOptions, TestMessage, WAIT,
};
use std::sync::{Arc, Mutex};

use ractor::ActorRef;
use ractor_cluster::membership::{self, MemberEvent, MemberStatus, MemberSubscription};
use ractor_cluster::{NodeConnectionMode, NodeId};

const GROUP_ENV: &str = "RACTOR_CLUSTER_TEST_GROUP";
const MODE_ENV: &str = "RACTOR_CLUSTER_TEST_MODE";
/// The port the peer listens on (a free one if unset).
const PORT_ENV: &str = "RACTOR_CLUSTER_TEST_PORT";
/// Set: the peer uses [`FAST_HEARTBEAT`] and [`FAST_DOWN_AFTER`], and redials at most
/// [`FAST_MAX_BACKOFF`] apart.
const FAST_ENV: &str = "RACTOR_CLUSTER_TEST_FAST";
/// Set: the peer uses [`PATIENT_LIVENESS`] and redials at most [`FAST_MAX_BACKOFF`] apart.
const PATIENT_ENV: &str = "RACTOR_CLUSTER_TEST_PATIENT";
/// How many peers the peer watches (`NodeServer::with_watched_peers`), if not the default.
const WATCH_ENV: &str = "RACTOR_CLUSTER_TEST_WATCHED_PEERS";
/// How many times `a_frozen_peer_is_declared_down_within_the_bound` freezes its peer (default 3).
const TRIALS_ENV: &str = "RACTOR_CLUSTER_DOWN_TRIALS";

/// Liveness settings of the failure-detection tests: short, so the suite stays fast.
const FAST_HEARTBEAT: Duration = Duration::from_millis(500);
const FAST_DOWN_AFTER: Duration = Duration::from_millis(1500);
const FAST_MAX_BACKOFF: Duration = Duration::from_millis(200);
/// Liveness settings of a test in which only a probe can show a connection dead: a peer is
/// declared down after a minute of silence, and the parent's heartbeats are half a minute apart.
const PATIENT_LIVENESS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
const PATIENT_PARENT_LIVENESS: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(60));

// ---------------------------------------------------------------------------------------------
// The runner

use common::peer_process::{tests, Commands, PeerProcess, TestFn};

const TESTS: &[(&str, TestFn)] = tests![
    a_killed_peer_ends_its_session_and_fails_the_pending_call,
    a_peer_whose_server_stops_ends_its_session_and_fails_the_pending_call,
    transitive_nodes_connect_to_the_peers_of_their_peers,
    isolated_nodes_connect_only_where_told,
    a_frame_over_the_limit_ends_that_session_only,
    a_new_run_of_a_live_peer_is_refused_until_the_old_run_is_shown_dead,
    a_new_run_gets_in_once_a_probe_shows_the_old_connection_dead,
    a_frozen_peer_is_declared_down_within_the_bound,
    a_frozen_peer_is_marked_down_by_a_node_that_does_not_watch_it,
    a_restarted_peer_is_dialed_again_and_gets_nothing_meant_for_its_previous_run,
];

fn main() -> ExitCode {
    common::peer_process::main(TESTS, None, |name| async move { peer_main(&name).await })
}

// ---------------------------------------------------------------------------------------------
// The peer

async fn peer_main(name: &str) {
    let group = std::env::var(GROUP_ENV).expect("the peer's group");
    let mode = match std::env::var(MODE_ENV).as_deref() {
        Ok("transitive") => NodeConnectionMode::Transitive,
        _ => NodeConnectionMode::Isolated,
    };
    let port = std::env::var(PORT_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let fast = std::env::var_os(FAST_ENV).is_some();
    let patient = std::env::var_os(PATIENT_ENV).is_some();
    let watched_peers = std::env::var(WATCH_ENV).ok().and_then(|n| n.parse().ok());
    let node = start_node_with(
        name,
        NodeOptions {
            mode,
            port,
            liveness: if patient {
                Some(PATIENT_LIVENESS)
            } else {
                fast.then_some((FAST_HEARTBEAT, FAST_DOWN_AFTER))
            },
            reconnect: (fast || patient).then(|| {
                ractor_cluster::node::ReconnectPolicy::default().with_max_backoff(FAST_MAX_BACKOFF)
            }),
            watched_peers,
            ..NodeOptions::default()
        },
    )
    .await;
    let _actor = spawn_in_group(&group).await;
    let mut commands = Commands::ready(node.port, node.id);
    // The parent closing stdin (or dying) ends the peer.
    while let Some(line) = commands.next().await {
        let answer = match peer_command(&node, &group, &line).await {
            Ok(answer) => answer,
            Err(reason) => format!("ERR {reason}"),
        };
        commands.answer(&answer);
    }
}

async fn peer_command(node: &Node, group: &str, line: &str) -> Result<String, String> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let mut number = || -> Result<u64, String> {
        words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("{command}: expected a number"))
    };
    match command {
        "connect" => {
            let port = u16::try_from(number()?).map_err(|e| e.to_string())?;
            ractor_cluster::client_connect(&node.server, ("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())?;
            Ok("OK".into())
        }
        "sessions" => Ok(format!("SESSIONS {}", node.peer_names().await.join(","))),
        "wait-remote" => {
            let node_id = number()?;
            tokio::time::timeout(WAIT, async {
                while remote_of(group, node_id).is_none() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .map_err(|_| "no proxy of that node joined the group".to_owned())?;
            Ok("OK".into())
        }
        "cast-blob" => {
            let len = number()?;
            let proxy = any_remote(group)?;
            proxy
                .cast(TestMessage::Blob(common::patterned(len as usize)))
                .map_err(|e| e.to_string())?;
            Ok("OK".into())
        }
        "double" => {
            let n = number()?;
            let proxy = any_remote(group)?;
            let value =
                ractor::call_t!(proxy, TestMessage::Double, 5_000, n).map_err(|e| e.to_string())?;
            Ok(format!("VALUE {value}"))
        }
        "stop-server" => {
            node.server.stop(None);
            tokio::time::timeout(WAIT, async {
                while node.server.get_status() != ractor::ActorStatus::Stopped {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .map_err(|_| "the server did not stop".to_owned())?;
            Ok("OK".into())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn remote_of(group: &str, node_id: NodeId) -> Option<ActorRef<TestMessage>> {
    remote_members(group)
        .into_iter()
        .find(|m| m.get_id().node() == node_id)
        .map(Into::into)
}

fn any_remote(group: &str) -> Result<ActorRef<TestMessage>, String> {
    remote_members(group)
        .into_iter()
        .next()
        .map(Into::into)
        .ok_or_else(|| "no remote member in the group".to_owned())
}

// ---------------------------------------------------------------------------------------------
// The parent's handle on a peer

/// A peer process of this executable.
type Peer = PeerProcess;

async fn spawn_peer(name: &str, group: &str, mode: NodeConnectionMode) -> Peer {
    spawn_peer_with(name, group, mode, &[]).await
}

/// [`spawn_peer`] with more environment variables (`PORT_ENV`, `FAST_ENV`).
async fn spawn_peer_with(
    name: &str,
    group: &str,
    mode: NodeConnectionMode,
    env: &[(&str, String)],
) -> Peer {
    let mode = match mode {
        NodeConnectionMode::Transitive => "transitive",
        NodeConnectionMode::Isolated => "isolated",
    };
    let mut vars = vec![(GROUP_ENV, group.to_owned()), (MODE_ENV, mode.to_owned())];
    vars.extend_from_slice(env);
    PeerProcess::spawn(name, &vars).await
}

/// The commands particular to this file's peers.
impl PeerProcess {
    async fn peer_names(&mut self) -> Vec<String> {
        let answer = self.command("sessions").await;
        let list = answer
            .strip_prefix("SESSIONS")
            .unwrap_or_else(|| panic!("{answer}"))
            .trim();
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Polls the peer's session list until it is `expected` (sorted names).
    async fn wait_for_peers(&mut self, expected: &[&str]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let names = self.peer_names().await;
            if names == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} has sessions {names:?}, expected {expected:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Waits for the proxy of `node_id`'s test actor in `group`.
async fn remote_actor_of(group: &str, node_id: NodeId) -> ActorRef<TestMessage> {
    let mut found = None;
    common::eventually("a proxy of the peer's actor in the group", || {
        found = remote_of(group, node_id);
        found.is_some()
    })
    .await;
    found.unwrap()
}

fn parent_options(mode: NodeConnectionMode) -> NodeOptions {
    NodeOptions {
        mode,
        ..NodeOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Session loss

/// Connects `node` to a fresh peer, and returns the peer, the proxy of its actor, and a call that
/// the peer's actor holds without answering.
async fn connected_peer_with_a_held_call(
    node: &mut Node,
    peer_name: &str,
    group: &str,
) -> (Peer, ActorRef<TestMessage>, CallTask<u64>) {
    let peer = spawn_peer(peer_name, group, NodeConnectionMode::Isolated).await;
    ractor_cluster::client_connect(&node.server, ("127.0.0.1", peer.port))
        .await
        .unwrap();
    let ready = Event::Ready(peer.name.clone());
    node.wait_event(|e| *e == ready).await;
    let proxy = remote_actor_of(group, peer.id).await;
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 21).unwrap(),
        42
    );
    // No timeout: only the end of the session can end this call.
    let held = held_call(&proxy).await;
    (peer, proxy, held)
}

/// What must follow the loss of the session with `peer`: the held call fails promptly, the
/// session is reported disconnected, and the proxy stops and leaves the group.
async fn the_session_is_gone(
    node: &mut Node,
    peer: &Peer,
    group: &str,
    proxy: &ActorRef<TestMessage>,
    held: CallTask<u64>,
) {
    let lost = tokio::time::Instant::now();
    let result = within("the held call to fail", held).await.unwrap();
    assert!(common::failed(&result), "{result:?}");
    let waited = lost.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "the call failed after {waited:?}"
    );
    let gone = Event::Disconnected(Some(peer.name.clone()));
    node.wait_event(|e| *e == gone).await;
    assert!(node.sessions().await.is_empty());
    common::eventually("the proxy to stop", || {
        proxy.get_status() == ractor::ActorStatus::Stopped
    })
    .await;
    common::eventually("the proxy to leave the group", || {
        remote_of(group, peer.id).is_none()
    })
    .await;
}

async fn a_killed_peer_ends_its_session_and_fails_the_pending_call() {
    let mut a = start_node_with("kill-a", parent_options(NodeConnectionMode::Isolated)).await;
    let (mut peer, proxy, held) =
        connected_peer_with_a_held_call(&mut a, "kill-peer", "kill-group").await;
    peer.kill().await;
    the_session_is_gone(&mut a, &peer, "kill-group", &proxy, held).await;
    a.stop().await;
}

async fn a_peer_whose_server_stops_ends_its_session_and_fails_the_pending_call() {
    let mut a = start_node_with("stop-a", parent_options(NodeConnectionMode::Isolated)).await;
    let (mut peer, proxy, held) =
        connected_peer_with_a_held_call(&mut a, "stop-peer", "stop-group").await;
    peer.ok("stop-server").await;
    the_session_is_gone(&mut a, &peer, "stop-group", &proxy, held).await;
    peer.finish().await;
    a.stop().await;
}

/// A node that claims the name of a connected peer with a new incarnation (a restart, or anyone
/// with the cookie) is refused while the peer's session lives: the session and its proxies stay,
/// and each refusal is reported with its reason. Once the old run is shown dead (here it froze,
/// and its session is declared down after `down_after` of silence), the new run, redialing, takes
/// its place within `down_after` and a redial's backoff.
async fn a_new_run_of_a_live_peer_is_refused_until_the_old_run_is_shown_dead() {
    if cfg!(not(unix)) {
        // Freezing a process takes SIGSTOP.
        return;
    }
    let group = "restart-group";
    let mut a = start_node_with(
        "restart-a",
        NodeOptions {
            liveness: Some((FAST_HEARTBEAT, FAST_DOWN_AFTER)),
            ..parent_options(NodeConnectionMode::Isolated)
        },
    )
    .await;
    let (ends_tx, mut ends) = tokio::sync::mpsc::unbounded_channel();
    a.server
        .cast(ractor_cluster::NodeServerMessage::SubscribeToEvents {
            id: "ends".into(),
            subscription: Box::new(common::SessionEnds(ends_tx)),
        })
        .unwrap();
    let fast = [(FAST_ENV, "1".to_owned())];
    let mut old = spawn_peer_with("restart-peer", group, NodeConnectionMode::Isolated, &fast).await;
    old.ok(&format!("connect {}", a.port)).await;
    let ready = Event::Ready(old.name.clone());
    a.wait_event(|e| *e == ready).await;
    let old_proxy = remote_actor_of(group, old.id).await;

    let mut new = spawn_peer_with("restart-peer", group, NodeConnectionMode::Isolated, &fast).await;
    assert_eq!(new.id, old.id, "the same name gives the same node id");
    new.ok(&format!("connect {}", a.port)).await;
    // Refused, again and again as the new run redials, while the old run is alive.
    let mut refusals = 0;
    while refusals < 3 {
        let end = within("a refusal", ends.recv()).await.unwrap();
        let text = end.to_string();
        assert!(text.contains("new run"), "unexpected session end: {text}");
        refusals += 1;
    }
    assert_eq!(a.peer_names().await, vec![old.name.clone()]);
    assert_eq!(
        ractor::call_t!(old_proxy, TestMessage::Double, 5_000, 4).unwrap(),
        8,
        "the old run's session and proxies stay"
    );

    old.freeze();
    let frozen = tokio::time::Instant::now();
    let gone = Event::Disconnected(Some(old.name.clone()));
    a.wait_event(|e| *e == gone).await;
    a.wait_event(|e| *e == ready).await;
    let took = frozen.elapsed();
    println!("the new run got in {took:?} after the old one froze");
    // Silence of down_after (plus at most an eighth of it to notice), then the new run's next
    // redial (at most FAST_MAX_BACKOFF later), plus teardown and scheduling.
    let latest =
        FAST_DOWN_AFTER + FAST_DOWN_AFTER / 8 + FAST_MAX_BACKOFF + Duration::from_millis(500);
    assert!(took < latest, "the new run got in after {took:?}");
    new.wait_for_peers(&[&a.name]).await;
    assert_eq!(a.peer_names().await, vec![new.name.clone()]);
    common::eventually("the old proxy to stop", || {
        old_proxy.get_status() == ractor::ActorStatus::Stopped
    })
    .await;
    // The proxy in the group is the new run's (the old one's actor is frozen and cannot answer).
    let proxy = remote_actor_of(group, new.id).await;
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 6).unwrap(),
        12
    );
    old.kill().await;
    new.finish().await;
    a.stop().await;
}

/// The old run's connection died without a word: nothing it sends arrives, and its path answers
/// the first byte written on it by closing it, as a peer whose machine restarted answers with a
/// reset. When a new run claims the name, the node refuses it and sends a heartbeat on the old
/// session at once; that write ends the old session, long before its `down_after` (a minute) or
/// its next regular heartbeat (half a minute), and the new run, redialing, gets in.
async fn a_new_run_gets_in_once_a_probe_shows_the_old_connection_dead() {
    let group = "probe-group";
    let mut a = start_node_with(
        "probe-a",
        NodeOptions {
            liveness: Some(PATIENT_PARENT_LIVENESS),
            ..parent_options(NodeConnectionMode::Isolated)
        },
    )
    .await;
    let patient = [(PATIENT_ENV, "1".to_owned())];
    let mut old =
        spawn_peer_with("probe-peer", group, NodeConnectionMode::Isolated, &patient).await;
    let link = common::link::Link::start(a.port).await;
    old.ok(&format!("connect {}", link.port)).await;
    let ready = Event::Ready(old.name.clone());
    a.wait_event(|e| *e == ready).await;
    link.set(common::link::Fault::BlackHole);
    link.set_back(common::link::Fault::CloseOnWrite);

    let mut new =
        spawn_peer_with("probe-peer", group, NodeConnectionMode::Isolated, &patient).await;
    let claimed = tokio::time::Instant::now();
    new.ok(&format!("connect {}", a.port)).await;
    let gone = Event::Disconnected(Some(old.name.clone()));
    a.wait_event(|e| *e == gone).await;
    a.wait_event(|e| *e == ready).await;
    let took = claimed.elapsed();
    println!("the new run got in {took:?} after it claimed the name");
    assert!(
        took < Duration::from_secs(5),
        "the old session was not probed: the new run got in after {took:?}"
    );
    new.wait_for_peers(&[&a.name]).await;
    assert_eq!(a.peer_names().await, vec![new.name.clone()]);
    let proxy = remote_actor_of(group, new.id).await;
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 7).unwrap(),
        14
    );
    drop(link);
    old.finish().await;
    new.finish().await;
    a.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Failure detection and reconnection

/// The session of `node` with `peer` once it is ready (waiting for one if need be).
async fn ready_session(node: &Node, peer: &str) -> ActorRef<ractor_cluster::NodeSessionMessage> {
    within(&format!("a ready session with {peer}"), async {
        loop {
            let sessions = node.sessions().await;
            let session = sessions
                .values()
                .find(|s| s.peer_name.as_ref().is_some_and(|n| n.name == peer));
            if let Some(session) = session {
                let ready = ractor::call_t!(
                    session.actor,
                    ractor_cluster::NodeSessionMessage::GetReadyState,
                    5_000
                );
                if matches!(ready, Ok(true)) {
                    return session.actor.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Freezes a peer (SIGSTOP) again and again and measures how long its node takes to declare it
/// down; prints min, median and max. Three trials by default; `RACTOR_CLUSTER_DOWN_TRIALS=20` for
/// the figures in the README.
async fn a_frozen_peer_is_declared_down_within_the_bound() {
    if cfg!(not(unix)) {
        return;
    }
    let trials: usize = std::env::var(TRIALS_ENV)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3);
    let group = "frozen-group";
    let mut a = start_node_with(
        "frozen-a",
        NodeOptions {
            liveness: Some((FAST_HEARTBEAT, FAST_DOWN_AFTER)),
            handshake_timeout: Some(Duration::from_secs(1)),
            ..NodeOptions::default()
        },
    )
    .await;
    let peer = spawn_peer_with(
        "frozen-peer",
        group,
        NodeConnectionMode::Isolated,
        &[(FAST_ENV, "1".to_owned())],
    )
    .await;
    ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", peer.port), WAIT)
        .await
        .unwrap();
    // The silence that declares a peer down is at least `down_after` and less than
    // `down_after + down_after / 8`; the peer's last heartbeat may have come up to one interval
    // before it froze; the session's teardown and the 10 ms polling below add a little.
    let earliest = FAST_DOWN_AFTER - FAST_HEARTBEAT;
    let latest = FAST_DOWN_AFTER + FAST_DOWN_AFTER / 8 + Duration::from_millis(300);
    let mut took = Vec::new();
    for trial in 0..trials {
        let session = ready_session(&a, &peer.name).await;
        let proxy = remote_actor_of(group, peer.id).await;
        assert_eq!(
            ractor::call_t!(proxy, TestMessage::Double, 5_000, 21).unwrap(),
            42
        );
        let held = held_call(&proxy).await;
        peer.freeze();
        let frozen = tokio::time::Instant::now();
        common::eventually("the session to end", || {
            session.get_status() == ractor::ActorStatus::Stopped
        })
        .await;
        let elapsed = frozen.elapsed();
        let result = within("the held call to fail", held).await.unwrap();
        assert!(common::failed(&result), "{result:?}");
        // The call failed with the session, not later.
        assert!(frozen.elapsed() < elapsed + Duration::from_millis(100));
        assert_eq!(proxy.get_status(), ractor::ActorStatus::Stopped);
        assert!(
            (earliest..latest).contains(&elapsed),
            "trial {trial}: declared down after {elapsed:?}, expected {earliest:?}..{latest:?}"
        );
        took.push(elapsed);
        peer.thaw();
        // `a` had dialed the peer: it dials it again, and the session comes back.
    }
    ready_session(&a, &peer.name).await;
    let gone = Event::Disconnected(Some(peer.name.clone()));
    a.wait_event(|e| *e == gone).await;
    took.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!(
        "frozen peer declared down (heartbeat {FAST_HEARTBEAT:?}, down_after {FAST_DOWN_AFTER:?}), \
         {trials} trials: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        ms(&took[0]),
        ms(&took[took.len() / 2]),
        ms(&took[took.len() - 1]),
    );
    peer.finish().await;
    a.stop().await;
}

/// A member that went down: its name, why, and when this node saw it.
type Down = (String, Option<String>, tokio::time::Instant);

/// Records when each member was seen down, and why.
#[derive(Clone, Default)]
struct DownRecorder(Arc<Mutex<Vec<Down>>>);

impl MemberSubscription for DownRecorder {
    fn member_changed(&self, event: MemberEvent) {
        if event.member.status == MemberStatus::Down {
            self.0.lock().unwrap().push((
                event.member.name,
                event.reason,
                tokio::time::Instant::now(),
            ));
        }
    }
}

impl DownRecorder {
    fn down(&self, name: &str) -> Option<(Option<String>, tokio::time::Instant)> {
        let downs = self.0.lock().unwrap();
        let (_, reason, at) = downs.iter().find(|(n, _, _)| n == name)?;
        Some((reason.clone(), *at))
    }
}

/// Four nodes, each watching only its two neighbours on the ring of node ids (`with_watched_peers
/// (2)`): when the peer in its own process freezes, the node across the ring, which does not watch
/// it, marks it down too, on its watchers' word, within `down_after` + 1 s.
async fn a_frozen_peer_is_marked_down_by_a_node_that_does_not_watch_it() {
    if cfg!(not(unix)) {
        return;
    }
    let group = "unwatched-group";
    let options = || NodeOptions {
        liveness: Some((FAST_HEARTBEAT, FAST_DOWN_AFTER)),
        handshake_timeout: Some(Duration::from_secs(1)),
        watched_peers: Some(2),
        ..NodeOptions::default()
    };
    let nodes = [
        start_node_with("unwatched-a", options()).await,
        start_node_with("unwatched-b", options()).await,
        start_node_with("unwatched-c", options()).await,
    ];
    let mut peer = spawn_peer_with(
        "unwatched-x",
        group,
        NodeConnectionMode::Isolated,
        &[(FAST_ENV, "1".to_owned()), (WATCH_ENV, "2".to_owned())],
    )
    .await;
    for (i, node) in nodes.iter().enumerate() {
        for other in nodes.iter().skip(i + 1) {
            node.connect_to(other).await;
        }
        peer.ok(&format!("connect {}", node.port)).await;
    }
    let mut names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    names.sort();
    peer.wait_for_peers(&names).await;
    for node in &nodes {
        ready_session(node, &peer.name).await;
        for other in &nodes {
            if other.name != node.name {
                ready_session(node, &other.name).await;
            }
        }
    }
    // The node two places from the peer on the ring of four is the one that does not watch it.
    let mut ring: Vec<NodeId> = nodes.iter().map(|n| n.id).chain([peer.id]).collect();
    ring.sort_unstable();
    let place = ring.iter().position(|id| *id == peer.id).unwrap();
    let across = ring[(place + 2) % 4];
    let mut recorders = Vec::new();
    for node in &nodes {
        let recorder = DownRecorder::default();
        membership::subscribe(&node.server, "downs", Box::new(recorder.clone()))
            .await
            .unwrap();
        recorders.push((node.id, recorder));
    }

    peer.freeze();
    let frozen = tokio::time::Instant::now();
    let bound = FAST_DOWN_AFTER + Duration::from_secs(1);
    common::eventually("every node to mark the frozen peer down", || {
        recorders.iter().all(|(_, r)| r.down(&peer.name).is_some())
    })
    .await;
    for (id, recorder) in &recorders {
        let (reason, at) = recorder.down(&peer.name).unwrap();
        let took = at.saturating_duration_since(frozen);
        assert!(
            took < bound,
            "node {id}: down after {took:?}, bound {bound:?}"
        );
        // Told by a watcher: it had timed no silence of its own. (The two watchers find the
        // silence at about the same moment, and either may hear it from the other first.)
        let reason = reason.unwrap_or_default();
        if *id == across {
            assert!(
                reason.contains("heard nothing from the peer for its down_after"),
                "{reason}"
            );
        }
    }
    peer.thaw();
    drop(peer);
    for node in nodes {
        node.stop().await;
    }
}

/// A free TCP port on 127.0.0.1, for a peer that must come back where it was.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A peer killed and started again on the same port is a new incarnation: the node dials it
/// again, makes fresh proxies and group members for it, and the proxies of the old run are gone
/// and deliver nothing to the new one, even though the new actor has the same pid.
async fn a_restarted_peer_is_dialed_again_and_gets_nothing_meant_for_its_previous_run() {
    let group = "reborn-group";
    let port = free_port();
    let env = [(PORT_ENV, port.to_string()), (FAST_ENV, "1".to_owned())];
    let mut a = start_node_with(
        "reborn-a",
        NodeOptions {
            liveness: Some((FAST_HEARTBEAT, FAST_DOWN_AFTER)),
            ..NodeOptions::default()
        },
    )
    .await;
    let mut old = spawn_peer_with("reborn-peer", group, NodeConnectionMode::Isolated, &env).await;
    ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", port), WAIT)
        .await
        .unwrap();
    let old_proxy = remote_actor_of(group, old.id).await;
    assert_eq!(
        ractor::call_t!(old_proxy, TestMessage::Double, 5_000, 1).unwrap(),
        2
    );
    let old_session = ready_session(&a, &old.name).await;
    old.kill().await;
    let gone = Event::Disconnected(Some(old.name.clone()));
    a.wait_event(|e| *e == gone).await;

    let new = spawn_peer_with("reborn-peer", group, NodeConnectionMode::Isolated, &env).await;
    let new_session = ready_session(&a, &new.name).await;
    assert_ne!(new_session.get_id(), old_session.get_id());
    let new_proxy = remote_actor_of(group, new.id).await;
    assert_eq!(old_proxy.get_status(), ractor::ActorStatus::Stopped);
    println!(
        "old run's actor: {}, new run's: {}",
        old_proxy.get_id(),
        new_proxy.get_id()
    );
    // Through the old reference nothing goes anywhere; through the new one, to the new run.
    assert!(old_proxy.cast(TestMessage::Num(1)).is_err());
    let old_call = ractor::call_t!(old_proxy, TestMessage::Double, 1_000, 1);
    assert!(old_call.is_err(), "{old_call:?}");
    new_proxy.cast(TestMessage::Num(2)).unwrap();
    assert_eq!(
        ractor::call_t!(new_proxy, TestMessage::Numbers, 5_000).unwrap(),
        vec![2]
    );
    new.finish().await;
    a.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Three nodes

/// A (this process), B and C (peers): C connects to B, then A to B.
async fn three_nodes(tag: &str, mode: NodeConnectionMode) -> (Node, Peer, Peer, String) {
    let group = format!("{tag}-group");
    let mut a = start_node_with(&format!("{tag}-a"), parent_options(mode)).await;
    // Stops with the runtime at the end of the test.
    spawn_in_group(&group).await;
    let mut b = spawn_peer(&format!("{tag}-b"), &group, mode).await;
    let mut c = spawn_peer(&format!("{tag}-c"), &group, mode).await;
    c.ok(&format!("connect {}", b.port)).await;
    b.wait_for_peers(&[&c.name]).await;
    c.wait_for_peers(&[&b.name]).await;
    a.connect_to_port(b.port).await;
    let ready = Event::Ready(b.name.clone());
    a.wait_event(|e| *e == ready).await;
    (a, b, c, group)
}

async fn transitive_nodes_connect_to_the_peers_of_their_peers() {
    let (a, mut b, mut c, group) = three_nodes("trans", NodeConnectionMode::Transitive).await;
    // A learns about C from B and connects to it.
    let mut expected = vec![b.name.clone(), c.name.clone()];
    expected.sort();
    within("A to connect to C", async {
        while a.peer_names().await != expected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut on_c = vec![a.name.as_str(), b.name.as_str()];
    on_c.sort_unstable();
    c.wait_for_peers(&on_c).await;
    let mut on_b = vec![a.name.as_str(), c.name.as_str()];
    on_b.sort_unstable();
    b.wait_for_peers(&on_b).await;
    // And talks to it directly.
    let on_c = remote_actor_of(&group, c.id).await;
    assert_eq!(
        ractor::call_t!(on_c, TestMessage::Double, 5_000, 8).unwrap(),
        16
    );
    b.finish().await;
    c.finish().await;
    a.stop().await;
}

async fn isolated_nodes_connect_only_where_told() {
    let (a, mut b, mut c, group) = three_nodes("iso", NodeConnectionMode::Isolated).await;
    // Traffic with B has gone both ways (so B has said whatever it would say about its peers)...
    let on_b = remote_actor_of(&group, b.id).await;
    assert_eq!(
        ractor::call_t!(on_b, TestMessage::Double, 5_000, 8).unwrap(),
        16
    );
    b.ok(&format!("wait-remote {}", a.id)).await;
    assert_eq!(b.command("double 4").await, "VALUE 8");
    // ... and a transitive dial, had one started, would have completed on loopback by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);
    c.wait_for_peers(&[&b.name]).await;
    assert!(remote_of(&group, c.id).is_none());
    b.finish().await;
    c.finish().await;
    a.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Frame limit

async fn a_frame_over_the_limit_ends_that_session_only() {
    const LIMIT: u64 = 64 * 1024;
    let group = "limit-group";
    let mut a = start_node_with(
        "limit-a",
        NodeOptions {
            max_frame: Some(LIMIT),
            ..NodeOptions::default()
        },
    )
    .await;
    let actor = spawn_in_group(group).await;
    let mut big = spawn_peer("limit-big", group, NodeConnectionMode::Isolated).await;
    let mut small = spawn_peer("limit-small", group, NodeConnectionMode::Isolated).await;
    for peer in [&mut big, &mut small] {
        peer.ok(&format!("connect {}", a.port)).await;
        let ready = Event::Ready(peer.name.clone());
        a.wait_event(|e| *e == ready).await;
        peer.ok(&format!("wait-remote {}", a.id)).await;
    }

    // A cast larger than `a` accepts ends the session it came on, on both sides.
    big.ok(&format!("cast-blob {}", 2 * LIMIT)).await;
    let gone = Event::Disconnected(Some(big.name.clone()));
    a.wait_event(|e| *e == gone).await;
    big.wait_for_peers(&[]).await;
    assert_eq!(a.peer_names().await, vec![small.name.clone()]);

    // The other session carries on, both ways, with messages up to the limit.
    small.ok(&format!("cast-blob {}", LIMIT / 2)).await;
    assert_eq!(small.command("double 21").await, "VALUE 42");
    let blobs = ractor::call_t!(actor, TestMessage::Blobs, 5_000).unwrap();
    assert_eq!(
        blobs,
        vec![(
            LIMIT / 2,
            common::checksum(&common::patterned((LIMIT / 2) as usize))
        )]
    );
    let on_small = remote_actor_of(group, small.id).await;
    assert_eq!(
        ractor::call_t!(on_small, TestMessage::Double, 5_000, 5).unwrap(),
        10
    );
    big.finish().await;
    small.finish().await;
    actor.stop(None);
    a.stop().await;
}
