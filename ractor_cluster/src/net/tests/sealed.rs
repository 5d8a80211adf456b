//! Sealed sessions at the network layer: the writer seals each turn, the reader opens records in
//! place, and whatever is altered on the way ends the stream with nothing of it delivered.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{frame, patterned_body, within};
use crate::net::{spawn_writer, FrameReader, Lane, ReadError, WriterExit};
use crate::protocol::frame::FrameError;
use crate::protocol::record::{
    Opener, RecordError, RecordKey, Sealer, MAX_RECORD_PLAINTEXT, RECORD_HEADER_LEN, TAG_LEN,
};

const MIB: usize = 1024 * 1024;

fn key() -> RecordKey {
    RecordKey([7; 32])
}

fn cast(writer: &crate::net::WriterHandle, body: &[u8]) {
    writer
        .push(Lane::Actor(1), body.len(), |out| {
            out.extend_from_slice(&frame(body));
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn frames_queued_before_the_switch_go_plain_and_the_rest_sealed() {
    let (near, mut far) = tokio::io::duplex(4 * MIB);
    let (writer, writer_task) = spawn_writer(Box::new(near));
    // The handshake's last frame, then the switch, then session traffic: as the session does it.
    writer.send(frame(b"server proof")).unwrap();
    writer.seal_after_queued(Sealer::new(&key())).unwrap();
    let bodies: Vec<Vec<u8>> = (0..300).map(|i| patterned_body(i, 16 + i % 40)).collect();
    for body in &bodies {
        cast(&writer, body);
    }
    let big = patterned_body(999, 3 * MIB);
    cast(&writer, &big);
    drop(writer);
    assert!(matches!(
        within(writer_task).await.unwrap(),
        WriterExit::Finished
    ));

    let mut wire = Vec::new();
    within(far.read_to_end(&mut wire)).await.unwrap();
    // The proof is in the clear, the casts are not.
    assert!(wire.starts_with(&frame(b"server proof")));
    let needle = &bodies[5];
    assert!(!wire.windows(needle.len()).any(|w| w == needle.as_slice()));

    let mut reader = FrameReader::new(Box::new(std::io::Cursor::new(wire)));
    assert_eq!(
        within(reader.next_frame(4096)).await.unwrap().unwrap(),
        b"server proof"
    );
    reader.start_opening(Opener::new(&key()));
    let mut seen = Vec::new();
    while let Some(body) = within(reader.next_frame(8 * MIB as u32)).await.unwrap() {
        seen.push(body.to_vec());
    }
    // The large cast went in fragments: the small ones all arrive, in order, before its end.
    let small: Vec<Vec<u8>> = seen
        .iter()
        .filter(|b| bodies.contains(b))
        .cloned()
        .collect();
    assert_eq!(small, bodies);
    let total: usize = seen.iter().map(|b| b.len()).sum();
    assert!(total >= big.len());
}

#[tokio::test]
async fn a_turn_of_small_frames_is_one_record() {
    let (near, mut far) = tokio::io::duplex(MIB);
    let (writer, writer_task) = spawn_writer(Box::new(near));
    writer.seal_after_queued(Sealer::new(&key())).unwrap();
    // Queued before the writer task first runs: one turn.
    for i in 0..100 {
        cast(&writer, &patterned_body(i, 16));
    }
    drop(writer);
    within(writer_task).await.unwrap();
    let mut wire = Vec::new();
    within(far.read_to_end(&mut wire)).await.unwrap();
    assert_eq!(wire.len(), RECORD_HEADER_LEN + 100 * (4 + 16) + TAG_LEN);
}

/// Seals `bodies` as frames, one record per frame, with the test key.
fn records(bodies: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut sealer = Sealer::new(&key());
    bodies
        .iter()
        .map(|body| {
            let mut out = Vec::new();
            sealer.seal(&[&frame(body)], &mut out).unwrap();
            out
        })
        .collect()
}

/// Feeds `wire` to a sealed reader; the frames it delivers and how it ended.
async fn read_sealed(wire: Vec<u8>) -> (Vec<Vec<u8>>, Result<(), ReadError>) {
    let (near, mut far) = tokio::io::duplex(MIB);
    let mut reader = FrameReader::new(Box::new(near));
    reader.start_opening(Opener::new(&key()));
    far.write_all(&wire).await.unwrap();
    drop(far);
    let mut delivered = Vec::new();
    loop {
        match within(reader.next_frame(4096)).await {
            Ok(Some(body)) => delivered.push(body.to_vec()),
            Ok(None) => return (delivered, Ok(())),
            Err(err) => return (delivered, Err(err)),
        }
    }
}

#[tokio::test]
async fn a_replayed_record_ends_the_stream_and_is_not_delivered_twice() {
    let r = records(&[b"one", b"two", b"three"]);
    let wire = [r[0].clone(), r[1].clone(), r[1].clone(), r[2].clone()].concat();
    let (delivered, end) = read_sealed(wire).await;
    assert_eq!(delivered, [b"one".to_vec(), b"two".to_vec()]);
    assert!(
        matches!(
            end,
            Err(ReadError::Frame(FrameError::Record(
                RecordError::Unauthentic { record: 2 }
            )))
        ),
        "{end:?}"
    );
}

#[tokio::test]
async fn injected_bytes_end_the_stream_and_are_not_delivered() {
    let r = records(&[b"one", b"two"]);
    // A plaintext frame slipped in between two records, as a man in the middle without the keys
    // would have done before sealing.
    let wire = [r[0].clone(), frame(b"injected"), r[1].clone()].concat();
    let (delivered, end) = read_sealed(wire).await;
    assert_eq!(delivered, [b"one".to_vec()]);
    assert!(end.is_err());
}

#[tokio::test]
async fn a_stream_cut_inside_a_record_is_truncated() {
    let r = records(&[b"one", b"two"]);
    let mut wire = [r[0].clone(), r[1].clone()].concat();
    wire.truncate(wire.len() - 3);
    let (delivered, end) = read_sealed(wire).await;
    assert_eq!(delivered, [b"one".to_vec()]);
    assert!(
        matches!(end, Err(ReadError::Frame(FrameError::Truncated { .. }))),
        "{end:?}"
    );
}

#[tokio::test]
async fn a_large_frame_over_many_records_keeps_the_buffer_bounded() {
    let big = patterned_body(3, 5 * MIB);
    let mut wire = Vec::new();
    Sealer::new(&key())
        .seal(&[&frame(&big)], &mut wire)
        .unwrap();
    let (near, mut far) = tokio::io::duplex(256 * 1024);
    let mut reader = FrameReader::new(Box::new(near));
    reader.start_opening(Opener::new(&key()));
    let writing = tokio::spawn(async move {
        far.write_all(&wire).await.unwrap();
        far
    });
    let got = within(reader.next_frame(8 * MIB as u32))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, big.as_slice());
    // The frame, plus a bounded allowance for records around it.
    assert!(
        reader.buffer_capacity() < 5 * MIB + 256 * 1024,
        "{}",
        reader.buffer_capacity()
    );
    drop(within(writing).await.unwrap());
    assert!(within(reader.next_frame(4096)).await.unwrap().is_none());
}

/// The record lengths (header included) of a sealed stream.
fn record_lengths(mut wire: &[u8]) -> Vec<usize> {
    let mut lengths = Vec::new();
    while let Some((header, _)) = wire.split_first_chunk::<RECORD_HEADER_LEN>() {
        let len = RECORD_HEADER_LEN + u32::from_le_bytes(*header) as usize;
        lengths.push(len);
        wire = &wire[len.min(wire.len())..];
    }
    lengths
}

/// Every frame of a sealed `wire`, read as a session reads them.
async fn open_all(wire: Vec<u8>) -> Vec<Vec<u8>> {
    let mut reader = FrameReader::new(Box::new(std::io::Cursor::new(wire)));
    reader.start_opening(Opener::new(&key()));
    let mut seen = Vec::new();
    while let Some(body) = within(reader.next_frame(MIB as u32)).await.unwrap() {
        seen.push(body.to_vec());
    }
    seen
}

/// Runs a sealed writer over `transport`, with `queue` called before its first turn; the bytes
/// that reach `far`.
async fn sealed_wire(
    transport: crate::BoxWrite,
    mut far: tokio::io::DuplexStream,
    queue: impl FnOnce(&crate::net::WriterHandle),
) -> Vec<u8> {
    let (writer, writer_task) = spawn_writer(transport);
    writer.seal_after_queued(Sealer::new(&key())).unwrap();
    queue(&writer);
    drop(writer);
    let reading = tokio::spawn(async move {
        let mut wire = Vec::new();
        far.read_to_end(&mut wire).await.unwrap();
        wire
    });
    assert!(matches!(
        within(writer_task).await.unwrap(),
        WriterExit::Finished
    ));
    within(reading).await.unwrap()
}

#[tokio::test]
async fn a_turn_above_64_kib_is_records_at_the_bound_and_reads_back_whole() {
    let bodies: Vec<Vec<u8>> = (0..100).map(|i| patterned_body(i, 1000)).collect();
    let (near, far) = tokio::io::duplex(MIB);
    let wire = sealed_wire(Box::new(near), far, |writer| {
        for body in &bodies {
            cast(writer, body);
        }
    })
    .await;
    let turn = 100 * (4 + 1000);
    assert_eq!(
        record_lengths(&wire),
        [
            RECORD_HEADER_LEN + MAX_RECORD_PLAINTEXT + TAG_LEN,
            RECORD_HEADER_LEN + turn - MAX_RECORD_PLAINTEXT + TAG_LEN
        ]
    );
    // The frame the bound cuts in two arrives whole, in its place.
    assert_eq!(open_all(wire).await, bodies);
}

#[tokio::test]
async fn control_frames_and_casts_of_one_turn_are_two_records_in_that_order() {
    let (near, far) = tokio::io::duplex(MIB);
    let wire = sealed_wire(Box::new(near), far, |writer| {
        cast(writer, b"a cast");
        writer.send(frame(b"a control frame")).unwrap();
        cast(writer, b"another cast");
    })
    .await;
    assert_eq!(
        record_lengths(&wire),
        [
            RECORD_HEADER_LEN + 4 + 15 + TAG_LEN,
            RECORD_HEADER_LEN + 4 + 6 + 4 + 12 + TAG_LEN
        ]
    );
    assert_eq!(
        open_all(wire).await,
        [
            b"a control frame".to_vec(),
            b"a cast".to_vec(),
            b"another cast".to_vec()
        ]
    );
}

#[tokio::test]
async fn records_written_three_bytes_at_a_time_arrive_whole() {
    let bodies: Vec<Vec<u8>> = (0..40).map(|i| patterned_body(i, 10 + i)).collect();
    let (near, far) = tokio::io::duplex(3);
    let wire = sealed_wire(Box::new(near), far, |writer| {
        writer.send(frame(b"control")).unwrap();
        for body in &bodies {
            cast(writer, body);
        }
    })
    .await;
    let seen = open_all(wire).await;
    assert_eq!(seen[0], b"control");
    assert_eq!(seen[1..], bodies);
}

/// A transport that writes one buffer per call, as a `ClusterBidiStream` that does not
/// implement vectored writes does; counts its write calls.
struct OneBufferAtATime {
    inner: tokio::io::DuplexStream,
    writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncWrite for OneBufferAtATime {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_transport_without_vectored_writes_gets_the_same_records_in_one_write() {
    let bodies: Vec<Vec<u8>> = (0..100).map(|i| patterned_body(i, 1000)).collect();
    let queue = |writer: &crate::net::WriterHandle| {
        for body in &bodies {
            cast(writer, body);
        }
    };
    let (near, far) = tokio::io::duplex(MIB);
    let vectored = sealed_wire(Box::new(near), far, queue).await;

    let (near, far) = tokio::io::duplex(MIB);
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let one_at_a_time = OneBufferAtATime {
        inner: near,
        writes: std::sync::Arc::clone(&writes),
    };
    let copied = sealed_wire(Box::new(one_at_a_time), far, queue).await;
    assert_eq!(copied, vectored);
    // Two records, copied into one buffer and written at once: not a call per header, body
    // and tag.
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// The body of cast number `seq` in [`large_turns_arrive_once_and_in_order`]: its number, then a
/// pattern of its own.
fn numbered_body(seq: usize) -> Vec<u8> {
    let mut body = (seq as u64).to_le_bytes().to_vec();
    body.extend_from_slice(&patterned_body(seq, 1016));
    body
}

/// Streams `turns` turns of 1 KiB casts, each turn above the size that is sealed off the
/// runtime's worker, through a sealed writer on `near` and a reader on `far`, the sender
/// queuing its next turn while the writer seals the last; checks that every cast arrives once,
/// in order.
async fn large_turns_arrive_once_and_in_order(
    near: crate::BoxWrite,
    far: crate::BoxRead,
    turns: usize,
) {
    let per_turn = crate::net::sealing::OFFLOAD_ABOVE / 1024 + 8;
    let (writer, writer_task) = spawn_writer(near);
    writer.seal_after_queued(Sealer::new(&key())).unwrap();
    let producing = tokio::spawn(async move {
        for turn in 0..turns {
            for seq in turn * per_turn..(turn + 1) * per_turn {
                cast(&writer, &numbered_body(seq));
            }
            // The writer takes this turn now, and this task queues the next while it is sealed.
            tokio::task::yield_now().await;
            writer.wait_for_room().await;
        }
    });
    let mut reader = FrameReader::new(far);
    reader.start_opening(Opener::new(&key()));
    let mut next = 0;
    while let Some(body) = within(reader.next_frame(MIB as u32)).await.unwrap() {
        assert!(
            body == numbered_body(next),
            "cast {next} arrives in its place"
        );
        next += 1;
    }
    assert_eq!(next, turns * per_turn, "every cast arrives");
    within(producing).await.unwrap();
    assert!(matches!(
        within(writer_task).await.unwrap(),
        WriterExit::Finished
    ));
}

#[tokio::test]
async fn large_turns_sealed_off_the_worker_arrive_once_and_in_order_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (dialed, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let (_, near) = dialed.unwrap().into_split();
    let (far, _) = accepted.unwrap().0.into_split();
    large_turns_arrive_once_and_in_order(Box::new(near), Box::new(far), 24).await;
}

#[tokio::test]
async fn large_turns_sealed_off_the_worker_arrive_once_and_in_order_without_vectored_writes() {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let one_at_a_time = OneBufferAtATime {
        inner: near,
        writes: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    };
    large_turns_arrive_once_and_in_order(Box::new(one_at_a_time), Box::new(far), 8).await;
}
