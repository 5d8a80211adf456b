//! Raw sockets that do not speak the protocol: garbage, huge length prefixes, a frame that stops
//! halfway, and a client that says nothing. The node stays up and keeps serving well-behaved
//! peers while those sockets are open, and closes each of them (at once, or when its handshake
//! time runs out). Every wait is bounded.

mod common;

use std::time::Duration;

use common::{
    spawn_in_group, start_node_with, wait_for_proxy, within, Event, NodeOptions, TestMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short, so the stalled sockets are closed within the test; the good peer's handshake on a
/// loopback takes milliseconds.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(700);

/// Waits until the node closes `socket`.
async fn closed_by_the_node(what: &str, mut socket: TcpStream) {
    within(&format!("the node to close the {what} socket"), async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                // Whatever the node says first (a handshake frame, a refusal) is fine, as long as
                // it closes the socket afterwards.
                Ok(_) => {}
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sockets_leave_the_node_up_and_serving() {
    let options = || NodeOptions {
        handshake_timeout: Some(HANDSHAKE_TIMEOUT),
        ..NodeOptions::default()
    };
    let mut a = start_node_with("hostile-a", options()).await;
    let b = start_node_with("hostile-b", options()).await;
    let addr = ("127.0.0.1", a.port);
    let connect = || async {
        within("a raw connection", TcpStream::connect(addr))
            .await
            .unwrap()
    };

    // Text where a length prefix should be: "GET " announces a frame of half a gigabyte.
    let mut http = connect().await;
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The largest length prefix there is.
    let mut huge = connect().await;
    huge.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    // A well-formed small frame whose body is not a handshake message.
    let mut garbage = connect().await;
    garbage
        .write_all(&[5, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0xff])
        .await
        .unwrap();
    // A frame that promises 100 bytes, delivers 10, then nothing.
    let mut half = connect().await;
    half.write_all(&100u32.to_le_bytes()).await.unwrap();
    half.write_all(&[1; 10]).await.unwrap();
    // Connects and says nothing.
    let silent = connect().await;
    // An empty frame.
    let mut empty = connect().await;
    empty.write_all(&[0, 0, 0, 0]).await.unwrap();

    // While all of them are open, a real node connects and talks.
    b.connect_to(&a).await;
    let mut seen = Vec::new();
    let ready = Event::Ready(b.name.clone());
    while !seen.contains(&ready) {
        seen.push(a.next_event().await);
    }
    let actor = spawn_in_group("hostile-group").await;
    let proxy = wait_for_proxy("hostile-group", a.id, &actor.get_cell()).await;
    for n in 0..50 {
        proxy.cast(TestMessage::Num(n)).unwrap();
    }
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Numbers, 5_000).unwrap(),
        (0..50).collect::<Vec<_>>()
    );

    // Every hostile socket is closed by the node: the malformed ones at once, the stalled ones
    // when their handshake time runs out.
    for (what, socket) in [
        ("http", http),
        ("huge prefix", huge),
        ("garbage", garbage),
        ("half frame", half),
        ("silent", silent),
        ("empty frame", empty),
    ] {
        closed_by_the_node(what, socket).await;
    }

    // Seven sessions were opened on `a` (six hostile, one good) and the six hostile ones ended
    // without authenticating.
    let ended = |seen: &[Event]| {
        seen.iter()
            .filter(|e| matches!(e, Event::Disconnected(_)))
            .count()
    };
    while ended(&seen) < 6 {
        seen.push(a.next_event().await);
    }
    assert!(a.drain_events().is_empty());
    let opened = seen.iter().filter(|e| **e == Event::Opened).count();
    assert_eq!(opened, 7, "{seen:?}");
    assert!(
        seen.iter().all(|e| match e {
            Event::Opened | Event::Disconnected(None) => true,
            Event::Authenticated(peer) | Event::Ready(peer) => *peer == b.name,
            Event::Disconnected(Some(_)) => false,
        }),
        "{seen:?}"
    );
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);
    assert_eq!(
        ractor::call_t!(proxy, TestMessage::Double, 5_000, 3).unwrap(),
        6
    );

    actor.stop(None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_mid_handshake_is_dropped_after_the_timeout() {
    let mut a = start_node_with(
        "midhs-a",
        NodeOptions {
            handshake_timeout: Some(HANDSHAKE_TIMEOUT),
            ..NodeOptions::default()
        },
    )
    .await;
    // Whatever the node sends, this client answers nothing.
    let socket = within(
        "a raw connection",
        TcpStream::connect(("127.0.0.1", a.port)),
    )
    .await
    .unwrap();
    assert_eq!(a.next_event().await, Event::Opened);
    let started = tokio::time::Instant::now();
    assert_eq!(a.next_event().await, Event::Disconnected(None));
    let waited = started.elapsed();
    assert!(
        waited >= HANDSHAKE_TIMEOUT / 2,
        "closed after {waited:?}, before the handshake timeout"
    );
    closed_by_the_node("silent", socket).await;
    a.stop().await;
}
