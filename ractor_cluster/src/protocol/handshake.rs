//! The authentication handshake, as two state machines with no I/O.
//!
//! ```text
//! client                                   server
//!   | --- ClientHello(version, name, nonce, --> |  checks version, not itself
//!   |       key share, frame protection)        |
//!   | <-- ServerHello(version, name, nonce, --- |
//!   |       key share, frame protection)        |
//!   | --- ClientProof(MAC as client) ---------> |  checks the client's proof
//!   | <-- ServerProof(MAC as server) ---------- |
//! checks the server's proof                    |
//!   |  ====== sealed records, if agreed ======  |
//! ```
//!
//! Once a side has checked the other's proof it derives the session's keys from the X25519
//! exchange, the cookie and both hellos ([`keys`](super::keys)); the session is sealed unless both
//! hellos ask for plaintext (rule K1).
//!
//! Each state is a type named for what it waits on; `handle` consumes it and returns the next
//! state with the message to send, or a [`HandshakeError`] that names who is at fault and offers
//! the `Rejected` message to send back, so that both sides end with a reason they can log.
//! The client proves first: a server never hands out a proof to a peer that has not proven it knows
//! the cookie. [`ClientDriver`] and [`ServerDriver`] wrap the states for a byte-level caller (the
//! network layer, the fuzz targets).

use super::codec::CodecError;
use super::frame::FrameEncodeError;
use super::identity::{node_id_of, Cookie, NodeId, ProofInput, Role};
use super::keys::{derive_session_keys, EphemeralSecret, KeyShareUnavailable, SessionKeys};
use super::message::{
    FrameProtection, HandshakeMessage, Hello, Proof, ProtocolVersion, Rejection, RejectionText,
    WireNodeName, PROTOCOL_VERSION,
};

/// 32 random bytes, fresh for every handshake, chosen by the caller (no RNG in the protocol).
pub(crate) type Nonce = [u8; 32];

/// What a node brings to every handshake.
#[derive(Debug, Clone)]
pub(crate) struct HandshakeConfig {
    /// The cluster's shared secret.
    pub(crate) cookie: Cookie,
    /// This node's name.
    pub(crate) local: WireNodeName,
    /// This run of this node (see [`Hello::incarnation`]).
    pub(crate) incarnation: u64,
    /// What this side asks for the frames after the handshake (rule K1).
    pub(crate) frames: FrameProtection,
    /// This node is hidden: its hellos say so (PROTOCOL.md, "Hidden nodes").
    pub(crate) hidden: bool,
}

impl HandshakeConfig {
    fn hello(&self, nonce: Nonce, secret: &EphemeralSecret) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            node: self.local.clone(),
            incarnation: self.incarnation,
            nonce,
            key_share: secret.share(),
            frames: self.frames,
            hidden: self.hidden,
        }
    }
}

/// The fresh random bytes each handshake needs, drawn by the caller (no RNG in the protocol).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fresh {
    /// This side's nonce.
    pub(crate) nonce: Nonce,
    /// The secret of this side's X25519 key share, used for this handshake only.
    pub(crate) key_secret: [u8; 32],
}

impl std::fmt::Debug for Fresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The nonce is sent in the clear anyway; the key secret must never be printed.
        f.debug_struct("Fresh")
            .field("nonce", &self.nonce)
            .field("key_secret", &"<redacted>")
            .finish()
    }
}

/// The outcome of a successful handshake: who the peer proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authenticated {
    /// The peer's name, as it announced it (and as the proofs cover).
    pub(crate) peer: WireNodeName,
    /// `node_id_of(&peer.name)`.
    pub(crate) peer_node_id: NodeId,
    /// The peer's incarnation: a different one than last time means the peer restarted.
    pub(crate) peer_incarnation: u64,
    /// The version both sides speak: the common major and the lower minor (rule V4).
    pub(crate) protocol: ProtocolVersion,
    /// The same on both ends of this connection and, with fresh nonces, different for every
    /// other: the two nonces combined. Lets both nodes pick the same one of two connections
    /// between them without talking.
    pub(crate) connection_key: Nonce,
    /// The session's record keys if it is sealed (rule K1); `None` if both sides asked for
    /// plaintext.
    pub(crate) keys: Option<SessionKeys>,
    /// The peer said it is hidden, in a hello the proofs cover.
    pub(crate) peer_hidden: bool,
}

