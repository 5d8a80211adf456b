//! Unit tests of the session reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::message::BoxedDowncastErr;
use ractor::{Actor, ActorProcessingErr, Message};

use super::*;
use crate::net::{spawn_writer, FrameReader};
use crate::protocol::hot_frames::{encode_cast_frame, Payload};

/// A message that claims to be remotable, so that the reader may deliver casts to its actor.
#[derive(Debug)]
struct Tick;

impl Message for Tick {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        Ok(SerializedMessage::Cast {
            variant: String::new(),
            args: Vec::new(),
            metadata: None,
        })
    }

    fn deserialize(_: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        Ok(Tick)
    }
}

/// Records, when it handles its first message, how many frames the reader had received then.
struct FirstLook(Arc<ReceivedFrames>, Arc<AtomicU64>);

impl Actor for FirstLook {
    type Msg = Tick;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Tick>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Tick>,
        _: Tick,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = self
            .1
            .compare_exchange(0, self.0.count(), Ordering::Relaxed, Ordering::Relaxed);
        Ok(())
    }
}

/// Stands in for the session actor, which this test does not need.
struct Silent;

impl Actor for Silent {
    type Msg = NodeSessionMessage;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<NodeSessionMessage>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A reply sent by `send_reply` with a context, as the peer reads it: traced to a peer of
/// 2.9 or later, plain (and exactly as long as without a context) to an older one.
#[cfg(feature = "trace-context")]
#[tokio::test]
async fn a_reply_goes_back_traced_only_to_a_2_9_peer_and_only_with_a_context() {
    use crate::protocol::message::{ReplyOutcome, TraceParent, TracedMessage};

    let context = TraceParent {
        trace_id: [7; 16],
        span_id: [8; 8],
        flags: 1,
    };
    let (session, _) = Actor::spawn(None, Silent, ()).await.unwrap();
    let mut frames = Vec::new();
    for (peer_takes, trace) in [(true, Some(context)), (false, Some(context)), (true, None)] {
        let (near, far) = tokio::io::duplex(1 << 16);
        let (writer, _writer_task) = spawn_writer(Box::new(near));
        let reader_context = ReaderContext {
            session: session.clone(),
            writer,
            in_flight: Arc::default(),
            max_frame: u32::MAX,
            max_unanswered_calls: crate::node::DEFAULT_MAX_UNANSWERED_CALLS,
            received: Arc::default(),
            control: ControlQueue::new(crate::node::DEFAULT_MAX_QUEUED_CONTROL_MESSAGES),
            stats: Arc::default(),
            trace: super::super::traced::ReplyTracing {
                peer_takes,
                peer: "peer".to_owned(),
            },
        };
        reader_context.send_reply(5, Ok(&[1, 2]), trace);
        let mut peer = FrameReader::new(Box::new(far));
        let body = tokio::time::timeout(Duration::from_secs(10), peer.next_frame(u32::MAX))
            .await
            .expect("the reply to be written")
            .unwrap()
            .expect("a frame");
        frames.push((body.len(), SessionMessage::decode(body).unwrap()));
    }
    let outcome = ReplyOutcome::Value(vec![1, 2]);
    let plain = SessionMessage::Reply {
        call: 5,
        outcome: outcome.clone(),
    };
    let traced = SessionMessage::Traced {
        context,
        message: TracedMessage::Reply { call: 5, outcome },
    };
    assert_eq!(frames[0].1, traced);
    assert_eq!(frames[1].1, plain, "a 2.8 peer gets the reply untraced");
    assert_eq!(
        frames[2].1, plain,
        "a reply without a context goes untraced"
    );
    assert_eq!(frames[0].0, frames[1].0 + 26);
    assert_eq!(frames[1].0, frames[2].0);
    session.stop(None);
}

// One thread, as in a node running one tokio worker: the reader and the actor take turns.
#[tokio::test(flavor = "current_thread")]
async fn the_reader_lets_the_actor_run_during_a_burst() {
    const BURST: u64 = 5_000;
    let received = Arc::new(ReceivedFrames::default());
    let first_look = Arc::new(AtomicU64::new(0));
    let (actor, _) = Actor::spawn(
        None,
        FirstLook(Arc::clone(&received), Arc::clone(&first_look)),
        (),
    )
    .await
    .unwrap();
    let (session, _) = Actor::spawn(None, Silent, ()).await.unwrap();

    // The whole burst is in the socket before the reader starts.
    let (mut near, far) = tokio::io::duplex(1 << 20);
    let mut burst = Vec::new();
    for _ in 0..BURST {
        let payload = Payload {
            variant: "Tick",
            fields: &[],
            metadata: None,
            #[cfg(feature = "trace-context")]
            trace: None,
        };
        encode_cast_frame(actor.get_id().pid(), payload, u32::MAX, &mut burst).unwrap();
    }
    tokio::io::AsyncWriteExt::write_all(&mut near, &burst)
        .await
        .unwrap();
    let (replies, _far_replies) = tokio::io::duplex(1 << 16);
    let (writer, _writer_task) = spawn_writer(Box::new(replies));
    let reader = spawn_reader(
        FrameReader::new(Box::new(far)),
        context(&session, writer, Arc::clone(&received)),
    );

    tokio::time::timeout(Duration::from_secs(10), async {
        while received.count() < BURST || first_look.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the burst to be read and handled");
    let seen = first_look.load(Ordering::Relaxed);
    // Without the reader's yields, the actor would first run after all of them.
    assert!(
        seen < BURST / 4,
        "the actor first ran after {seen} of {BURST} frames"
    );
    reader.abort();
    actor.stop(None);
    session.stop(None);
}

#[tokio::test]
async fn the_reader_task_holds_its_frame_reader_once() {
    // Every session has a reader task: as an `async fn`, its future held the frame reader twice
    // (its argument and its local), 2 KiB in all, for hundreds of sessions per node.
    let (session, _) = Actor::spawn(None, Silent, ()).await.unwrap();
    let (near, _far) = tokio::io::duplex(1 << 10);
    let (replies, _far_replies) = tokio::io::duplex(1 << 10);
    let (writer, _writer_task) = spawn_writer(Box::new(replies));
    let task = run(
        FrameReader::new(Box::new(near)),
        context(&session, writer, Arc::default()),
    );
    let reader = std::mem::size_of::<FrameReader>();
    let size = std::mem::size_of_val(&task);
    assert!(
        size < reader + 1024,
        "the reader's future takes {size} bytes, its frame reader {reader}"
    );
    drop(task);
    session.stop(None);
}

/// A reader's context with the defaults, for `session`, replying through `writer`.
fn context(
    session: &ActorRef<NodeSessionMessage>,
    writer: crate::net::WriterHandle,
    received: Arc<ReceivedFrames>,
) -> ReaderContext {
    ReaderContext {
        session: session.clone(),
        writer,
        in_flight: Arc::default(),
        max_frame: u32::MAX,
        max_unanswered_calls: crate::node::DEFAULT_MAX_UNANSWERED_CALLS,
        received,
        control: ControlQueue::new(crate::node::DEFAULT_MAX_QUEUED_CONTROL_MESSAGES),
        stats: Arc::default(),
        #[cfg(feature = "trace-context")]
        trace: Default::default(),
    }
}
