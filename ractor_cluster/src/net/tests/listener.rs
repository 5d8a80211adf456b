//! The accept loop in raw mode, and stopping it.

use tokio::sync::mpsc;

use super::within;
use crate::net::{dial_tcp, AcceptOptions, IncomingEncryptionMode, Listener};

#[tokio::test]
async fn accepted_raw_connections_are_handed_out_with_their_addresses() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (accepted_tx, mut accepted_rx) = mpsc::unbounded_channel();
    let listening = listener.spawn(AcceptOptions::new(IncomingEncryptionMode::Raw), move |s| {
        let _ = accepted_tx.send(s);
    });
    let addr = listening.local_addr();

    for _ in 0..3 {
        let client = within(dial_tcp(addr)).await.unwrap();
        let server = within(accepted_rx.recv()).await.unwrap();
        assert_eq!(server.local_addr(), Some(addr));
        assert_eq!(server.peer_addr(), client.local_addr());
        assert_eq!(
            server.peer_label(),
            client.local_addr().unwrap().to_string()
        );
        assert!(format!("{server:?}").starts_with("Raw"));
        match server {
            crate::NetworkStream::Raw { stream, .. } => assert!(stream.nodelay().unwrap()),
            other => panic!("expected a raw stream, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn stopping_the_listener_closes_its_port() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let listening = listener.spawn(AcceptOptions::new(IncomingEncryptionMode::Raw), drop);
    let addr = listening.local_addr();
    within(listening.stop()).await;

    // Nothing listens there any more, and the address can be bound again.
    assert!(within(dial_tcp(addr)).await.is_err());
    let again = Listener::bind(addr).await.unwrap();
    assert_eq!(again.local_addr(), addr);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_loop() {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (accepted_tx, mut accepted_rx) = mpsc::unbounded_channel::<crate::NetworkStream>();
    let listening = listener.spawn(AcceptOptions::new(IncomingEncryptionMode::Raw), move |s| {
        let _ = accepted_tx.send(s);
    });
    drop(listening);
    // The loop owned the only sender: once it is gone, the channel reports closed.
    assert!(within(accepted_rx.recv()).await.is_none());
}
