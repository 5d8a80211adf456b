//! In-memory test harness (tests only): real nodes over `tokio::io::duplex` pipes, no sockets.
//!
//! Two shapes, after quinn's `Pair` (`quinn-proto/src/tests/util.rs`):
//! - [`ScriptedPeer`]: a real [`NodeServer`] on one side; on the other, a peer that runs the
//!   client handshake state machine of `protocol` itself (sealed records included: it derives
//!   the keys and seals and opens records as the real writer and reader do), and then sends
//!   whatever frames the test scripts, one by one, and reads what the node answers. This is how
//!   tests play a buggy or hostile *authenticated* peer without a second node that would refuse
//!   to misbehave.
//! - [`Pair`]: two real `NodeServer`s connected over one duplex pipe.
//!
//! Every wait is bounded by [`WAIT`]; a test that waits longer fails with what it waited for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::io::{AsyncWriteExt, DuplexStream, WriteHalf};
use tokio::sync::mpsc;

use crate::net::{BoxRead, FrameReader, ReadError};
use crate::node::{
    NodeEventSubscription, NodeServer, NodeServerMessage, NodeServerSessionInformation,
};
use crate::protocol::frame::HANDSHAKE_MAX_FRAME;
use crate::protocol::handshake::{
    Authenticated, ClientDriver, Fresh, HandshakeConfig, HandshakeProgress,
};
use crate::protocol::identity::{node_id_of, Cookie};
use crate::protocol::message::{ControlMessage, FrameProtection, SessionMessage, WireNodeName};
use crate::protocol::record::{Opener, Sealer};
use crate::SessionEnd;

/// The longest any harness wait lasts.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The cookie of every harness node.
pub(crate) const COOKIE: &str = "harness-cookie";

/// Largest frame the scripted peer reads (the node's default inbound limit).
const PEER_MAX_FRAME: u32 = 16 * 1024 * 1024;

/// Bytes the pipe buffers in each direction.
const PIPE: usize = 256 * 1024;

/// A name no other test of this process uses: nodes share process-wide directories.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Awaits `future` for at most [`WAIT`], failing the test with `what` otherwise.
pub(crate) async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// What a node's event subscription saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Opened,
    Authenticated(String),
    Ready(String),
    /// The session ended; `Some(peer)` if it had authenticated.
    Disconnected(Option<String>),
    /// Why a session ended.
    Ended(String),
}

struct Forward(mpsc::UnboundedSender<Event>);

fn peer_of(ses: &NodeServerSessionInformation) -> Option<String> {
    ses.peer_name.as_ref().map(|name| name.name.clone())
}

impl NodeEventSubscription for Forward {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Opened);
    }

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Disconnected(peer_of(&ses)));
    }

    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        let _ = self
            .0
            .send(Event::Authenticated(peer_of(&ses).unwrap_or_default()));
    }

    fn node_session_ended(&self, _: NodeServerSessionInformation, end: &SessionEnd) {
        let _ = self.0.send(Event::Ended(end.to_string()));
    }

    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(Event::Ready(peer_of(&ses).unwrap_or_default()));
    }
}

/// A real node of the harness, with its events.
pub(crate) struct TestNode {
    pub(crate) actor: ActorRef<NodeServerMessage>,
    /// Its full name, `name@localhost`.
    pub(crate) name: String,
    events: mpsc::UnboundedReceiver<Event>,
}

impl TestNode {
    /// Starts `server` (built with [`node_builder`]) and subscribes to its events.
    pub(crate) async fn start(server: NodeServer) -> Self {
        let name = format!("{}@{}", server.node_name, server.hostname);
        let (actor, _) = within("the node to start", Actor::spawn(None, server, ()))
            .await
            .expect("the node starts");
        let (tx, events) = mpsc::unbounded_channel();
        actor
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "harness".to_owned(),
                subscription: Box::new(Forward(tx)),
            })
            .expect("the node takes a subscription");
        Self {
            actor,
            name,
            events,
        }
    }

    /// The node's next event.
    pub(crate) async fn next_event(&mut self) -> Event {
        within("a node event", self.events.recv())
            .await
            .expect("the node's subscription stays open")
    }

    /// Skips events until one satisfies `wanted`, and returns it.
    pub(crate) async fn event_where(&mut self, wanted: impl Fn(&Event) -> bool) -> Event {
        loop {
            let event = self.next_event().await;
            if wanted(&event) {
                return event;
            }
        }
    }

    /// The node's id, as its peers' proxies carry it.
    pub(crate) fn node_id(&self) -> u64 {
        node_id_of(&self.name)
    }

    /// Stops the node and waits for it.
    pub(crate) async fn stop(self) {
        within("the node to stop", self.actor.stop_and_wait(None, None))
            .await
            .expect("the node stops");
    }
}

