//! The handshake driver: runs `protocol`'s handshake state machine over the connection, bounded
//! in time, then asks the node server whether to keep the session. The state machine itself has
//! no I/O; this is where it meets the socket.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;

use super::message::{Established, NodeSessionMessage, SessionEvent};
use crate::error::SessionEnd;
use crate::net::{BoxRead, FrameReader, PendingSlot, WriterHandle};
use crate::node::config::NodeConfig;
use crate::node::server::message::{NodeServerMessage, ServerEvent};
use crate::protocol::frame::HANDSHAKE_MAX_FRAME;
use crate::protocol::handshake::{
    Authenticated, ClientDriver, Fresh, HandshakeConfig, HandshakeError, HandshakeProgress,
    ServerDriver,
};
use crate::protocol::message::{
    ControlMessage, FrameProtection, Rejection, SessionMessage, WireNodeName,
};
use crate::protocol::record::{Opener, Sealer};

/// What the handshake task needs.
pub(super) struct HandshakeTask {
    pub(super) read: BoxRead,
    pub(super) writer: WriterHandle,
    pub(super) is_server: bool,
    pub(super) frames: FrameProtection,
    pub(super) config: Arc<NodeConfig>,
    pub(super) server: ActorRef<NodeServerMessage>,
    pub(super) session: ActorRef<NodeSessionMessage>,
    /// An accepted connection's place among those waiting to authenticate.
    pub(super) slot: Option<PendingSlot>,
}

/// Runs the handshake over `read` and the writer, then asks the server whether to keep the
/// session; reports the outcome to the session, which ends with the [`SessionEnd`] if it failed.
///
/// An accepted connection comes with its `slot` among those waiting to authenticate: its deadline
/// (counted from the accept, TLS included) bounds the handshake, and it is given back when the
/// handshake is over, whatever the outcome. A dialed connection gets the configured timeout.
pub(super) async fn handshake(task: HandshakeTask) {
    let HandshakeTask {
        read,
        writer,
        is_server,
        frames,
        config,
        server,
        session,
        slot,
    } = task;
    let deadline = slot.as_ref().map_or_else(
        || tokio::time::Instant::now() + config.handshake_timeout,
        PendingSlot::deadline,
    );
    // An accepted connection's client says who it is in its hello: the server hears it before
    // the proofs, so that its reconciler does not dial a node that is dialing it (a claim it
    // takes as a hint only, see `node::server::reconciler`).
    let session_id = session.get_id();
    let introduce = |claim: &WireNodeName| {
        let event = ServerEvent::Introduced {
            session: session_id,
            claim: claim.clone(),
        };
        let _ = server.cast(NodeServerMessage::internal(event));
    };
    let outcome = match tokio::time::timeout_at(
        deadline,
        authenticate(read, &writer, is_server, frames, &config, introduce),
    )
    .await
    {
        Ok(Ok((reader, auth))) => {
            let admitted = admit(&server, &session, reader, auth).await;
            if let Err(SessionEnd::EndedHere(refusal)) = &admitted {
                tell_refusal(&writer, config.max_frame, refusal);
            }
            admitted
        }
        Ok(Err(failure)) => Err(failure.into()),
        Err(_) => Err(HandshakeFailure::from(format!(
            "the handshake did not complete within {:?} of the connection",
            config.handshake_timeout
        ))
        .into()),
    };
    // The peer authenticated (and was admitted or refused) or failed: either way its connection no
    // longer waits to authenticate.
    drop(slot);
    drop(writer);
    let _ = session.cast(NodeSessionMessage::internal(SessionEvent::HandshakeDone(
        outcome,
    )));
}

/// Tells a peer that authenticated why its session is refused, in a `Disconnect` sealed like any
/// frame of the session, so that its log and its session end say so (the peer is authenticated:
/// it may know). The writer sends it before the connection closes.
fn tell_refusal(writer: &WriterHandle, max_frame: u32, refusal: &str) {
    let disconnect = SessionMessage::Control(ControlMessage::Disconnect {
        reason: refusal.to_owned(),
    });
    let mut frame = Vec::new();
    match disconnect.encode_frame(max_frame, &mut frame) {
        // A closed writer: the connection is gone already, and with it the peer.
        Ok(()) => drop(writer.send(frame)),
        Err(err) => tracing::debug!(%err, "cannot encode the refusal for the peer"),
    }
}

/// Asks the server whether to keep the session of a peer that has just authenticated.
async fn admit(
    server: &ActorRef<NodeServerMessage>,
    session: &ActorRef<NodeSessionMessage>,
    reader: FrameReader,
    auth: Authenticated,
) -> Result<Box<Established>, SessionEnd> {
    let peer = auth.peer.clone();
    let session_id = session.get_id();
    let admitted = server
        .call(
            |reply| {
                NodeServerMessage::internal(ServerEvent::Admit {
                    session: session_id,
                    peer,
                    incarnation: auth.peer_incarnation,
                    connection_key: auth.connection_key,
                    hidden: auth.peer_hidden,
                    reply,
                })
            },
            Some(Duration::from_secs(5)),
        )
        .await;
    match admitted {
        Ok(ractor::rpc::CallResult::Success(Ok(()))) => Ok(Box::new(Established { reader, auth })),
        Ok(ractor::rpc::CallResult::Success(Err(reason))) => Err(SessionEnd::EndedHere(reason)),
        _ => Err(SessionEnd::EndedHere(
            "the node server did not answer".to_owned(),
        )),
    }
}