/// Derives the keys of a session between `client` and `server`, if either asks for sealing.
fn session_keys(
    secret: EphemeralSecret,
    cookie: &Cookie,
    client: &Hello,
    server: &Hello,
    is_client: bool,
) -> Result<Option<SessionKeys>, HandshakeError> {
    match client.frames.agreed_with(server.frames) {
        FrameProtection::Plaintext => Ok(None),
        FrameProtection::Sealed => derive_session_keys(secret, cookie, client, server, is_client)
            .map(Some)
            .map_err(|_| HandshakeError::WeakKeyShare),
    }
}

impl Authenticated {
    fn from_peer_hello(ours: &Hello, theirs: Hello, keys: Option<SessionKeys>) -> Self {
        let mut connection_key = ours.nonce;
        for (byte, theirs) in connection_key.iter_mut().zip(theirs.nonce) {
            *byte ^= theirs;
        }
        Self {
            peer_node_id: node_id_of(&theirs.node.name),
            peer: theirs.node,
            peer_incarnation: theirs.incarnation,
            peer_hidden: theirs.hidden,
            protocol: ours.protocol.common_with(theirs.protocol),
            connection_key,
            keys,
        }
    }
}

/// Why a handshake failed, named for who is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum HandshakeError {
    /// The peer sent a message the current state does not accept (rule H6).
    PeerMisbehaved {
        /// What the state waits on.
        expected: &'static str,
        /// What came.
        received: &'static str,
    },
    /// The peer speaks another major version (rule V1).
    PeerIncompatible {
        /// Our version.
        ours: ProtocolVersion,
        /// The peer's.
        theirs: ProtocolVersion,
    },
    /// The peer's proof did not check: it does not know our cookie, or replays, relays or reflects
    /// a proof made for another handshake (rules H4, H5).
    AuthenticationFailed,
    /// The peer ended the handshake, and said why (rule H7).
    RejectedByPeer(Rejection),
    /// The peer has our name: we connected to ourselves, or two nodes share a name (rule H3).
    ConnectionToSelf,
    /// The peer's bytes are not a handshake message (rules C2, C3).
    Malformed(CodecError),
    /// We could not frame one of our own messages (our name is too long for a handshake frame).
    LocalEncoding(FrameEncodeError),
    /// The driver was given bytes after the handshake had already ended. A bug of the caller.
    AlreadyEnded,
    /// The peer's key share is a low-order point, which would make the session keys guessable
    /// (rule K2).
    WeakKeyShare,
    /// The crypto library could not make our key share (it could not allocate).
    LocalKeyShare,
}

impl HandshakeError {
    /// What to tell the peer before closing, if anything. A rejection is never answered, and
    /// local faults are not the peer's business.
    pub(crate) fn rejection(&self) -> Option<Rejection> {
        match self {
            HandshakeError::PeerMisbehaved { .. }
            | HandshakeError::Malformed(_)
            | HandshakeError::WeakKeyShare => Some(Rejection::ProtocolViolation(
                RejectionText::truncating(&self.to_string()),
            )),
            HandshakeError::PeerIncompatible { ours, .. } => {
                Some(Rejection::IncompatibleVersion { ours: *ours })
            }
            HandshakeError::AuthenticationFailed => Some(Rejection::BadProof),
            HandshakeError::ConnectionToSelf => Some(Rejection::ConnectionToSelf),
            HandshakeError::RejectedByPeer(_)
            | HandshakeError::LocalEncoding(_)
            | HandshakeError::LocalKeyShare
            | HandshakeError::AlreadyEnded => None,
        }
    }

    /// [`rejection`](Self::rejection) as the message to send.
    pub(crate) fn rejection_message(&self) -> Option<HandshakeMessage> {
        self.rejection().map(HandshakeMessage::Rejected)
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::PeerMisbehaved { expected, received } => {
                write!(f, "peer sent {received} where {expected} was expected")
            }
            HandshakeError::PeerIncompatible { ours, theirs } => write!(
                f,
                "peer speaks protocol {theirs}, incompatible with our {ours}"
            ),
            HandshakeError::AuthenticationFailed => {
                f.write_str("peer's proof is invalid (do the cookies match?)")
            }
            HandshakeError::RejectedByPeer(rejection) => {
                write!(f, "peer rejected the handshake: {rejection}")
            }
            HandshakeError::ConnectionToSelf => {
                f.write_str("peer has our node name (connection to self?)")
            }
            HandshakeError::Malformed(err) => write!(f, "peer sent a malformed message: {err}"),
            HandshakeError::LocalEncoding(err) => {
                write!(f, "cannot send our handshake message: {err}")
            }
            HandshakeError::AlreadyEnded => f.write_str("the handshake has already ended"),
            HandshakeError::WeakKeyShare => {
                f.write_str("peer sent a weak key share (a low-order X25519 point)")
            }
            HandshakeError::LocalKeyShare => f.write_str("cannot make our X25519 key share"),
        }
    }
}