/// A harness node's builder: listens on 127.0.0.1 only (the harness never dials it), under a
/// unique name.
pub(crate) fn node_builder(prefix: &str) -> NodeServer {
    NodeServer::new(
        0,
        COOKIE.to_owned(),
        unique(prefix),
        "localhost".to_owned(),
        None,
        None,
    )
    .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
}

/// As [`node_builder`], for a node that dials the peers its peers name.
pub(crate) fn transitive_builder(prefix: &str) -> NodeServer {
    NodeServer::new(
        0,
        COOKIE.to_owned(),
        unique(prefix),
        "localhost".to_owned(),
        None,
        Some(crate::NodeConnectionMode::Transitive),
    )
    .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into())
}

/// Hands the node one end of a new duplex pipe as an accepted connection; returns the other end.
pub(crate) fn accepted_pipe(node: &TestNode) -> DuplexStream {
    let (near, far) = tokio::io::duplex(PIPE);
    node.actor
        .cast(NodeServerMessage::ConnectionOpenedExternal {
            stream: Box::new(far),
            is_server: true,
        })
        .expect("the node takes a connection");
    near
}

/// A peer played by the test, frame by frame, over an in-memory pipe to a real node.
pub(crate) struct ScriptedPeer {
    reader: FrameReader,
    write: WriteHalf<DuplexStream>,
    sealer: Option<Sealer>,
    /// What the handshake established.
    pub(crate) auth: Authenticated,
    /// The peer's own full name.
    pub(crate) name: String,
    /// The peer's own incarnation, as references to its actors carry it.
    pub(crate) incarnation: u64,
}

impl ScriptedPeer {
    /// Connects to `node` as a client named `name@localhost` (unique), asking for sealed frames,
    /// and runs the handshake to its end.
    pub(crate) async fn connect(node: &TestNode, prefix: &str) -> Self {
        Self::connect_with(node, prefix, FrameProtection::Sealed).await
    }

    /// As [`Self::connect`], asking for `frames`.
    pub(crate) async fn connect_with(
        node: &TestNode,
        prefix: &str,
        frames: FrameProtection,
    ) -> Self {
        Self::connect_as(node, prefix, frames, false).await
    }

    /// As [`Self::connect`], as a hidden node.
    pub(crate) async fn connect_hidden(node: &TestNode, prefix: &str) -> Self {
        Self::connect_as(node, prefix, FrameProtection::Sealed, true).await
    }

    /// As [`Self::connect`], asking for `frames`, hidden or not.
    pub(crate) async fn connect_as(
        node: &TestNode,
        prefix: &str,
        frames: FrameProtection,
        hidden: bool,
    ) -> Self {
        let name = format!("{}@localhost", unique(prefix));
        Self::connect_named(node, name, rand::random(), frames, hidden).await
    }

    /// As [`Self::connect_as`], as the node `name` (a full name) in its run `incarnation`.
    pub(crate) async fn connect_named(
        node: &TestNode,
        name: String,
        incarnation: u64,
        frames: FrameProtection,
        hidden: bool,
    ) -> Self {
        let pipe = accepted_pipe(node);
        let (read, write) = tokio::io::split(pipe);
        let config = HandshakeConfig {
            cookie: Cookie::new(COOKIE),
            local: WireNodeName {
                name: name.clone(),
                connection_string: "localhost:1".to_owned(),
            },
            incarnation,
            frames,
            hidden,
        };
        let fresh = Fresh {
            nonce: rand::random(),
            key_secret: rand::random(),
        };
        let mut out = Vec::new();
        let mut driver = ClientDriver::start(config, fresh, &mut out).expect("a client hello");
        let mut peer_write = write;
        let mut reader = FrameReader::new(Box::new(read) as BoxRead);
        let auth = within("the handshake", async {
            loop {
                peer_write.write_all(&out).await.expect("the pipe is open");
                out.clear();
                let body = reader
                    .next_frame(HANDSHAKE_MAX_FRAME)
                    .await
                    .expect("a handshake frame")
                    .expect("the node keeps the pipe open during the handshake");
                match driver
                    .receive(body, &mut out)
                    .expect("the node authenticates")
                {
                    HandshakeProgress::Continue => {}
                    HandshakeProgress::Done(auth) => break auth,
                }
            }
        })
        .await;
        // The client's proof was its last handshake frame, already written: everything from here
        // on is sealed both ways (PROTOCOL.md rule R1).
        let sealer = auth.keys.as_ref().map(|keys| {
            reader.start_opening(Opener::new(&keys.receive));
            Sealer::new(&keys.send)
        });
        Self {
            reader,
            write: peer_write,
            sealer,
            auth,
            name,
            incarnation,
        }
    }

    /// This peer's node id, as the node's proxies of its actors carry it.
    pub(crate) fn node_id(&self) -> u64 {
        node_id_of(&self.name)
    }

