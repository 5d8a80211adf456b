//! What a cluster costs as it grows, checked on real nodes on 127.0.0.1: a change of a local actor
//! reaches each session once, a change of a proxy reaches none, and a new session does not scan
//! every local actor. Every wait is bounded.
//!
//! The test counts every change handed to any session of this process, every scan of the local
//! actors, and every node of the process announces every local actor: no other test may run in
//! this binary.

mod common;

use ractor::Actor;
use ractor_cluster::node::{local_actor_scans, local_changes_delivered};

use common::{connect_ready, eventually, proxy_in, spawn_in_group, start_node};

const GROUP: &str = "scale.fan-out";

#[tokio::test]
async fn local_changes_reach_each_session_once_and_changes_of_proxies_reach_none() {
    let scans_before = local_actor_scans();
    let mut a = start_node("fan-a").await;
    let mut b = start_node("fan-b").await;
    connect_ready(&mut a, &mut b).await;
    // Each node scans its process's actors and groups once, as it starts; its sessions start from
    // what it keeps (a scan per session goes through every session: N² per forming node).
    assert_eq!(
        local_actor_scans() - scans_before,
        2,
        "one scan per node, none per session"
    );
    let before = local_changes_delivered();

    // One actor of this process starts and joins a group: both nodes announce it, each to its one
    // session (a spawn and a join: 2 changes x 2 sessions), and each peer puts a proxy of it in
    // the group.
    let first = spawn_in_group(GROUP).await;
    for (node, peer) in [(&a, &b), (&b, &a)] {
        eventually(&format!("{}'s proxy of the first actor", node.name), || {
            proxy_in(GROUP, peer.id, &first.get_cell()).is_some()
        })
        .await;
    }
    // Those two proxies joined the group after the nodes' subscribers had handed on the first
    // actor's changes; a second actor's changes come after them in each subscriber's queue. So
    // once the second actor's proxies are in the group and its changes counted, any session woken
    // for a proxy's join has been counted too.
    let second = spawn_in_group(GROUP).await;
    for (node, peer) in [(&a, &b), (&b, &a)] {
        eventually(
            &format!("{}'s proxy of the second actor", node.name),
            || proxy_in(GROUP, peer.id, &second.get_cell()).is_some(),
        )
        .await;
    }
    eventually("the second actor's changes to be counted", || {
        local_changes_delivered() - before >= 8
    })
    .await;
    assert_eq!(
        local_changes_delivered() - before,
        8,
        "2 actors x (spawn + join) x 2 sessions, and nothing for the proxies' joins"
    );

    // An actor that does not support remoting is no news for any peer.
    let (plain, _) = Actor::spawn(None, Plain, ()).await.unwrap();
    ractor::pg::join(GROUP.to_owned(), vec![plain.get_cell()]);
    // A third remotable actor as a barrier: its changes come after the plain one's.
    let third = spawn_in_group(GROUP).await;
    for (node, peer) in [(&a, &b), (&b, &a)] {
        eventually(&format!("{}'s proxy of the third actor", node.name), || {
            proxy_in(GROUP, peer.id, &third.get_cell()).is_some()
        })
        .await;
    }
    eventually("the third actor's changes to be counted", || {
        local_changes_delivered() - before >= 12
    })
    .await;
    assert_eq!(local_changes_delivered() - before, 12);
    for actor in [first, second, third] {
        actor.stop(None);
    }
    plain.stop(None);
    a.stop().await;
    b.stop().await;
}

/// An actor whose messages cannot cross the wire.
struct Plain;

/// A message type that ractor cannot serialize (unlike `()`).
enum PlainMessage {}

impl ractor::Message for PlainMessage {}

impl Actor for Plain {
    type Msg = PlainMessage;
    type State = ();
    type Arguments = ();
    async fn pre_start(
        &self,
        _: ractor::ActorRef<PlainMessage>,
        (): (),
    ) -> Result<(), ractor::ActorProcessingErr> {
        Ok(())
    }
}