impl From<KeyShareUnavailable> for HandshakeError {
    fn from(_: KeyShareUnavailable) -> Self {
        HandshakeError::LocalKeyShare
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandshakeError::Malformed(err) => Some(err),
            HandshakeError::LocalEncoding(err) => Some(err),
            _ => None,
        }
    }
}

/// Any message other than the one awaited: a rejection ends the handshake with the peer's reason
/// (rule H7), anything else is out of order (rule H6).
fn unexpected(expected: &'static str, received: HandshakeMessage) -> HandshakeError {
    match received {
        HandshakeMessage::Rejected(rejection) => HandshakeError::RejectedByPeer(rejection),
        other => HandshakeError::PeerMisbehaved {
            expected,
            received: other.kind(),
        },
    }
}

/// Checks the peer's hello against ours (rules V1, H3).
fn check_peer_hello(ours: &Hello, theirs: &Hello) -> Result<(), HandshakeError> {
    if !ours.protocol.is_compatible_with(theirs.protocol) {
        return Err(HandshakeError::PeerIncompatible {
            ours: ours.protocol,
            theirs: theirs.protocol,
        });
    }
    if ours.node.name == theirs.node.name {
        return Err(HandshakeError::ConnectionToSelf);
    }
    Ok(())
}

/// The client role: the side that opened the connection.
#[derive(Debug)]
pub(crate) struct ClientHandshake;

impl ClientHandshake {
    /// Begins a handshake: returns the state awaiting the server's hello and the `ClientHello` to
    /// send. `fresh` must be fresh random bytes.
    pub(crate) fn start(
        config: HandshakeConfig,
        fresh: Fresh,
    ) -> Result<(ExpectServerHello, HandshakeMessage), HandshakeError> {
        let secret = EphemeralSecret::from_bytes(fresh.key_secret)?;
        let hello = config.hello(fresh.nonce, &secret);
        let message = HandshakeMessage::ClientHello(hello.clone());
        Ok((
            ExpectServerHello {
                config,
                hello,
                secret,
            },
            message,
        ))
    }
}

/// Client, after sending `ClientHello`: waits for `ServerHello`.
#[derive(Debug)]
pub(crate) struct ExpectServerHello {
    config: HandshakeConfig,
    hello: Hello,
    secret: EphemeralSecret,
}

impl ExpectServerHello {
    /// Takes the server's hello and answers with the client's proof.
    pub(crate) fn handle(
        self,
        message: HandshakeMessage,
    ) -> Result<(ExpectServerProof, HandshakeMessage), HandshakeError> {
        let HandshakeMessage::ServerHello(server) = message else {
            return Err(unexpected("ServerHello", message));
        };
        check_peer_hello(&self.hello, &server)?;
        let mac = self.config.cookie.prove(&ProofInput {
            role: Role::Client,
            client: &self.hello,
            server: &server,
        });
        let next = ExpectServerProof {
            config: self.config,
            client: self.hello,
            server,
            secret: self.secret,
        };
        Ok((next, HandshakeMessage::ClientProof(Proof { mac })))
    }
}

/// Client, after sending its proof: waits for the server's.
#[derive(Debug)]
pub(crate) struct ExpectServerProof {
    config: HandshakeConfig,
    client: Hello,
    server: Hello,
    secret: EphemeralSecret,
}

impl ExpectServerProof {
    /// Checks the server's proof; the handshake is complete if it holds.
    pub(crate) fn handle(self, message: HandshakeMessage) -> Result<Authenticated, HandshakeError> {
        let HandshakeMessage::ServerProof(proof) = message else {
            return Err(unexpected("ServerProof", message));
        };
        let input = ProofInput {
            role: Role::Server,
            client: &self.client,
            server: &self.server,
        };
        // PROTOCOL.md rule H5.
        if !self.config.cookie.verify(&input, &proof.mac) {
            return Err(HandshakeError::AuthenticationFailed);
        }
        let keys = session_keys(
            self.secret,
            &self.config.cookie,
            &self.client,
            &self.server,
            true,
        )?;
        Ok(Authenticated::from_peer_hello(
            &self.client,
            self.server,
            keys,
        ))
    }
}

