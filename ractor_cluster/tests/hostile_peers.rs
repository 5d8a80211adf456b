//! Raw sockets that do not speak the protocol: garbage, huge length prefixes, a frame that stops
//! halfway, and a client that says nothing. The node stays up and keeps serving well-behaved
//! peers while those sockets are open, and closes each of them (at once, or when its handshake
//! time runs out, TLS included). Idle sockets from one address cannot lock others out, and
//! authenticated peers beyond the node's cap of sessions are refused. Every wait is bounded. (A
//! peer that stops mid-handshake is tested over the in-memory harness: `node::tests::harness`.)

mod common;

use std::time::Duration;

use common::{
    spawn_in_group, start_node_with, tls_pair, wait_for_proxy, within, Event, NodeOptions,
    TestMessage,
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

/// Connects to `port` of 127.0.0.1 from the loopback address `source`: any 127.x.y.z reaches
/// 127.0.0.1 on Linux, so each source stands for another host.
async fn connect_from(source: [u8; 4], port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(std::net::SocketAddr::from((source, 0)))
        .unwrap();
    within(
        "a connection from another address",
        socket.connect(([127, 0, 0, 1], port).into()),
    )
    .await
    .unwrap()
}

/// 64 sockets from one address that connect and say nothing (as many as a node lets wait to
/// authenticate, by default) do not lock other peers out: the accept loop lets one address hold
/// at most 32 of them and closes the rest at once, and a real peer from elsewhere connects
/// promptly. The node's actor never hears of the sockets closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_from_one_address_do_not_lock_out_other_peers() {
    if cfg!(not(target_os = "linux")) {
        return;
    }
    // Default caps; a handshake timeout long enough that no idle socket is let go meanwhile.
    let mut a = start_node_with("idle-a", NodeOptions::default()).await;
    let b = start_node_with("idle-b", NodeOptions::default()).await;
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(connect_from([127, 0, 0, 2], a.port).await);
    }
    // The sockets beyond 32 are closed at once; the first 32 stay open, each with a session.
    let mut open = Vec::new();
    let mut closed = 0;
    for mut socket in idle {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(50), socket.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => closed += 1,
            Ok(Ok(_)) => panic!("the node spoke first"),
            Err(_) => open.push(socket),
        }
    }
    assert_eq!((open.len(), closed), (32, 32));

    let started = tokio::time::Instant::now();
    ractor_cluster::client_connect_and_wait(&b.server, ("127.0.0.1", a.port), common::WAIT)
        .await
        .unwrap();
    let took = started.elapsed();
    println!("with 64 idle sockets from another address, the peer connected in {took:?}");
    assert!(took < Duration::from_secs(2), "the peer waited {took:?}");
    assert_eq!(a.peer_names().await, vec![b.name.clone()]);
    let opened = a
        .drain_events()
        .into_iter()
        .filter(|e| *e == Event::Opened)
        .count();
    assert_eq!(
        opened, 33,
        "a session for each socket let in, and for the peer"
    );
    drop(open);
    a.stop().await;
    b.stop().await;
}

/// One deadline covers the TLS handshake and authentication together, counted from the accept:
/// a client that takes most of it for TLS and then says nothing is closed when it runs out, not
/// a whole handshake timeout after TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_authentication_share_one_deadline() {
    let timeout = Duration::from_secs(1);
    let (acceptor, connector) = tls_pair();
    let a = start_node_with(
        "deadline-a",
        NodeOptions {
            handshake_timeout: Some(timeout),
            encryption: Some(ractor_cluster::IncomingEncryptionMode::Tls(acceptor)),
            ..NodeOptions::default()
        },
    )
    .await;
    let tcp = within(
        "a raw connection",
        TcpStream::connect(("127.0.0.1", a.port)),
    )
    .await
    .unwrap();
    let accepted = tokio::time::Instant::now();
    // A slow client: most of the time goes before its TLS handshake.
    tokio::time::sleep(timeout * 7 / 10).await;
    let mut tls = within("the TLS handshake", connector.connect("localhost", tcp))
        .await
        .unwrap();
    // Then it says nothing: the node must close it when the one deadline is up.
    within("the node to close the connection", async {
        let mut buf = [0u8; 64];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    let took = accepted.elapsed();
    assert!(
        took < timeout + timeout * 4 / 10,
        "closed {took:?} after the accept; TLS and authentication got a deadline each"
    );
    a.stop().await;
}

/// A node keeps at most `with_max_sessions` authenticated sessions: a peer beyond it is refused
/// (with a reason the subscribers see) and its connection closed, while the sessions kept go on;
/// once one ends, the next peer gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_beyond_the_session_cap_are_refused() {
    let mut a = start_node_with(
        "cap-sessions-a",
        NodeOptions {
            max_sessions: Some(2),
            ..NodeOptions::default()
        },
    )
    .await;
    let (ends_tx, mut ends) = tokio::sync::mpsc::unbounded_channel();
    a.server
        .cast(ractor_cluster::NodeServerMessage::SubscribeToEvents {
            id: "ends".into(),
            subscription: Box::new(common::SessionEnds(ends_tx)),
        })
        .unwrap();
    let mut peers = Vec::new();
    for name in ["cap-sessions-b", "cap-sessions-c"] {
        let peer = start_node_with(name, NodeOptions::default()).await;
        ractor_cluster::client_connect_and_wait(&peer.server, ("127.0.0.1", a.port), common::WAIT)
            .await
            .unwrap();
        peers.push(peer);
    }
    let d = start_node_with(
        "cap-sessions-d",
        NodeOptions {
            reconnect: Some(ractor_cluster::node::ReconnectPolicy::disabled()),
            ..NodeOptions::default()
        },
    )
    .await;
    let (d_ends_tx, mut d_ends) = tokio::sync::mpsc::unbounded_channel();
    d.server
        .cast(ractor_cluster::NodeServerMessage::SubscribeToEvents {
            id: "ends".into(),
            subscription: Box::new(common::SessionEnds(d_ends_tx)),
        })
        .unwrap();
    ractor_cluster::client_connect(&d.server, ("127.0.0.1", a.port))
        .await
        .unwrap();
    let end = within("the refusal", ends.recv()).await.unwrap();
    assert!(
        end.to_string().contains("with_max_sessions"),
        "the refusal says why: {end}"
    );
    // The refused peer is told why, too.
    let end = within("the refused peer's session end", d_ends.recv())
        .await
        .unwrap();
    assert!(
        matches!(&end, ractor_cluster::node::SessionEnd::EndedByPeer(reason) if reason.contains("with_max_sessions")),
        "the refused peer learns why: {end:?}"
    );
    let mut names: Vec<String> = peers.iter().map(|p| p.name.clone()).collect();
    names.sort();
    assert_eq!(a.peer_names().await, names);
    within("the refused peer to see its session end", async {
        while !d.sessions().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // One leaves; the next peer gets in.
    let gone = peers.pop().unwrap();
    let gone_name = gone.name.clone();
    gone.stop().await;
    a.wait_event(|e| *e == Event::Disconnected(Some(gone_name.clone())))
        .await;
    ractor_cluster::client_connect_and_wait(&d.server, ("127.0.0.1", a.port), common::WAIT)
        .await
        .unwrap();
    assert_eq!(a.peer_names().await.len(), 2);
    for peer in peers {
        peer.stop().await;
    }
    d.stop().await;
    a.stop().await;
}
