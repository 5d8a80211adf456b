//! Sealed sessions at the network layer: the writer seals each turn, the reader opens records in
//! place, and whatever is altered on the way ends the stream with nothing of it delivered.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{frame, patterned_body, within};
use crate::net::{spawn_writer, FrameReader, Lane, ReadError, WriterExit};
use crate::protocol::frame::FrameError;
use crate::protocol::record::{Opener, RecordError, RecordKey, Sealer, RECORD_HEADER_LEN, TAG_LEN};

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
