//! Hidden nodes (`NodeServer::with_hidden`): a peer whose handshake says it is hidden is no
//! member, hears of no actor or group and gives none, is named to no one, counts for no downing
//! decision; and it hears of every member that joins later.

use std::time::Duration;

use ractor::{pg, Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;

use crate::downing::{Downing, DowningStrategy};
use crate::membership::{self, MemberEvent, MemberStatus, MemberSubscription};
use crate::node::references;
use crate::protocol::message::{ActorAnnouncement, ControlMessage, SessionMessage};
use crate::testing::{
    node_builder, unique, within, Event, IdleRemotable, Pair, Remotable, ScriptedPeer, TestNode,
};

/// Whether `message` tells of actors or groups.
fn is_announcement(message: &SessionMessage) -> bool {
    matches!(
        message,
        SessionMessage::Control(
            ControlMessage::ActorsSpawned(_)
                | ControlMessage::NamedActorTypes(_)
                | ControlMessage::GroupJoined { .. }
        )
    )
}

/// Whether `message` names the node called `name` to its receiver.
fn names(message: &SessionMessage, name: &str) -> bool {
    matches!(message, SessionMessage::Control(ControlMessage::PeersKnown(peers))
        if peers.iter().any(|p| p.name == name))
}

/// Connects a scripted peer, hidden or not, and finishes its initial exchange.
async fn ready_peer(node: &mut TestNode, prefix: &str, hidden: bool) -> ScriptedPeer {
    let mut peer = if hidden {
        ScriptedPeer::connect_hidden(node, prefix).await
    } else {
        ScriptedPeer::connect(node, prefix).await
    };
    peer.send_control(ControlMessage::InitialSyncDone).await;
    node.event_where(|e| *e == Event::Ready(peer.name.clone()))
        .await;
    peer
}

#[tokio::test]
async fn a_hidden_peer_is_told_of_no_actor_or_group_gives_none_and_is_no_member() {
    let mut node = TestNode::start(node_builder("hides")).await;
    let (greeter, _) = Actor::spawn(Some(unique("greeter")), IdleRemotable, ())
        .await
        .unwrap();
    let group = unique("hidden-group");
    pg::join(group.clone(), vec![greeter.get_cell()]);
    let mut hidden = ready_peer(&mut node, "viewer", true).await;
    let told = hidden.sync().await;
    assert!(!told.iter().any(is_announcement), "{told:?}");
    // Nor of what changes afterwards.
    let (later, _) = Actor::spawn(None, IdleRemotable, ()).await.unwrap();
    pg::join(group.clone(), vec![later.get_cell()]);
    let told = hidden.sync().await;
    assert!(!told.iter().any(is_announcement), "{told:?}");

    // What it announces is not taken: no proxy, no group member.
    let its_group = unique("its-group");
    hidden
        .send_control(ControlMessage::ActorsSpawned(vec![ActorAnnouncement {
            pid: 1,
            name: Some(unique("its-actor")),
        }]))
        .await;
    hidden
        .send_control(ControlMessage::GroupJoined {
            scope: pg::DEFAULT_SCOPE.to_owned(),
            group: its_group.clone(),
            pids: vec![1],
        })
        .await;
    hidden.sync().await;
    assert!(references::proxy_of(hidden.node_id(), 1).is_none());
    assert!(pg::get_members(&its_group).is_empty());

    // A session, with its figures, but no member.
    let members = membership::members(&node.actor).await.unwrap();
    assert!(
        !members.iter().any(|m| m.name == hidden.name),
        "{members:?}"
    );
    let stats = crate::node::peer_stats(&node.actor).await.unwrap();
    assert!(stats.iter().any(|s| s.peer_name == hidden.name && s.hidden));
    let sessions =
        ractor::call_t!(node.actor, crate::NodeServerMessage::GetSessions, 10_000).unwrap();
    assert!(sessions
        .values()
        .filter_map(|s| s.peer_name.as_ref())
        .any(|n| n.name == hidden.name && n.hidden));

    greeter.stop(None);
    later.stop(None);
    node.stop().await;
}

#[tokio::test]
async fn a_hidden_peer_is_named_to_no_one_and_hears_of_every_member() {
    let mut node = TestNode::start(node_builder("names")).await;
    let first = ready_peer(&mut node, "first", false).await;
    let mut hidden = ready_peer(&mut node, "viewer", true).await;
    let mut member = ready_peer(&mut node, "member", false).await;
    // A member that joins is told of the others when its session is ready: not of the hidden one.
    let told = member.sync().await;
    assert!(told.iter().any(|m| names(m, &first.name)), "{told:?}");
    assert!(!told.iter().any(|m| names(m, &hidden.name)), "{told:?}");
    // Asked where it is, the node does not say. The questions are answered in order: the answer
    // about `first` comes after any about the hidden peer.
    member
        .send_control(ControlMessage::WhereIsNode {
            node: hidden.node_id(),
        })
        .await;
    member
        .send_control(ControlMessage::WhereIsNode {
            node: first.node_id(),
        })
        .await;
    let answer = member
        .next_where("the answer about the first member", |m| {
            names(m, &first.name) || names(m, &hidden.name)
        })
        .await;
    assert!(names(&answer, &first.name), "{answer:?}");

    // The hidden peer is told of the member that joined after it.
    hidden
        .next_where("news of the member that joined later", |m| {
            names(m, &member.name)
        })
        .await;
    node.stop().await;
}

/// Forwards member events to the test.
struct Forward(mpsc::UnboundedSender<MemberEvent>);

impl MemberSubscription for Forward {
    fn member_changed(&self, event: MemberEvent) {
        let _ = self.0.send(event);
    }
}

#[tokio::test]
async fn a_hidden_peer_is_not_counted_by_downing() {
    // A quorum of two: the node and its visible peer. The peer is lost; a hidden peer, were it
    // counted, would make the node's side a quorum, and the node would down the lost peer.
    let downing = Downing::new(DowningStrategy::StaticQuorum { size: 2 })
        .stable_after(Duration::from_millis(200));
    let mut node = TestNode::start(node_builder("quorum").with_downing(downing)).await;
    let (tx, mut events) = mpsc::unbounded_channel();
    membership::subscribe(&node.actor, "test", Box::new(Forward(tx)))
        .await
        .unwrap();
    let _hidden = ready_peer(&mut node, "viewer", true).await;
    let member = ready_peer(&mut node, "member", false).await;
    drop(member);
    let name = node.name.clone();
    // The first verdict downs the lost peer and, counted without the hidden peer, this node's
    // own side too (counted with it, the node's side would be a quorum and stay).
    let first = within("the first verdict", async {
        loop {
            let event = events.recv().await.expect("the subscription stays");
            if event.member.status == MemberStatus::Down {
                return event;
            }
        }
    })
    .await;
    let reason = first.reason.unwrap_or_default();
    assert!(
        reason.contains("losing side") && reason.contains("1 reachable"),
        "{reason}"
    );
    let lost = within("the node to find its own side lost", async {
        loop {
            let event = events.recv().await.expect("the subscription stays");
            if event.member.name == name && event.member.status == MemberStatus::Down {
                return event;
            }
        }
    })
    .await;
    assert_eq!(lost.reason.as_deref(), Some(reason.as_str()));
    node.stop().await;
}

/// Woken by each [`Remotable`] a [`Counter`] gets.
static HEARD: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Spawned on a member by a hidden node, which then casts to it.
struct Counter;

impl Actor for Counter {
    type Msg = Remotable;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Remotable>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Remotable>,
        _: Remotable,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        HEARD.notify_one();
        Ok(())
    }
}

#[tokio::test]
async fn a_hidden_node_sees_its_peer_as_a_member_reaches_its_actors_and_is_no_member_there() {
    let kind = unique("counter");
    crate::node::register_spawnable(&kind, || Counter);
    let pair = Pair::connect(
        node_builder("viewer").with_hidden(true),
        node_builder("member"),
    )
    .await;
    let seen_by_member = membership::members(&pair.b.actor).await.unwrap();
    assert!(!seen_by_member.iter().any(|m| m.name == pair.a.name));
    let seen_by_viewer = membership::members(&pair.a.actor).await.unwrap();
    assert!(seen_by_viewer
        .iter()
        .any(|m| m.name == pair.b.name && m.status == MemberStatus::Up));
    // Actors still talk across the session, through references.
    let counter: ActorRef<Remotable> =
        crate::node::spawn_remote(pair.b.node_id(), &kind, &(), Duration::from_secs(5))
            .await
            .expect("the member spawns it")
            .into();
    counter.cast(Remotable).unwrap();
    within("the cast to reach the member's actor", HEARD.notified()).await;
    pair.stop().await;
}
