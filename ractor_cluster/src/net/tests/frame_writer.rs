//! Tests of the outbound queue and its writer task.

use std::time::Duration;

use super::*;
use crate::net::FrameReader;
use crate::protocol::fragment::FRAGMENT_CHUNK;
use crate::protocol::hot_frames::{encode_cast_frame, encode_reply_frame, split_payload, Payload};
use crate::protocol::message::{ControlMessage, SessionMessage};

const LIMIT: u32 = 64 * 1024 * 1024;

fn cast(writer: &WriterHandle, to: u64, args: &[u8]) {
    let payload = Payload {
        variant: "",
        fields: args,
        metadata: None,
        #[cfg(feature = "trace-context")]
        trace: None,
    };
    writer
        .push(Lane::Actor(to), args.len(), |out| {
            encode_cast_frame(to, payload, LIMIT, out)
        })
        .unwrap()
        .unwrap();
}

fn heartbeat() -> Vec<u8> {
    let mut frame = Vec::new();
    SessionMessage::Control(ControlMessage::Heartbeat)
        .encode_frame(LIMIT, &mut frame)
        .unwrap();
    frame
}

/// Reads `count` frames and names each: "heartbeat", "cast <to> <len>" or "piece <more>".
async fn read_frames(reader: &mut FrameReader, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        let body = tokio::time::timeout(Duration::from_secs(10), reader.next_frame(LIMIT))
            .await
            .expect("frames arrive")
            .unwrap()
            .expect("the stream is open");
        seen.push(match SessionMessage::decode(body).unwrap() {
            SessionMessage::Control(ControlMessage::Heartbeat) => "heartbeat".to_owned(),
            SessionMessage::Cast { to, args } => {
                let (_, fields) = split_payload(args).unwrap();
                format!("cast {to} {}", fields.len())
            }
            SessionMessage::Fragment { more, .. } => format!("piece {more}"),
            other => other.kind().to_owned(),
        });
    }
    seen
}

fn position(seen: &[String], what: &str) -> usize {
    seen.iter().position(|s| s == what).unwrap_or(usize::MAX)
}

#[tokio::test]
async fn a_large_frame_goes_in_pieces_with_other_traffic_between_them() {
    let (near, far) = tokio::io::duplex(1 << 20);
    let (writer, _task) = spawn_writer(Box::new(near));
    let mut reader = FrameReader::new(Box::new(far));

    let big = vec![7u8; 5 * FRAGMENT_CHUNK];
    cast(&writer, 1, &big);
    writer.send(heartbeat()).unwrap();
    cast(&writer, 2, b"small");

    let pieces = (big.len() + 16).div_ceil(FRAGMENT_CHUNK);
    let seen = read_frames(&mut reader, pieces + 2).await;
    let last_piece = position(&seen, "piece false");
    assert!(position(&seen, "heartbeat") < last_piece, "{seen:?}");
    assert!(position(&seen, "cast 2 5") < last_piece, "{seen:?}");
}

#[tokio::test]
async fn a_frame_for_the_same_actor_waits_behind_its_large_one() {
    let (near, far) = tokio::io::duplex(1 << 20);
    let (writer, _task) = spawn_writer(Box::new(near));
    let mut reader = FrameReader::new(Box::new(far));

    let big = vec![7u8; 3 * FRAGMENT_CHUNK];
    cast(&writer, 1, &big);
    cast(&writer, 1, b"after");
    cast(&writer, 1, &big);
    cast(&writer, 1, b"last");

    let pieces = (big.len() + 16).div_ceil(FRAGMENT_CHUNK);
    let seen = read_frames(&mut reader, 2 * pieces + 2).await;
    let firsts: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| *s == "piece false")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(firsts.len(), 2, "{seen:?}");
    let after = position(&seen, "cast 1 5");
    let last = position(&seen, "cast 1 4");
    assert!(
        firsts[0] < after && after < firsts[1] && firsts[1] < last,
        "{seen:?}"
    );
}

/// A writer on a pipe that holds 4 KiB, with a queue limit of 16 KiB, and the pipe's far end:
/// nothing drains until the test reads.
fn small_pipe() -> (WriterHandle, FrameReader) {
    let (near, far) = tokio::io::duplex(4096);
    let (writer, _task) = spawn_writer_with_limit(Box::new(near), 16 * 1024);
    (writer, FrameReader::new(Box::new(far)))
}

/// Casts 1 KiB until the queue holds its limit; returns how many frames that took.
async fn fill_with_casts(writer: &WriterHandle) -> usize {
    let mut sent = 0;
    while !writer.is_congested() {
        cast(writer, 1, &[1u8; 1024]);
        sent += 1;
        tokio::task::yield_now().await;
    }
    sent
}

#[tokio::test]
async fn a_full_queue_makes_senders_wait_until_the_peer_reads() {
    let (writer, mut reader) = small_pipe();
    let sent = fill_with_casts(&writer).await;
    assert!(writer.queued_bytes() >= 16 * 1024);
    let waiting = tokio::time::timeout(Duration::from_millis(50), writer.wait_for_room()).await;
    assert!(waiting.is_err(), "no room while the peer reads nothing");

    let drain = tokio::spawn(async move {
        read_frames(&mut reader, sent).await;
        reader
    });
    tokio::time::timeout(Duration::from_secs(10), writer.wait_for_room())
        .await
        .expect("room once the peer reads");
    assert!(!writer.is_congested());
    drain.await.unwrap();
}