    /// Sends one message as one frame (in a record of its own, once sealed).
    pub(crate) async fn send(&mut self, message: &SessionMessage) {
        let mut frame = Vec::new();
        message
            .encode_frame(PEER_MAX_FRAME, &mut frame)
            .expect("the message fits a frame");
        self.send_bytes(&frame).await;
    }

    /// Sends a control message.
    pub(crate) async fn send_control(&mut self, control: ControlMessage) {
        self.send(&SessionMessage::Control(control)).await;
    }

    /// Writes frame bytes as they are (sealed first, once the session is sealed). Fails silently
    /// if the node has closed the pipe: a test then looks for the close.
    pub(crate) async fn send_bytes(&mut self, frames: &[u8]) {
        let bytes = match &mut self.sealer {
            Some(sealer) => {
                let mut sealed = Vec::new();
                sealer.seal(&[frames], &mut sealed).expect("a record");
                sealed
            }
            None => frames.to_vec(),
        };
        let _ = within("the node to read", self.write.write_all(&bytes)).await;
    }

    /// The node's next message, heartbeats skipped; `None` when the node closed the pipe.
    pub(crate) async fn next(&mut self) -> Option<SessionMessage> {
        within("a message from the node", async {
            loop {
                match self.reader.next_frame(PEER_MAX_FRAME).await {
                    Ok(Some(body)) => {
                        let message = SessionMessage::decode(body).expect("a valid frame");
                        if message != SessionMessage::Control(ControlMessage::Heartbeat) {
                            return Some(message);
                        }
                    }
                    Ok(None) | Err(ReadError::Io(_)) => return None,
                    Err(err) => panic!("the node sent a bad frame: {err}"),
                }
            }
        })
        .await
    }

    /// Skips the node's messages until one satisfies `wanted`; panics if the pipe closes first.
    pub(crate) async fn next_where(
        &mut self,
        what: &str,
        wanted: impl Fn(&SessionMessage) -> bool,
    ) -> SessionMessage {
        loop {
            match self.next().await {
                Some(message) if wanted(&message) => return message,
                Some(_) => {}
                None => panic!("the node closed the session while the test waited for {what}"),
            }
        }
    }

    /// Waits until the node has handled everything this peer sent before: asks for an actor
    /// that cannot exist and waits for the answer, which the node's session gives in order.
    /// Returns the messages the node sent meanwhile.
    pub(crate) async fn sync(&mut self) -> Vec<SessionMessage> {
        const MARKER: u64 = u64::MAX;
        self.send_control(ControlMessage::ActorsWanted(vec![MARKER]))
            .await;
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Some(SessionMessage::Control(ControlMessage::ActorStopped {
                    pid: MARKER, ..
                })) => return seen,
                Some(message) => seen.push(message),
                None => panic!("the node closed the session during a sync: {seen:?}"),
            }
        }
    }
}

/// Two real nodes connected over one in-memory pipe: `a` dialed, `b` accepted.
pub(crate) struct Pair {
    pub(crate) a: TestNode,
    pub(crate) b: TestNode,
}

impl Pair {
    /// Starts both nodes and waits until their session is ready on both sides.
    pub(crate) async fn connect(a: NodeServer, b: NodeServer) -> Self {
        let mut a = TestNode::start(a).await;
        let mut b = TestNode::start(b).await;
        let near = accepted_pipe(&b);
        crate::client_connect_external(&a.actor, Box::new(near))
            .await
            .expect("the node takes a connection");
        let b_name = b.name.clone();
        let a_name = a.name.clone();
        a.event_where(|e| *e == Event::Ready(b_name.clone())).await;
        b.event_where(|e| *e == Event::Ready(a_name.clone())).await;
        Self { a, b }
    }

    /// Stops both nodes.
    pub(crate) async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

/// A message that claims to support remoting and carries nothing, so that the actors taking it
/// are announced to peers, reachable from them and spawnable by them.
#[derive(Debug)]
pub(crate) struct Remotable;

impl ractor::Message for Remotable {
    fn serializable() -> bool {
        true
    }

    fn serialize(
        self,
    ) -> Result<ractor::message::SerializedMessage, ractor::message::BoxedDowncastErr> {
        Ok(ractor::message::SerializedMessage::Cast {
            variant: String::new(),
            args: Vec::new(),
            metadata: None,
        })
    }

    fn deserialize(
        _: ractor::message::SerializedMessage,
    ) -> Result<Self, ractor::message::BoxedDowncastErr> {
        Ok(Remotable)
    }
}

/// An actor that takes [`Remotable`] messages and does nothing with them.
pub(crate) struct IdleRemotable;

impl Actor for IdleRemotable {
    type Msg = Remotable;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<Remotable>,
        (): (),
    ) -> Result<(), ractor::ActorProcessingErr> {
        Ok(())
    }
}
