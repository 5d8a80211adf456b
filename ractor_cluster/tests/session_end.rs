//! Why a session ended, typed by who is at fault: reported to event subscribers with
//! `node_session_ended`, and given as the source of a `ConnectError`. Every wait is bounded.

mod common;

use std::error::Error;

use common::{start_node, start_node_with, within, Node, NodeOptions, WAIT};
use ractor_cluster::node::{NodeEventSubscription, NodeServerSessionInformation, SessionEnd};
use ractor_cluster::{ConnectError, NodeServerMessage};
use tokio::sync::mpsc;

/// Forwards every session end to the test.
struct Ends(mpsc::UnboundedSender<SessionEnd>);

impl NodeEventSubscription for Ends {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {}
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_ended(&self, _: NodeServerSessionInformation, end: &SessionEnd) {
        let _ = self.0.send(end.clone());
    }
}

fn ends_of(node: &Node) -> mpsc::UnboundedReceiver<SessionEnd> {
    let (tx, rx) = mpsc::unbounded_channel();
    node.server
        .cast(NodeServerMessage::SubscribeToEvents {
            id: "ends".into(),
            subscription: Box::new(Ends(tx)),
        })
        .unwrap();
    rx
}

async fn next_end(ends: &mut mpsc::UnboundedReceiver<SessionEnd>) -> SessionEnd {
    within("a session to end", ends.recv())
        .await
        .expect("the node stopped")
}

#[tokio::test]
async fn a_refused_cookie_ends_as_an_authentication_failure_event_and_error_source() {
    let a = start_node("end-cookie-a").await;
    let b = start_node_with(
        "end-cookie-b",
        NodeOptions {
            cookie: "another cookie".into(),
            ..NodeOptions::default()
        },
    )
    .await;
    let mut a_ends = ends_of(&a);
    let mut b_ends = ends_of(&b);

    let err = ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", b.port), WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectError::AuthenticationFailed(end) if end.is_authentication_failure()),
        "{err:?}"
    );
    let source = err.source().expect("the session end is the source");
    let end = source.downcast_ref::<SessionEnd>().expect("a SessionEnd");
    assert!(
        matches!(
            end,
            SessionEnd::HandshakeFailed {
                authentication: true,
                ..
            }
        ),
        "{end:?}"
    );

    for ends in [&mut a_ends, &mut b_ends] {
        let end = next_end(ends).await;
        assert!(
            matches!(
                end,
                SessionEnd::HandshakeFailed {
                    authentication: true,
                    ..
                }
            ),
            "{end:?}"
        );
    }
}

#[tokio::test]
async fn a_disconnect_ends_here_on_one_side_and_by_the_peer_on_the_other() {
    let a = start_node("end-disconnect-a").await;
    let b = start_node("end-disconnect-b").await;
    let mut a_ends = ends_of(&a);
    let mut b_ends = ends_of(&b);
    ractor_cluster::client_connect_and_wait(&a.server, ("127.0.0.1", b.port), WAIT)
        .await
        .unwrap();

    let known = ractor_cluster::node::disconnect(&a.server, &b.name)
        .await
        .unwrap();
    assert!(known);
    let here = next_end(&mut a_ends).await;
    assert!(matches!(here, SessionEnd::EndedHere(_)), "{here:?}");
    let there = next_end(&mut b_ends).await;
    assert!(matches!(there, SessionEnd::EndedByPeer(_)), "{there:?}");
}
