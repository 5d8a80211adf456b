//! The accept loop in raw mode: handing out connections, bounding those waiting to authenticate,
//! and stopping.

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
        let _ = accepted_tx.send(s.stream);
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
        let _ = accepted_tx.send(s.stream);
    });
    drop(listening);
    // The loop owned the only sender: once it is gone, the channel reports closed.
    assert!(within(accepted_rx.recv()).await.is_none());
}

/// Connects to `addr` from the loopback address `source` (any 127.x.y.z reaches 127.0.0.1 on
/// Linux), as a peer on another host would.
async fn connect_from(source: [u8; 4], addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((source, 0)))
        .unwrap();
    within(socket.connect(addr)).await.unwrap()
}

/// Whether the listener closed `stream` (EOF or reset) within `wait`, rather than keeping it open.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// The accept loop itself bounds the connections waiting to authenticate, per source address and
/// in total, before any of them reaches the node: one address holding its share of slots leaves
/// the others free for peers from elsewhere, and a slot comes back when its holder lets it go.
#[tokio::test]
async fn the_accept_loop_caps_waiting_connections_per_address_and_in_total() {
    if cfg!(not(target_os = "linux")) {
        // Other 127/8 source addresses need Linux's loopback.
        return;
    }
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let options = AcceptOptions {
        max_pending: 4,
        max_pending_per_address: 2,
        ..AcceptOptions::new(IncomingEncryptionMode::Raw)
    };
    let (accepted_tx, mut accepted_rx) = mpsc::unbounded_channel();
    // The slots are kept here, as a session keeps its slot until its peer has authenticated.
    let listening = listener.spawn(options, move |accepted| {
        let _ = accepted_tx.send(accepted);
    });
    let addr = listening.local_addr();
    let short = std::time::Duration::from_millis(300);

    let mut idle = Vec::new();
    for _ in 0..2 {
        let client = connect_from([127, 0, 0, 2], addr).await;
        idle.push((client, within(accepted_rx.recv()).await.unwrap()));
    }
    // A third connection from the same address is closed at once, and never handed out.
    let mut third = connect_from([127, 0, 0, 2], addr).await;
    assert!(closed_within(&mut third, super::STEP_TIMEOUT).await);
    // Another address still gets in, up to the total.
    let mut others = Vec::new();
    for source in [[127, 0, 0, 3], [127, 0, 0, 4]] {
        let mut client = connect_from(source, addr).await;
        let accepted = within(accepted_rx.recv()).await.unwrap();
        assert_eq!(accepted.stream.peer_addr(), client.local_addr().ok());
        assert!(!closed_within(&mut client, short).await);
        others.push((client, accepted));
    }
    let mut fifth = connect_from([127, 0, 0, 5], addr).await;
    assert!(closed_within(&mut fifth, super::STEP_TIMEOUT).await);
    // A slot given back (its peer authenticated, or gave up) takes the next connection.
    drop(others.pop());
    let mut sixth = connect_from([127, 0, 0, 6], addr).await;
    let accepted = within(accepted_rx.recv()).await.unwrap();
    assert_eq!(accepted.stream.peer_addr(), sixth.local_addr().ok());
    assert!(!closed_within(&mut sixth, short).await);
    drop(idle);
}