/// The server role: the side that accepted the connection.
#[derive(Debug)]
pub(crate) struct ServerHandshake;

impl ServerHandshake {
    /// Begins a handshake on an accepted connection. `fresh` must be fresh random bytes.
    pub(crate) fn start(
        config: HandshakeConfig,
        fresh: Fresh,
    ) -> Result<ExpectClientHello, HandshakeError> {
        let secret = EphemeralSecret::from_bytes(fresh.key_secret)?;
        let hello = config.hello(fresh.nonce, &secret);
        Ok(ExpectClientHello {
            config,
            hello,
            secret,
        })
    }
}

/// Server, on a fresh connection: waits for `ClientHello`.
#[derive(Debug)]
pub(crate) struct ExpectClientHello {
    config: HandshakeConfig,
    hello: Hello,
    secret: EphemeralSecret,
}

impl ExpectClientHello {
    /// Takes the client's hello and answers with the server's.
    pub(crate) fn handle(
        self,
        message: HandshakeMessage,
    ) -> Result<(ExpectClientProof, HandshakeMessage), HandshakeError> {
        let HandshakeMessage::ClientHello(client) = message else {
            return Err(unexpected("ClientHello", message));
        };
        // PROTOCOL.md rules V1 and H3.
        check_peer_hello(&self.hello, &client)?;
        let reply = HandshakeMessage::ServerHello(self.hello.clone());
        let next = ExpectClientProof {
            config: self.config,
            client,
            server: self.hello,
            secret: self.secret,
        };
        Ok((next, reply))
    }
}

/// Server, after sending its hello: waits for the client's proof.
#[derive(Debug)]
pub(crate) struct ExpectClientProof {
    config: HandshakeConfig,
    client: Hello,
    server: Hello,
    secret: EphemeralSecret,
}

impl ExpectClientProof {
    /// Checks the client's proof and, if it holds, answers with the server's.
    pub(crate) fn handle(
        self,
        message: HandshakeMessage,
    ) -> Result<(Authenticated, HandshakeMessage), HandshakeError> {
        let HandshakeMessage::ClientProof(proof) = message else {
            return Err(unexpected("ClientProof", message));
        };
        let client_input = ProofInput {
            role: Role::Client,
            client: &self.client,
            server: &self.server,
        };
        // PROTOCOL.md rule H4: only a client that proved itself gets our proof.
        if !self.config.cookie.verify(&client_input, &proof.mac) {
            return Err(HandshakeError::AuthenticationFailed);
        }
        let mac = self.config.cookie.prove(&ProofInput {
            role: Role::Server,
            ..client_input
        });
        let keys = session_keys(
            self.secret,
            &self.config.cookie,
            &self.client,
            &self.server,
            false,
        )?;
        let authenticated = Authenticated::from_peer_hello(&self.server, self.client, keys);
        Ok((authenticated, HandshakeMessage::ServerProof(Proof { mac })))
    }
}

/// Decodes a handshake frame body.
///
/// A body that does not decode but starts like a hello of another major version (rule V5) is
/// reported as an incompatible peer, not as garbage, so both sides get a clear reason.
pub(crate) fn decode_handshake_message(body: &[u8]) -> Result<HandshakeMessage, HandshakeError> {
    HandshakeMessage::decode(body).map_err(|err| match HandshakeMessage::peek_hello_version(body) {
        Some(theirs) if !PROTOCOL_VERSION.is_compatible_with(theirs) => {
            HandshakeError::PeerIncompatible {
                ours: PROTOCOL_VERSION,
                theirs,
            }
        }
        _ => HandshakeError::Malformed(err),
    })
}

/// What a driver made of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandshakeProgress {
    /// More frames are needed; anything to send has been appended to the output.
    Continue,
    /// The peer is authenticated; anything to send has been appended to the output. The driver
    /// takes no more frames.
    Done(Authenticated),
}

/// The client role at the byte level: frame bodies in, frames out.
#[derive(Debug)]
pub(crate) struct ClientDriver {
    state: ClientState,
}

#[derive(Debug)]
enum ClientState {
    AwaitingServerHello(ExpectServerHello),
    AwaitingServerProof(ExpectServerProof),
    Ended,
}