#[tokio::test]
async fn replies_and_control_frames_count_as_unpaced_until_written() {
    let (writer, mut reader) = small_pipe();
    // Casts are paced by their senders: they never count as unpaced.
    let mut sent = fill_with_casts(&writer).await;
    assert!(!writer.is_unpaced_over_limit());

    // Replies and control frames are.
    while !writer.is_unpaced_over_limit() {
        writer.send(heartbeat()).unwrap();
        writer
            .push(Lane::Reply, 1024, |out| {
                encode_reply_frame(9, Ok(&[2u8; 1024]), LIMIT, out)
            })
            .unwrap()
            .unwrap();
        sent += 2;
        tokio::task::yield_now().await;
    }
    let mut writes = 0;
    let waiting = tokio::time::timeout(
        Duration::from_millis(50),
        writer.wait_for_unpaced_room(|| writes += 1),
    )
    .await;
    assert!(waiting.is_err(), "no room while the peer reads nothing");

    let drain = tokio::spawn(async move {
        read_frames(&mut reader, sent).await;
        reader
    });
    let mut writes = 0;
    tokio::time::timeout(
        Duration::from_secs(10),
        writer.wait_for_unpaced_room(|| writes += 1),
    )
    .await
    .expect("room once the peer reads");
    assert!(writes > 0, "every write the peer takes is reported");
    assert!(!writer.is_unpaced_over_limit());
    drain.await.unwrap();
}

/// A transport that notes, at its first write, whether `ran` was set by then.
struct NotesFirstWrite {
    inner: tokio::io::DuplexStream,
    vectored: bool,
    ran: Arc<std::sync::atomic::AtomicBool>,
    at_first_write: Arc<Mutex<Option<bool>>>,
}

impl NotesFirstWrite {
    fn note(&self) {
        let mut noted = self.at_first_write.lock().unwrap();
        if noted.is_none() {
            *noted = Some(self.ran.load(Ordering::SeqCst));
        }
    }
}

impl tokio::io::AsyncWrite for NotesFirstWrite {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.note();
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        self.note();
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Queues a sealed turn of `casts` casts of 1 KiB, then spawns a task behind the writer's on this
/// (current-thread) runtime; returns whether that task had run when the turn's first byte was
/// written, i.e. whether the writer let the runtime run other tasks while it sealed the turn.
///
/// The runtime's one blocking thread is held by a job that only that task releases, so a seal
/// handed to the pool cannot finish (and the writer cannot write) before the task has run,
/// however fast the seal: the answer does not depend on timing.
async fn another_task_ran_before_the_first_sealed_write(vectored: bool, casts: usize) -> bool {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let blocker =
        tokio::task::spawn_blocking(move || held.recv_timeout(Duration::from_secs(10)).is_ok());
    let (near, mut far) = tokio::io::duplex(4 << 20);
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let at_first_write = Arc::new(Mutex::new(None));
    let transport = NotesFirstWrite {
        inner: near,
        vectored,
        ran: Arc::clone(&ran),
        at_first_write: Arc::clone(&at_first_write),
    };
    // The writer task is queued first: it takes the whole turn when it first runs.
    let (writer, task) = spawn_writer(Box::new(transport));
    writer
        .seal_after_queued(Sealer::new(&crate::protocol::record::RecordKey([7; 32])))
        .unwrap();
    for _ in 0..casts {
        cast(&writer, 1, &[3u8; 1024]);
    }
    drop(writer);
    tokio::spawn(async move {
        ran.store(true, Ordering::SeqCst);
        let _ = release.send(());
    });
    let mut wire = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut far, &mut wire),
    )
    .await
    .expect("the writer finishes")
    .unwrap();
    assert!(matches!(task.await.unwrap(), WriterExit::Finished));
    assert!(blocker.await.unwrap(), "the blocking thread was released");
    assert!(wire.len() > casts * 1024, "the turn was written");
    let noted = *at_first_write.lock().unwrap();
    noted.expect("the writer wrote")
}

#[test]
fn a_large_sealed_turn_is_sealed_off_the_worker_and_a_small_one_on_it() {
    use crate::net::sealing::OFFLOAD_ABOVE;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let large = OFFLOAD_ABOVE / 1024 + 1;
    runtime.block_on(async {
        for vectored in [true, false] {
            // Beside the runtime's worker: other tasks run while the cipher does.
            assert!(
                another_task_ran_before_the_first_sealed_write(vectored, large).await,
                "a turn of {large} KiB is sealed off the worker (vectored: {vectored})"
            );
            // A call's or a heartbeat's turn is sealed and written at once, in the same poll.
            assert!(
                !another_task_ran_before_the_first_sealed_write(vectored, 2).await,
                "a turn of 2 KiB is sealed on the worker (vectored: {vectored})"
            );
            // So is a flood's turn of a few records: handing it off would cost more than the seal.
            assert!(
                !another_task_ran_before_the_first_sealed_write(vectored, 200).await,
                "a turn of 200 KiB is sealed on the worker (vectored: {vectored})"
            );
        }
    });
}

#[test]
fn the_writer_task_keeps_no_slices_across_its_waits() {
    // Every session has a writer task: with the slices of a vectored write (96 of them) kept
    // across the write's await, its future took 2 KiB, for hundreds of sessions per node.
    let (near, _far) = tokio::io::duplex(1 << 10);
    let task = run_writer(Box::new(near), Shared::new(1 << 20));
    let size = std::mem::size_of_val(&task);
    assert!(size < 1024, "the writer's future takes {size} bytes");
}
