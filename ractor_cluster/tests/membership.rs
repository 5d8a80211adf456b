//! The membership view and its events: real nodes on 127.0.0.1, a fault-injecting link where a
//! peer must fall silent. Every wait is bounded.

mod common;

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use ractor_cluster::downing::{Downing, DowningStrategy};
use ractor_cluster::membership::{self, Member, MemberEvent, MemberStatus, MemberSubscription};
use ractor_cluster::node::ReconnectPolicy;
use ractor_cluster::NodeConnectionMode;
use tokio::sync::mpsc;

use common::link::{linked, linked_with_actor, Fault};
use common::{
    connect_ready, start_node, start_node_with, within, Event, Node, NodeOptions, FAST_LIVENESS,
};

/// Member events on a channel.
struct Events(mpsc::UnboundedSender<MemberEvent>);

impl MemberSubscription for Events {
    fn member_changed(&self, event: MemberEvent) {
        let _ = self.0.send(event);
    }
}

async fn subscribe(node: &Node) -> mpsc::UnboundedReceiver<MemberEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    within(
        "subscribing",
        membership::subscribe(&node.server, "test", Box::new(Events(tx))),
    )
    .await
    .unwrap();
    rx
}

/// The next event about `name`, skipping others.
async fn next_about(events: &mut mpsc::UnboundedReceiver<MemberEvent>, name: &str) -> MemberEvent {
    loop {
        let event = within(&format!("a member event about {name}"), events.recv())
            .await
            .expect("subscription closed");
        if event.member.name == name {
            return event;
        }
    }
}