impl ClientDriver {
    /// Begins a handshake, appending the `ClientHello` frame to `out`.
    pub(crate) fn start(
        config: HandshakeConfig,
        fresh: Fresh,
        out: &mut Vec<u8>,
    ) -> Result<Self, HandshakeError> {
        let (state, hello) = ClientHandshake::start(config, fresh)?;
        hello
            .encode_frame(out)
            .map_err(HandshakeError::LocalEncoding)?;
        Ok(Self {
            state: ClientState::AwaitingServerHello(state),
        })
    }

    /// Feeds one frame body from the server.
    ///
    /// Frames to send are appended to `out`. On error, `out` also receives the `Rejected` frame to
    /// send before closing (if the error calls for one): flush it, then close.
    pub(crate) fn receive(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        let state = std::mem::replace(&mut self.state, ClientState::Ended);
        let result = self.step(state, body, out);
        fail_with_rejection(result, out)
    }

    fn step(
        &mut self,
        state: ClientState,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        match state {
            ClientState::AwaitingServerHello(expect) => {
                let (next, proof) = expect.handle(decode_handshake_message(body)?)?;
                proof
                    .encode_frame(out)
                    .map_err(HandshakeError::LocalEncoding)?;
                self.state = ClientState::AwaitingServerProof(next);
                Ok(HandshakeProgress::Continue)
            }
            ClientState::AwaitingServerProof(expect) => {
                let authenticated = expect.handle(decode_handshake_message(body)?)?;
                Ok(HandshakeProgress::Done(authenticated))
            }
            ClientState::Ended => Err(HandshakeError::AlreadyEnded),
        }
    }
}

/// The server role at the byte level: frame bodies in, frames out.
#[derive(Debug)]
pub(crate) struct ServerDriver {
    state: ServerState,
}

#[derive(Debug)]
enum ServerState {
    AwaitingClientHello(ExpectClientHello),
    AwaitingClientProof(ExpectClientProof),
    Ended,
}

impl ServerDriver {
    /// Begins a handshake on an accepted connection; the server speaks only once spoken to.
    pub(crate) fn start(config: HandshakeConfig, fresh: Fresh) -> Result<Self, HandshakeError> {
        Ok(Self {
            state: ServerState::AwaitingClientHello(ServerHandshake::start(config, fresh)?),
        })
    }

    /// Who the client says it is, from its hello, until the handshake ends: a claim nobody has
    /// proved yet (the client's proof comes next), which the node uses only as a hint (not to
    /// dial a node that is dialing it, see `node::server::reconciler`).
    pub(crate) fn client_claim(&self) -> Option<&WireNodeName> {
        match &self.state {
            ServerState::AwaitingClientProof(expect) => Some(&expect.client.node),
            ServerState::AwaitingClientHello(_) | ServerState::Ended => None,
        }
    }

    /// Feeds one frame body from the client; see [`ClientDriver::receive`] for `out`.
    pub(crate) fn receive(
        &mut self,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        let state = std::mem::replace(&mut self.state, ServerState::Ended);
        let result = self.step(state, body, out);
        fail_with_rejection(result, out)
    }

    fn step(
        &mut self,
        state: ServerState,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<HandshakeProgress, HandshakeError> {
        match state {
            ServerState::AwaitingClientHello(expect) => {
                let (next, hello) = expect.handle(decode_handshake_message(body)?)?;
                hello
                    .encode_frame(out)
                    .map_err(HandshakeError::LocalEncoding)?;
                self.state = ServerState::AwaitingClientProof(next);
                Ok(HandshakeProgress::Continue)
            }
            ServerState::AwaitingClientProof(expect) => {
                let (authenticated, proof) = expect.handle(decode_handshake_message(body)?)?;
                proof
                    .encode_frame(out)
                    .map_err(HandshakeError::LocalEncoding)?;
                Ok(HandshakeProgress::Done(authenticated))
            }
            ServerState::Ended => Err(HandshakeError::AlreadyEnded),
        }
    }
}

/// On error, appends the rejection the error calls for to `out`.
fn fail_with_rejection(
    result: Result<HandshakeProgress, HandshakeError>,
    out: &mut Vec<u8>,
) -> Result<HandshakeProgress, HandshakeError> {
    if let Err(err) = &result {
        if let Some(rejection) = err.rejection_message() {
            // Best effort: a rejection is a few hundred bytes at most (its text is bounded), so
            // this cannot exceed the handshake frame limit; and if it somehow failed, closing
            // without a reason is all that is left to do.
            let _ = rejection.encode_frame(out);
        }
    }
    result
}

#[cfg(test)]
#[path = "tests/handshake.rs"]
mod tests;
