//! The frame reader and the writer task.

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{frame, patterned_body, within};
use crate::net::{
    dial_tcp, spawn_writer, AcceptOptions, FrameReader, IncomingEncryptionMode, Lane, Listener,
    ReadError, WriterExit,
};
use crate::protocol::frame::FrameError;

const MIB: usize = 1024 * 1024;

/// A reader over one end of an in-memory pipe, and the other end to write raw bytes into.
fn reader_over_pipe(pipe_capacity: usize) -> (FrameReader, tokio::io::DuplexStream) {
    let (near, far) = tokio::io::duplex(pipe_capacity);
    (FrameReader::new(Box::new(near)), far)
}

#[tokio::test]
async fn frames_cross_tcp_loopback_intact_and_in_order() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr();
    assert_ne!(
        addr.port(),
        0,
        "the listener reports the port actually bound"
    );

    let (accepted_tx, mut accepted_rx) = mpsc::unbounded_channel();
    let _listening = listener.spawn(AcceptOptions::new(IncomingEncryptionMode::Raw), move |s| {
        let _ = accepted_tx.send(s.stream);
    });

    let client = within(dial_tcp(addr)).await.unwrap();
    assert_eq!(client.peer_addr(), Some(addr));
    let server = within(accepted_rx.recv()).await.unwrap();
    assert_eq!(server.peer_addr(), client.local_addr());
    assert!(!server.is_tls());

    // Small frames, one large frame in the middle, small frames again.
    let mut bodies: Vec<Vec<u8>> = (0..2000).map(|i| patterned_body(i, 1 + i % 300)).collect();
    bodies.insert(1000, patterned_body(7, 4 * MIB));

    let (_client_read, client_write) = client.split();
    let (writer, writer_task) = spawn_writer(client_write);
    for body in &bodies {
        writer.send(frame(body)).unwrap();
    }
    drop(writer);

    let (server_read, _server_write) = server.split();
    let mut reader = FrameReader::new(server_read);
    for (index, expected) in bodies.iter().enumerate() {
        let got = within(reader.next_frame(8 * MIB as u32))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("stream ended before frame {index}"));
        assert!(got == expected.as_slice(), "frame {index} differs");
    }
    // Every handle dropped: the writer wrote everything, then shut the stream down cleanly.
    assert!(within(reader.next_frame(8 * MIB as u32))
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        within(writer_task).await.unwrap(),
        WriterExit::Finished
    ));
    // The 4 MiB frame grew the buffer; the small frames after it shrank it back.
    assert!(
        reader.buffer_capacity() < MIB,
        "buffer still holds {} bytes",
        reader.buffer_capacity()
    );
}

#[tokio::test]
async fn frames_split_across_many_small_reads_are_reassembled() {
    // A 7-byte pipe delivers every frame in pieces, headers included.
    let (mut reader, mut far) = reader_over_pipe(7);
    let bodies: Vec<Vec<u8>> = (0..50).map(|i| patterned_body(i, 1 + i * 13)).collect();
    let to_send: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
    let sender = tokio::spawn(async move {
        far.write_all(&to_send).await.unwrap();
    });
    for expected in &bodies {
        let got = within(reader.next_frame(4096)).await.unwrap().unwrap();
        assert_eq!(got, expected.as_slice());
    }
    within(sender).await.unwrap();
    assert!(within(reader.next_frame(4096)).await.unwrap().is_none());
}

#[tokio::test]
async fn frame_over_the_limit_is_rejected_before_its_body_is_buffered() {
    let (mut reader, mut far) = reader_over_pipe(1024);
    let claimed: u32 = 512 * MIB as u32;
    // Only the header: the peer claims a huge frame and keeps the connection open.
    far.write_all(&claimed.to_le_bytes()).await.unwrap();

    let err = within(reader.next_frame(64 * 1024)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Frame(FrameError::Oversized { claimed: c, limit: 65536 }) if c == claimed
        ),
        "{err:?}"
    );
    assert!(
        reader.buffer_capacity() <= 64 * 1024,
        "reserved {} bytes for a rejected frame",
        reader.buffer_capacity()
    );
}