async fn members(node: &Node) -> Vec<Member> {
    within("the members", membership::members(&node.server))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_view_lists_this_node_and_its_peers() {
    let mut a = start_node("view-a").await;
    let mut b = start_node("view-b").await;
    connect_ready(&mut a, &mut b).await;

    let b_seen_by_a = members(&a).await;
    let a_seen_by_b = members(&b).await;
    assert_eq!(b_seen_by_a.len(), 2);
    let (first, second) = (&b_seen_by_a[0], &b_seen_by_a[1]);
    assert_eq!(
        (first.name.as_str(), first.node_id),
        ("view-a@localhost", a.id)
    );
    assert_eq!(
        (second.name.as_str(), second.node_id),
        ("view-b@localhost", b.id)
    );
    assert_eq!(second.address, format!("localhost:{}", b.port));
    assert!(b_seen_by_a.iter().all(|m| m.status == MemberStatus::Up));
    // Both nodes agree on who is who, incarnations included.
    assert_eq!(b_seen_by_a, a_seen_by_b);
}

#[tokio::test]
async fn a_subscription_hears_members_come_and_go_down_with_a_reason() {
    let options = |liveness| NodeOptions {
        liveness: Some(liveness),
        reconnect: Some(ReconnectPolicy::disabled()),
        ..Default::default()
    };
    let mut a = start_node_with("down-a", options(FAST_LIVENESS)).await;
    // b is slower to give up, so that a is the one that declares the silent peer down (rather
    // than seeing b close the connection).
    let patient = (FAST_LIVENESS.0, Duration::from_secs(10));
    let mut b = start_node_with("down-b", options(patient)).await;
    let mut events = subscribe(&a).await;
    // The node itself first, as a snapshot.
    let own = next_about(&mut events, &a.name).await;
    assert_eq!((own.previous, own.member.status), (None, MemberStatus::Up));

    let link = linked(&mut a, &mut b).await;
    let up = next_about(&mut events, &b.name).await;
    assert_eq!((up.previous, up.member.status), (None, MemberStatus::Up));

    // Silent: unreachable after half of down_after, then down, with the reason.
    link.set(Fault::BlackHole);
    let unreachable = next_about(&mut events, &b.name).await;
    assert_eq!(
        (unreachable.previous, unreachable.member.status),
        (Some(MemberStatus::Up), MemberStatus::Unreachable)
    );
    let down = next_about(&mut events, &b.name).await;
    assert_eq!(
        (down.previous, down.member.status),
        (Some(MemberStatus::Unreachable), MemberStatus::Down)
    );
    let reason = down.reason.unwrap_or_default();
    assert!(reason.contains("declared down"), "{reason}");
    // Still in the view, as down.
    let listed = members(&a).await;
    assert!(listed
        .iter()
        .any(|m| m.name == b.name && m.status == MemberStatus::Down));
}

#[tokio::test]
async fn a_peer_heard_again_in_time_is_up_again() {
    let options = || NodeOptions {
        liveness: Some((Duration::from_millis(100), Duration::from_millis(2_000))),
        ..Default::default()
    };
    let mut a = start_node_with("flaky-a", options()).await;
    let mut b = start_node_with("flaky-b", options()).await;
    let link = linked(&mut a, &mut b).await;
    let mut events = subscribe(&a).await;
    let known = next_about(&mut events, &b.name).await;
    assert_eq!(
        (known.previous, known.member.status),
        (None, MemberStatus::Up)
    );
    // Held, not dropped: TCP loses no byte while a path is down, it delivers them late. (A link
    // that drops bytes breaks the sealed records' count, and the session ends when traffic
    // resumes: the black hole of `a_subscription_hears_members_come_and_go_down_with_a_reason`, and the relay tests
    // of `sealed_sessions.rs`.)
    link.set(Fault::Stall);
    let unreachable = next_about(&mut events, &b.name).await;
    assert_eq!(unreachable.member.status, MemberStatus::Unreachable);
    link.set(Fault::Pass);
    let back = next_about(&mut events, &b.name).await;
    assert_eq!(
        (back.previous, back.member.status),
        (Some(MemberStatus::Unreachable), MemberStatus::Up)
    );
}

#[tokio::test]
async fn a_node_that_stops_leaves_and_is_not_dialed_again() {
    // a dials b, so a would dial b again if b failed.
    let quick = ReconnectPolicy::default()
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(10));
    let mut a = start_node_with(
        "leave-a",
        NodeOptions {
            reconnect: Some(quick),
            ..Default::default()
        },
    )
    .await;
    let mut b = start_node("leave-b").await;
    connect_ready(&mut a, &mut b).await;
    let mut events = subscribe(&a).await;
    let b_name = b.name.clone();
    let b_port = b.port;
    let known = next_about(&mut events, &b_name).await;
    assert_eq!(
        (known.previous, known.member.status),
        (None, MemberStatus::Up)
    );

    b.stop().await;
    let leaving = next_about(&mut events, &b_name).await;
    assert_eq!(leaving.member.status, MemberStatus::Leaving);
    let left = next_about(&mut events, &b_name).await;
    assert_eq!(
        (left.previous, left.member.status, left.reason),
        (Some(MemberStatus::Leaving), MemberStatus::Left, None)
    );

    // b comes back at the same address: a, which redials a failed peer every 10 ms, does not
    // dial a peer that left. (Thirty redial periods: a redial would have happened by then.)
    let b = start_node_with(
        "leave-b",
        NodeOptions {
            port: b_port,
            ..Default::default()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.peer_names().await.is_empty());
    assert!(b.peer_names().await.is_empty());
}

#[tokio::test]
async fn with_downing_a_silent_peer_is_unreachable_until_the_policy_downs_it() {
    let stable_after = Duration::from_millis(1_000);
    let options = || NodeOptions {
        liveness: Some(FAST_LIVENESS),
        reconnect: Some(ReconnectPolicy::disabled()),
        downing: Some(Downing::new(DowningStrategy::KeepMajority).stable_after(stable_after)),
        ..Default::default()
    };
    let mut a = start_node_with("downing-a", options()).await;
    let mut b = start_node_with("downing-b", options()).await;
    let link = linked(&mut a, &mut b).await;
    let mut a_events = subscribe(&a).await;
    let mut b_events = subscribe(&b).await;
    next_about(&mut a_events, &b.name).await;
    next_about(&mut b_events, &a.name).await;

    // Cut: each is alone, one against one; the tie keeps the node with the lower id.
    link.set(Fault::BlackHole);
    let (low, high) = if a.id < b.id { (&a, &b) } else { (&b, &a) };
    let (low_events, high_events) = if a.id < b.id {
        (&mut a_events, &mut b_events)
    } else {
        (&mut b_events, &mut a_events)
    };
    let unreachable = next_about(low_events, &high.name).await;
    assert_eq!(unreachable.member.status, MemberStatus::Unreachable);
    let unreachable_at = tokio::time::Instant::now();
    // The session ends after down_after (600 ms), but the peer stays unreachable until the view
    // has been stable for `stable_after`: the next change is the verdict.
    let down = next_about(low_events, &high.name).await;
    assert_eq!(
        (down.previous, down.member.status),
        (Some(MemberStatus::Unreachable), MemberStatus::Down)
    );
    let waited = unreachable_at.elapsed();
    assert!(
        waited >= stable_after - Duration::from_millis(100),
        "{waited:?}"
    );
    let reason = down.reason.unwrap_or_default();
    assert!(reason.contains("keep-majority"), "{reason}");

    // The other node learns it lost: its own member goes down, with the reason.
    loop {
        let own = next_about(high_events, &high.name).await;
        if own.member.status == MemberStatus::Down {
            let reason = own.reason.unwrap_or_default();
            assert!(reason.contains("losing side"), "{reason}");
            break;
        }
    }
    let status = |members: Vec<Member>, name: &str| {
        members
            .into_iter()
            .find(|m| m.name == name)
            .map(|m| m.status)
    };
    assert_eq!(
        status(members(low).await, &low.name),
        Some(MemberStatus::Up)
    );

    // The link is back, and the two runs meet again: each refuses the run it downed.
    link.set(Fault::Pass);
    let again = ractor_cluster::client_connect_and_wait(
        &low.server,
        ("127.0.0.1", high.port),
        Duration::from_secs(5),
    )
    .await;
    assert!(again.is_err(), "a downed run was admitted again");
    assert_eq!(
        status(members(low).await, &high.name),
        Some(MemberStatus::Down)
    );
    assert_eq!(
        status(members(high).await, &low.name),
        Some(MemberStatus::Down)
    );
}

/// Reports how the actors it monitors end.
struct Watcher;

impl Actor for Watcher {
    type Msg = ();
    type State = mpsc::UnboundedSender<Option<String>>;
    type Arguments = mpsc::UnboundedSender<Option<String>>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        ends: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ends)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        ends: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorTerminated(_, _, reason) = event {
            let _ = ends.send(reason);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_verdict_closes_a_session_that_still_runs_and_its_proxies_stop_with_node_lost() {
    // Decided long before the peer's silence would end the session on its own.
    let down_after = Duration::from_millis(3_000);
    let options = || NodeOptions {
        liveness: Some((Duration::from_millis(100), down_after)),
        reconnect: Some(ReconnectPolicy::disabled()),
        downing: Some(
            Downing::new(DowningStrategy::KeepMajority).stable_after(Duration::from_millis(300)),
        ),
        ..Default::default()
    };
    let mut a = start_node_with("verdict-a", options()).await;
    let mut b = start_node_with("verdict-b", options()).await;
    let (link, _actor, proxy) = linked_with_actor(&mut a, &mut b, "verdict-group").await;
    let (ends_tx, mut ends) = mpsc::unbounded_channel();
    let (watcher, _) = Actor::spawn(None, Watcher, ends_tx).await.unwrap();
    watcher.get_cell().monitor(proxy.get_cell());

    // Held, so neither session sees an error: only the verdict ends them. Whichever side stays,
    // each node downs the other (one against one), and so closes its session.
    link.set(Fault::Stall);
    let cut = tokio::time::Instant::now();
    let reason = within("the proxy to stop", ends.recv()).await.unwrap();
    assert_eq!(reason.as_deref(), Some(ractor_cluster::node::NODE_LOST));
    assert!(cut.elapsed() < down_after, "{:?}", cut.elapsed());
    let b_seen_by_a = members(&a)
        .await
        .into_iter()
        .find(|m| m.name == b.name)
        .unwrap();
    assert_eq!(b_seen_by_a.status, MemberStatus::Down);
    within("the session to end", async {
        while !a.peer_names().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    watcher.stop(None);
}

#[tokio::test]
async fn with_downing_a_peer_back_before_the_verdict_is_never_down() {
    let quick = ReconnectPolicy::default()
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(10));
    let options = |reconnect| NodeOptions {
        liveness: Some(FAST_LIVENESS),
        reconnect: Some(reconnect),
        downing: Some(
            Downing::new(DowningStrategy::KeepMajority).stable_after(Duration::from_secs(5)),
        ),
        ..Default::default()
    };
    let mut a = start_node_with("blip-a", options(quick)).await;
    let mut b = start_node_with("blip-b", options(ReconnectPolicy::disabled())).await;
    let link = linked(&mut a, &mut b).await;
    let mut events = subscribe(&a).await;
    next_about(&mut events, &b.name).await;

    // The connection breaks: without downing the peer would be down at once. With it, the peer
    // is unreachable, with the reason, until a redials it (through the link, which carries new
    // connections) and it is up again.
    link.cut();
    let lost = next_about(&mut events, &b.name).await;
    assert_eq!(
        (lost.previous, lost.member.status),
        (Some(MemberStatus::Up), MemberStatus::Unreachable)
    );
    assert!(lost.reason.is_some());
    let back = next_about(&mut events, &b.name).await;
    assert_eq!(
        (back.previous, back.member.status),
        (Some(MemberStatus::Unreachable), MemberStatus::Up)
    );
}

/// A hidden viewer (`NodeServer::with_hidden`, transitive, as `examples/cluster_top.rs`) dialed
/// one member: it meets the member's peers, and every member that joins later, and no member
/// lists it, names it to another or dials it.
#[tokio::test]
async fn a_hidden_viewer_meets_every_member_and_no_member_lists_it() {
    let transitive = || NodeOptions {
        mode: NodeConnectionMode::Transitive,
        ..NodeOptions::default()
    };
    let mut a = start_node_with("hidden-view-a", transitive()).await;
    let mut b = start_node_with("hidden-view-b", transitive()).await;
    connect_ready(&mut a, &mut b).await;
    let mut viewer = start_node_with(
        "hidden-view-top",
        NodeOptions {
            hidden: true,
            ..transitive()
        },
    )
    .await;
    let mut seen = subscribe(&viewer).await;
    connect_ready(&mut viewer, &mut a).await;
    // Named by `a` when the viewer's session was ready.
    assert_eq!(
        next_about(&mut seen, &b.name).await.member.status,
        MemberStatus::Up
    );

    // A member that joins later: `a` tells the viewer of it.
    let mut c = start_node_with("hidden-view-c", transitive()).await;
    connect_ready(&mut c, &mut a).await;
    assert_eq!(
        next_about(&mut seen, &c.name).await.member.status,
        MemberStatus::Up
    );
    for node in [&a, &b, &c] {
        let listed = members(node).await;
        assert!(
            !listed.iter().any(|m| m.name == viewer.name),
            "{} lists the viewer: {listed:?}",
            node.name
        );
    }
    // `c`'s session with the viewer is the one the viewer opened: `c` was never told of it.
    let viewer_name = viewer.name.clone();
    c.wait_event(|e| *e == Event::Authenticated(viewer_name.clone()))
        .await;
    let c_sessions = c.sessions().await;
    let with_viewer = c_sessions
        .values()
        .find(|s| s.peer_name.as_ref().is_some_and(|n| n.name == viewer.name))
        .expect("the viewer dialed c");
    assert!(with_viewer.is_server, "c dialed the viewer");
    assert!(with_viewer.peer_name.as_ref().is_some_and(|n| n.hidden));
    let viewer_members = members(&viewer).await;
    for node in [&a, &b, &c] {
        assert!(
            viewer_members.iter().any(|m| m.name == node.name),
            "{viewer_members:?}"
        );
    }
}