/// Why a handshake ended without a session.
struct HandshakeFailure {
    reason: String,
    /// The peers could not authenticate each other (different cookies, same name, incompatible
    /// versions): dialing again would fail the same way.
    authentication: bool,
}

impl From<String> for HandshakeFailure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            authentication: false,
        }
    }
}

impl From<HandshakeFailure> for SessionEnd {
    fn from(failure: HandshakeFailure) -> Self {
        SessionEnd::HandshakeFailed {
            reason: failure.reason,
            authentication: failure.authentication,
        }
    }
}

impl From<&str> for HandshakeFailure {
    fn from(reason: &str) -> Self {
        Self::from(reason.to_owned())
    }
}

/// Whether a handshake error means the two nodes cannot authenticate each other, however often
/// they try.
fn is_authentication_failure(err: &HandshakeError) -> bool {
    matches!(
        err,
        HandshakeError::AuthenticationFailed
            | HandshakeError::PeerIncompatible { .. }
            | HandshakeError::ConnectionToSelf
            | HandshakeError::RejectedByPeer(
                Rejection::BadProof
                    | Rejection::IncompatibleVersion { .. }
                    | Rejection::ConnectionToSelf
            )
    )
}

/// The handshake state machine of either side.
enum Driver {
    Client(ClientDriver),
    Server(ServerDriver),
}

impl Driver {
    fn receive(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        match self {
            Driver::Client(driver) => driver.receive(body, out),
            Driver::Server(driver) => driver.receive(body, out),
        }
    }

    /// Who the client claims to be, on the server's side, from its hello until the end.
    fn client_claim(&self) -> Option<&WireNodeName> {
        match self {
            Driver::Client(_) => None,
            Driver::Server(driver) => driver.client_claim(),
        }
    }
}

/// The handshake itself: frames in, frames out, until authenticated or refused. On the server's
/// side, `introduce` hears who the client claims to be, once, as soon as its hello is answered.
async fn authenticate(
    read: BoxRead,
    writer: &WriterHandle,
    is_server: bool,
    frames: FrameProtection,
    config: &NodeConfig,
    introduce: impl FnOnce(&WireNodeName),
) -> Result<(FrameReader, Authenticated), HandshakeFailure> {
    let handshake_config = HandshakeConfig {
        cookie: config.cookie.clone(),
        local: config.local.clone(),
        incarnation: config.incarnation,
        frames,
        hidden: config.hidden,
    };
    let fresh = Fresh {
        nonce: rand::random(),
        key_secret: rand::random(),
    };
    let mut out = Vec::new();
    let mut driver = if is_server {
        Driver::Server(ServerDriver::start(handshake_config, fresh).map_err(|err| err.to_string())?)
    } else {
        Driver::Client(
            ClientDriver::start(handshake_config, fresh, &mut out)
                .map_err(|err| err.to_string())?,
        )
    };
    let mut reader = FrameReader::unauthenticated(read);
    let mut introduce = Some(introduce);
    loop {
        if !out.is_empty() {
            writer
                .send(std::mem::take(&mut out))
                .map_err(|err| err.to_string())?;
        }
        let body = match reader.next_frame(HANDSHAKE_MAX_FRAME).await {
            Ok(Some(body)) => body,
            Ok(None) => return Err("the peer closed the connection during the handshake".into()),
            Err(err) => return Err(format!("handshake: {err}").into()),
        };
        let progress = driver.receive(body, &mut out);
        if !out.is_empty() {
            // The last frame (a proof or a rejection) must go out whatever happens next.
            let _ = writer.send(std::mem::take(&mut out));
        }
        if let Some(claim) = driver.client_claim() {
            if let Some(introduce) = introduce.take() {
                introduce(claim);
            }
        }
        match progress {
            Ok(HandshakeProgress::Continue) => {}
            Ok(HandshakeProgress::Done(auth)) => {
                reader.authenticated();
                if let Some(keys) = &auth.keys {
                    // PROTOCOL.md rule R1: each direction is sealed from the first byte after
                    // its last handshake frame (the server's proof was queued just above).
                    reader.start_opening(Opener::new(&keys.receive));
                    writer
                        .seal_after_queued(Sealer::new(&keys.send))
                        .map_err(|err| err.to_string())?;
                }
                return Ok((reader, auth));
            }
            Err(err) => {
                return Err(HandshakeFailure {
                    reason: format!("handshake failed: {err}"),
                    authentication: is_authentication_failure(&err),
                })
            }
        }
    }
}