#[tokio::test]
async fn empty_frame_is_rejected() {
    let (mut reader, mut far) = reader_over_pipe(1024);
    far.write_all(&0u32.to_le_bytes()).await.unwrap();
    let err = within(reader.next_frame(4096)).await.unwrap_err();
    assert!(
        matches!(err, ReadError::Frame(FrameError::Empty)),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_ending_inside_a_frame_is_an_error() {
    let (mut reader, mut far) = reader_over_pipe(1024);
    let mut bytes = frame(b"complete");
    bytes.extend_from_slice(&10u32.to_le_bytes());
    bytes.extend_from_slice(b"abc");
    far.write_all(&bytes).await.unwrap();
    drop(far);

    assert_eq!(
        within(reader.next_frame(4096)).await.unwrap(),
        Some(&b"complete"[..])
    );
    let err = within(reader.next_frame(4096)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Frame(FrameError::Truncated {
                received: 7,
                needed: Some(14)
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_ending_inside_a_header_is_an_error() {
    let (mut reader, mut far) = reader_over_pipe(1024);
    far.write_all(&[5, 0]).await.unwrap();
    drop(far);
    let err = within(reader.next_frame(4096)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Frame(FrameError::Truncated {
                received: 2,
                needed: None
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_ending_between_frames_is_a_clean_end() {
    let (mut reader, far) = reader_over_pipe(1024);
    drop(far);
    assert!(within(reader.next_frame(4096)).await.unwrap().is_none());
}

#[tokio::test]
async fn limit_can_be_raised_for_frames_already_buffered() {
    let (mut reader, mut far) = reader_over_pipe(256 * 1024);
    // The peer sends its last handshake frame and, right behind it, a large one meant for after
    // authentication: both may arrive in the same read.
    let large = patterned_body(3, 100 * 1024);
    let mut bytes = frame(b"handshake");
    bytes.extend_from_slice(&frame(&large));
    far.write_all(&bytes).await.unwrap();

    assert_eq!(
        within(reader.next_frame(4096)).await.unwrap(),
        Some(&b"handshake"[..])
    );
    let got = within(reader.next_frame(16 * MIB as u32))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, large.as_slice());
}

#[tokio::test]
async fn next_frame_is_cancel_safe() {
    let (mut reader, mut far) = reader_over_pipe(1024);
    let bytes = frame(b"resumed after cancel");
    // Half a frame, then the reader is cancelled while waiting for the rest.
    let (first, second) = bytes.split_at(10);
    far.write_all(first).await.unwrap();
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(20),
        reader.next_frame(4096),
    )
    .await;
    assert!(waited.is_err(), "no whole frame was sent yet");

    far.write_all(second).await.unwrap();
    assert_eq!(
        within(reader.next_frame(4096)).await.unwrap(),
        Some(&b"resumed after cancel"[..])
    );
}

#[tokio::test]
async fn writer_coalesces_queued_frames_and_counts_queued_bytes() {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (writer, writer_task) = spawn_writer(Box::new(near));
    let bodies: Vec<Vec<u8>> = (0..500).map(|i| patterned_body(i, 10 + i)).collect();
    let total: usize = bodies.iter().map(|b| b.len() + 4).sum();
    for body in &bodies {
        // Counted traffic (replies, casts, calls); control frames sent with `send` are not.
        writer
            .push(Lane::Reply, body.len(), |out| {
                out.extend_from_slice(&frame(body));
                Ok::<(), ()>(())
            })
            .unwrap()
            .unwrap();
    }
    // Nothing can be written before this task yields, so every byte is still queued.
    assert_eq!(writer.queued_bytes(), total);

    let mut reader = FrameReader::new(Box::new(far));
    for expected in &bodies {
        let got = within(reader.next_frame(4096)).await.unwrap().unwrap();
        assert_eq!(got, expected.as_slice());
    }
    // The counter drops as writes complete; poll it with a bounded wait.
    within(async {
        while writer.queued_bytes() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let writer_clone = writer.clone();
    drop(writer);
    drop(writer_clone);
    assert!(matches!(
        within(writer_task).await.unwrap(),
        WriterExit::Finished
    ));
    assert!(within(reader.next_frame(4096)).await.unwrap().is_none());
}

#[tokio::test]
async fn writer_reports_a_failed_write_and_refuses_more_frames() {
    let (near, far) = tokio::io::duplex(1024);
    drop(far);
    let (writer, writer_task) = spawn_writer(Box::new(near));
    writer.send(frame(b"to nowhere")).unwrap();
    let exit = within(writer_task).await.unwrap();
    assert!(matches!(exit, WriterExit::Failed(_)), "{exit:?}");
    assert!(writer.is_closed());
    assert!(writer.send(frame(b"too late")).is_err());
}

/// Until the peer has authenticated, the reader holds no more than one handshake frame's worth
/// of buffer (PROTOCOL.md, "Limits"), whatever the peer sends; once authenticated, it starts with
/// a small buffer, and reads in large chunks once reads fill it, so that many small frames arrive
/// per read.
#[tokio::test]
async fn an_unauthenticated_reader_keeps_a_handshake_sized_buffer() {
    use crate::protocol::frame::{
        FIRST_READ_CHUNK, FRAME_HEADER_LEN, HANDSHAKE_MAX_FRAME, READ_CHUNK,
    };
    let (near, mut far) = tokio::io::duplex(256 * 1024);
    let mut reader = FrameReader::unauthenticated(Box::new(near));
    let handshake_bound = HANDSHAKE_MAX_FRAME as usize + FRAME_HEADER_LEN;
    // A peer that has proven nothing sends a lot at once: small frames and a largest one.
    let mut flood = Vec::new();
    for i in 0..400 {
        flood.extend_from_slice(&frame(&patterned_body(i, 100)));
    }
    flood.extend_from_slice(&frame(&patterned_body(7, HANDSHAKE_MAX_FRAME as usize)));
    far.write_all(&flood).await.unwrap();
    for i in 0..400 {
        let body = within(reader.next_frame(HANDSHAKE_MAX_FRAME))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, patterned_body(i, 100).as_slice());
        assert!(
            reader.buffer_capacity() <= handshake_bound,
            "an unauthenticated reader holds {} bytes",
            reader.buffer_capacity()
        );
    }
    let largest = within(reader.next_frame(HANDSHAKE_MAX_FRAME))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(largest.len(), HANDSHAKE_MAX_FRAME as usize);
    assert!(reader.buffer_capacity() <= handshake_bound);

    reader.authenticated();
    far.write_all(&frame(b"after")).await.unwrap();
    let body = within(reader.next_frame(16 * MIB as u32))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body, b"after");
    // An idle session keeps a small buffer...
    assert!(reader.buffer_capacity() >= FIRST_READ_CHUNK);
    assert!(reader.buffer_capacity() < READ_CHUNK);
    // ... until reads fill it: under a flood it reads READ_CHUNK at a time.
    let mut flood = Vec::new();
    for i in 0..2000 {
        flood.extend_from_slice(&frame(&patterned_body(i, 100)));
    }
    let writing = tokio::spawn(async move {
        far.write_all(&flood).await.unwrap();
        far
    });
    for i in 0..2000 {
        let body = within(reader.next_frame(16 * MIB as u32))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, patterned_body(i, 100).as_slice());
    }
    within(writing).await.unwrap();
    assert!(reader.buffer_capacity() >= READ_CHUNK);
}
