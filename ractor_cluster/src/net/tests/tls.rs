//! TLS over loopback with a certificate generated for the test run.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_native_tls::TlsAcceptor;

use super::{frame, patterned_body, within};
use crate::net::{
    dial_tls, spawn_writer, AcceptOptions, FrameReader, IncomingEncryptionMode, Listener,
    ListenerHandle, NetworkStream,
};

// The certificate generation of the integration tests: this unit-test module cannot use
// `tests/common`, so it includes the one file.
#[path = "../../../tests/common/tls_certificate.rs"]
mod tls_certificate;

use tls_certificate::{tls_pair, SERVER_NAME};

/// A TLS listener on 127.0.0.1 whose ready connections arrive on the returned channel.
async fn tls_listener(
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    max_pending: usize,
) -> (ListenerHandle, mpsc::UnboundedReceiver<NetworkStream>) {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let options = AcceptOptions {
        encryption: IncomingEncryptionMode::Tls(acceptor),
        handshake_timeout,
        max_pending,
        max_pending_per_address: max_pending,
    };
    let (accepted_tx, accepted_rx) = mpsc::unbounded_channel();
    // The slot goes with the accepted connection's authentication, which these tests do not run.
    let handle = listener.spawn(options, move |accepted| {
        let _ = accepted_tx.send(accepted.stream);
    });
    (handle, accepted_rx)
}

/// Connects over TCP and sends nothing, as a peer that stalls its TLS handshake would.
async fn stalled_client(addr: SocketAddr) -> TcpStream {
    within(TcpStream::connect(addr)).await.unwrap()
}

/// Waits until the server closes `stream`, failing the test if it sends anything instead.
async fn expect_closed_by_server(mut stream: TcpStream) {
    let mut byte = [0u8; 1];
    let read = within(stream.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the server to close the connection, got {read:?}"
    );
}

#[tokio::test]
async fn frames_cross_a_tls_connection_both_ways() {
    let (acceptor, connector) = tls_pair();
    let (listening, mut accepted) = tls_listener(acceptor, Duration::from_secs(10), 8).await;

    let client = within(dial_tls(listening.local_addr(), &connector, SERVER_NAME))
        .await
        .unwrap();
    let server = within(accepted.recv()).await.unwrap();
    assert!(matches!(client, NetworkStream::TlsClient { .. }));
    assert!(matches!(server, NetworkStream::TlsServer { .. }));
    assert!(client.is_tls() && server.is_tls());
    assert_eq!(server.peer_addr(), client.local_addr());

    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let (client_writer, client_task) = spawn_writer(client_write);
    let (server_writer, server_task) = spawn_writer(server_write);

    let requests: Vec<Vec<u8>> = (0..200).map(|i| patterned_body(i, 1 + i * 7)).collect();
    for body in &requests {
        client_writer.send(frame(body)).unwrap();
    }
    let large = patterned_body(99, 1024 * 1024);
    client_writer.send(frame(&large)).unwrap();

    let mut server_reader = FrameReader::new(server_read);
    for expected in &requests {
        let got = within(server_reader.next_frame(2 * 1024 * 1024))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, expected.as_slice());
        server_writer.send(frame(got)).unwrap();
    }
    let got = within(server_reader.next_frame(2 * 1024 * 1024))
        .await
        .unwrap()
        .unwrap();
    assert!(got == large.as_slice(), "large frame differs");

    let mut client_reader = FrameReader::new(client_read);
    for expected in &requests {
        let got = within(client_reader.next_frame(4096))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, expected.as_slice(), "echo differs");
    }

    // Closing the client's writer ends the server's stream cleanly (close_notify, then FIN).
    drop(client_writer);
    within(client_task).await.unwrap();
    assert!(within(server_reader.next_frame(4096))
        .await
        .unwrap()
        .is_none());
    drop(server_writer);
    within(server_task).await.unwrap();
}

#[tokio::test]
async fn stalled_tls_client_does_not_delay_another() {
    let (acceptor, connector) = tls_pair();
    // A long handshake timeout: the second client must not have to wait for it.
    let (listening, mut accepted) = tls_listener(acceptor, Duration::from_secs(60), 8).await;
    let addr = listening.local_addr();

    let _stalled = stalled_client(addr).await;
    let client = within(dial_tls(addr, &connector, SERVER_NAME))
        .await
        .unwrap();
    let server = within(accepted.recv()).await.unwrap();
    assert_eq!(server.peer_addr(), client.local_addr());
}

#[tokio::test]
async fn stalled_tls_client_is_dropped_after_the_handshake_timeout() {
    let (acceptor, _connector) = tls_pair();
    let (listening, _accepted) = tls_listener(acceptor, Duration::from_millis(200), 8).await;
    let stalled = stalled_client(listening.local_addr()).await;
    expect_closed_by_server(stalled).await;
}

#[tokio::test]
async fn connections_beyond_the_pending_handshake_cap_are_closed() {
    let (acceptor, connector) = tls_pair();
    let (listening, mut accepted) = tls_listener(acceptor, Duration::from_secs(60), 1).await;
    let addr = listening.local_addr();

    // The first stalled peer takes the only slot; the next connection is refused at once.
    let _first = stalled_client(addr).await;
    let second = stalled_client(addr).await;
    expect_closed_by_server(second).await;

    // Once the slot is free again (the first peer gives up), handshakes proceed.
    drop(_first);
    let client = within(async {
        loop {
            match dial_tls(addr, &connector, SERVER_NAME).await {
                Ok(client) => break client,
                // Refused while the listener had not yet noticed the first peer leaving.
                Err(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    let server = within(accepted.recv()).await.unwrap();
    assert_eq!(server.peer_addr(), client.local_addr());
}

#[tokio::test]
async fn tls_client_rejects_an_untrusted_server() {
    let (acceptor, _) = tls_pair();
    let (_, other_connector) = tls_pair();
    let (listening, _accepted) = tls_listener(acceptor, Duration::from_secs(10), 8).await;
    let result = within(dial_tls(
        listening.local_addr(),
        &other_connector,
        SERVER_NAME,
    ))
    .await;
    assert!(
        matches!(result, Err(crate::net::DialError::Tls(_))),
        "{result:?}"
    );
}

#[test]
fn encryption_mode_debug_does_not_show_the_acceptor() {
    let (acceptor, _) = tls_pair();
    assert_eq!(
        format!("{:?}", IncomingEncryptionMode::Tls(acceptor)),
        "Tls(..)"
    );
    assert_eq!(format!("{:?}", IncomingEncryptionMode::Raw), "Raw");
}
