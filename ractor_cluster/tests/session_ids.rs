//! Every event of one session carries the same `node_id`, from `node_session_opened` to
//! `node_session_disconnected`, and `GetSessions` lists the session under it: users keep per-peer
//! state under that id. The peer's name-derived id, the one in its actors' `ActorId`s, is
//! `peer_node_id()`.

mod common;

use std::collections::HashSet;

use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeId, NodeServerMessage};
use tokio::sync::mpsc;

use common::{start_node, start_node_with, within, Node, NodeOptions};

/// One event: its kind and the session's `node_id`.
type Seen = (&'static str, NodeId);

struct Recorder(mpsc::UnboundedSender<Seen>);

impl NodeEventSubscription for Recorder {
    fn node_session_opened(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(("opened", ses.node_id));
    }
    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(("authenticated", ses.node_id));
    }
    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(("ready", ses.node_id));
    }
    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(("disconnected", ses.node_id));
    }
}

fn record(node: &Node) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    node.server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "ids".into(),
            subscription: Box::new(Recorder(tx)),
        })
        .unwrap();
    rx
}

async fn next(events: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    within("a session event", events.recv())
        .await
        .expect("the node is running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_a_session_and_get_sessions_carry_one_id() {
    let a = start_node("ids-a").await;
    let b = start_node("ids-b").await;
    let mut on_a = record(&a);
    // Subscriptions are taken in order with the connection, which comes after.
    a.connect_to(&b).await;

    let (kind, id) = next(&mut on_a).await;
    assert_eq!(kind, "opened");
    assert_ne!(id, 0);
    assert_eq!(next(&mut on_a).await, ("authenticated", id));
    assert_eq!(next(&mut on_a).await, ("ready", id));

    let sessions = a.sessions().await;
    assert_eq!(sessions.len(), 1);
    let session = &sessions[&id];
    assert_eq!(session.node_id, id);
    // The peer's own id, as in its actors' `ActorId::Remote { node_id, .. }`, is the other one.
    assert_eq!(session.peer_node_id(), Some(b.id));

    b.stop().await;
    assert_eq!(next(&mut on_a).await, ("disconnected", id));
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_never_authenticates_keeps_its_id_and_each_connection_gets_its_own() {
    let a = start_node("ids2-a").await;
    let b = start_node_with(
        "ids2-b",
        NodeOptions {
            cookie: "another".into(),
            ..NodeOptions::default()
        },
    )
    .await;
    let c = start_node("ids2-c").await;
    let mut on_a = record(&a);

    a.connect_to(&b).await;
    let (kind, refused) = next(&mut on_a).await;
    assert_eq!(kind, "opened");
    assert_ne!(refused, 0);
    assert_eq!(next(&mut on_a).await, ("disconnected", refused));

    // Two connections to the same peer: both open, one is kept and the other ends. Each has its
    // own id, so the end of the one is not taken for the end of the other.
    a.connect_to(&c).await;
    a.connect_to(&c).await;
    let mut opened = HashSet::new();
    let mut ended = None;
    while opened.len() < 2 || ended.is_none() {
        match next(&mut on_a).await {
            ("opened", id) => assert!(opened.insert(id), "id {id} given twice"),
            ("disconnected", id) => ended = Some(id),
            _ => {}
        }
    }
    assert!(!opened.contains(&refused));
    let ended = ended.unwrap();
    assert!(opened.contains(&ended));
    // The kept one may be admitted only once the other has stopped (when it replaces it).
    let kept = within("one session to be kept", async {
        loop {
            let sessions = a.sessions().await;
            if let Some(id) = sessions.keys().next() {
                break *id;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(opened.contains(&kept) && kept != ended);
    a.stop().await;
    b.stop().await;
    c.stop().await;
}
