//! User-supplied transports through `ClusterBidiStream`.

use super::{frame, patterned_body, within};
use crate::net::{spawn_writer, FrameReader, NetworkStream, WriterExit};
use crate::ClusterBidiStream;

/// Sends frames each way over two connected streams and checks they arrive intact.
async fn exchange_frames(a: NetworkStream, b: NetworkStream) {
    let (a_read, a_write) = a.split();
    let (b_read, b_write) = b.split();
    let (a_writer, a_task) = spawn_writer(a_write);
    let (b_writer, b_task) = spawn_writer(b_write);
    let bodies: Vec<Vec<u8>> = (0..100).map(|i| patterned_body(i, 1 + i * 31)).collect();
    for body in &bodies {
        a_writer.send(frame(body)).unwrap();
        b_writer.send(frame(body)).unwrap();
    }
    drop(a_writer);
    drop(b_writer);
    for read in [a_read, b_read] {
        let mut reader = FrameReader::new(read);
        for expected in &bodies {
            let got = within(reader.next_frame(8192)).await.unwrap().unwrap();
            assert_eq!(got, expected.as_slice());
        }
        assert!(within(reader.next_frame(8192)).await.unwrap().is_none());
    }
    for task in [a_task, b_task] {
        assert!(matches!(within(task).await.unwrap(), WriterExit::Finished));
    }
}

#[tokio::test]
async fn in_memory_duplex_carries_frames() {
    let (a, b) = tokio::io::duplex(4096);
    let a = NetworkStream::from_bidi(Box::new(a));
    let b = NetworkStream::from_bidi(Box::new(b));
    assert_eq!(a.peer_addr(), None);
    assert_eq!(a.local_addr(), None);
    assert!(!a.is_tls());
    assert_eq!(a.peer_label(), "in-memory duplex");
    assert!(format!("{a:?}").starts_with("External"));
    exchange_frames(a, b).await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_pair_carries_frames() {
    let (a, b) = tokio::net::UnixStream::pair().unwrap();
    let a: Box<dyn ClusterBidiStream> = Box::new(a);
    assert_eq!(a.peer_label().as_deref(), Some("unix:(unnamed)"));
    exchange_frames(
        NetworkStream::from_bidi(a),
        NetworkStream::from_bidi(Box::new(b)),
    )
    .await;
}

#[tokio::test]
async fn a_transport_without_labels_gets_a_placeholder() {
    struct Unlabelled(tokio::io::DuplexStream);
    impl ClusterBidiStream for Unlabelled {
        fn split(self: Box<Self>) -> (crate::BoxRead, crate::BoxWrite) {
            let (read, write) = tokio::io::split(self.0);
            (Box::new(read), Box::new(write))
        }
    }
    let (a, _b) = tokio::io::duplex(64);
    let stream = NetworkStream::from_bidi(Box::new(Unlabelled(a)));
    assert_eq!(stream.peer_label(), "external transport");
    assert_eq!(stream.local_label(), "external transport");
}
