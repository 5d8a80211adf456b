//! `Traced` frames (protocol 2.8) from a scripted peer: every 2.8 node delivers the message they
//! carry, with the `trace-context` feature or without it (PROTOCOL.md rules TC2 and TC4).

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};
use tokio::sync::mpsc;

use crate::protocol::codec;
use crate::protocol::message::{ReplyOutcome, SessionMessage, TraceParent, TracedMessage};
use crate::testing::{node_builder, within, ScriptedPeer, TestNode};

/// A hand-written remotable message: a cast's fields, or a call's, answered with themselves.
#[derive(Debug)]
enum Echo {
    Cast(Vec<u8>),
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

impl Message for Echo {
    fn serializable() -> bool {
        true
    }

    fn deserialize(message: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match message {
            SerializedMessage::Cast { args, .. } => Ok(Echo::Cast(args)),
            SerializedMessage::Call { args, reply, .. } => Ok(Echo::Call(args, reply)),
            SerializedMessage::CallReply(..) => Err(BoxedDowncastErr),
        }
    }
}

/// Reports each cast's fields, and answers each call with its fields.
struct Echoer(mpsc::UnboundedSender<Vec<u8>>);

impl Actor for Echoer {
    type Msg = Echo;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Echo>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Echo>,
        message: Echo,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Echo::Cast(fields) => {
                let _ = self.0.send(fields);
            }
            Echo::Call(fields, reply) => {
                let _ = reply.send(fields);
            }
        }
        Ok(())
    }
}

/// The wire's `args`: the variant's name, then `fields`.
fn wire_args(fields: &[u8]) -> Vec<u8> {
    let mut args = codec::encode_to_vec("Echo").unwrap();
    args.extend_from_slice(fields);
    args
}

#[tokio::test]
async fn traced_casts_and_calls_are_delivered_with_or_without_the_feature() {
    let node = TestNode::start(node_builder("traced")).await;
    let mut peer = ScriptedPeer::connect(&node, "peer").await;
    let (tx, mut casts) = mpsc::unbounded_channel();
    let (actor, _) = Actor::spawn(None, Echoer(tx), ()).await.unwrap();
    let to = actor.get_id().pid();

    let sampled = TraceParent {
        trace_id: [3; 16],
        span_id: [4; 8],
        flags: 1,
    };
    // Not valid (W3C): no parent, but delivered all the same (rule TC4).
    let zeros = TraceParent {
        trace_id: [0; 16],
        span_id: [0; 8],
        flags: 0,
    };
    for (context, fields) in [(sampled, vec![1, 2]), (zeros, vec![5])] {
        peer.send(&SessionMessage::Traced {
            context,
            message: TracedMessage::Cast {
                to,
                args: wire_args(&fields),
            },
        })
        .await;
        let got = within("the traced cast", casts.recv()).await;
        assert_eq!(got, Some(fields));
    }

    peer.send(&SessionMessage::Traced {
        context: sampled,
        message: TracedMessage::Call {
            to,
            call: 77,
            args: wire_args(&[9, 9]),
        },
    })
    .await;
    let reply = peer
        .next_where("the traced call's reply", |m| {
            matches!(m, SessionMessage::Reply { call: 77, .. })
        })
        .await;
    assert_eq!(
        reply,
        SessionMessage::Reply {
            call: 77,
            outcome: ReplyOutcome::Value(vec![9, 9]),
        }
    );
    actor.stop(None);
    node.stop().await;
}
