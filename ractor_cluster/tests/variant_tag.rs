//! A message's `variant` crosses the wire as it was serialized: a message type with its own
//! `Message` impl (a hand-written remote cell, middleware that routes on the tag) gets back on the
//! receiving node the `variant` and `args` its sender produced.

mod common;

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::{pg, Actor, ActorProcessingErr, ActorRef, Message};
use tokio::sync::mpsc;

use common::{connect_ready, eventually, proxy_in, start_node, within};

/// A message that is its own serialized form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tagged {
    variant: String,
    args: Vec<u8>,
}

impl Message for Tagged {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        Ok(SerializedMessage::Cast {
            variant: self.variant,
            args: self.args,
            metadata: None,
        })
    }

    fn deserialize(message: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match message {
            SerializedMessage::Cast { variant, args, .. } => Ok(Self { variant, args }),
            _ => Err(BoxedDowncastErr),
        }
    }
}

/// Passes every message it gets to the test.
struct Recorder;

impl Actor for Recorder {
    type Msg = Tagged;
    type State = mpsc::UnboundedSender<Tagged>;
    type Arguments = mpsc::UnboundedSender<Tagged>;

    async fn pre_start(
        &self,
        _: ActorRef<Tagged>,
        sink: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(sink)
    }

    async fn handle(
        &self,
        _: ActorRef<Tagged>,
        message: Tagged,
        sink: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let _ = sink.send(message);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variant_and_args_arrive_as_they_were_sent() {
    let mut a = start_node("tag-a").await;
    let mut b = start_node("tag-b").await;
    connect_ready(&mut a, &mut b).await;

    let (sink, mut received) = mpsc::unbounded_channel();
    let (recorder, _) = Actor::spawn(None, Recorder, sink).await.unwrap();
    let group = "tag-group";
    pg::join(group.to_owned(), vec![recorder.get_cell()]);
    let mut proxy = None;
    eventually("the proxy to join the group", || {
        proxy = proxy_in(group, a.id, &recorder.get_cell());
        proxy.is_some()
    })
    .await;
    let proxy: ActorRef<Tagged> = proxy.unwrap().into();

    let sent = [
        Tagged {
            variant: "Hello".into(),
            args: vec![1, 2, 3],
        },
        Tagged {
            variant: String::new(),
            args: Vec::new(),
        },
        Tagged {
            variant: "ünïcode".into(),
            args: vec![0; 1000],
        },
    ];
    for message in &sent {
        proxy.cast(message.clone()).unwrap();
    }
    for message in sent {
        let got = within("a cast through the proxy", received.recv()).await;
        assert_eq!(got, Some(message));
    }

    recorder.stop(None);
    b.stop().await;
    a.stop().await;
}
