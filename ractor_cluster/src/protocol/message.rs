//! The messages two nodes exchange, as serde types.
//!
//! There are two top-level enums, one per phase of a connection: [`HandshakeMessage`] before the
//! peer has proven it knows the cookie, [`SessionMessage`] after. Both are encoded with
//! [`codec`], which writes enum variants by *position* and struct fields in
//! declaration order; so the order of variants and fields in this file *is* the wire format. The
//! golden-byte tests at the bottom pin it: reordering anything fails them (PROTOCOL.md, rule V3).

use serde::{Deserialize, Serialize};

use super::codec::{self, payload, CodecError};
use super::frame::{self, FrameEncodeError};
pub(crate) use super::frame_protection::FrameProtection;
use super::listed::ListedDigest;
pub(crate) use super::version::{ProtocolVersion, PROTOCOL_VERSION};

#[cfg(test)]
use super::rejection::MAX_REJECTION_TEXT;
pub(crate) use super::rejection::{Rejection, RejectionText};
pub(crate) use super::reply::{CallFailure, ReplyOutcome};
pub(crate) use super::traced::{TraceParent, TracedMessage};
#[cfg(feature = "trace-context")]
pub(crate) use super::traced::{TRACED_MINOR, TRACED_REPLY_MINOR};

/// How a node names itself in the handshake: the name is its identity, the connection string tells
/// others how to reach it. The wire form of the public `node::NodeName` that session events carry,
/// kept apart so that the public type can grow without changing the wire (rule V2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct WireNodeName {
    /// The node's name, unique in the cluster; its [`node_id_of`](super::identity::node_id_of) is
    /// derived from it.
    pub(crate) name: String,
    /// Where the node accepts connections, e.g. `"10.0.0.7:4697"`.
    pub(crate) connection_string: String,
}

/// What each side announces first.
///
/// The encoding of `HandshakeMessage::ClientHello` / `ServerHello` starts with the enum tag, 0 or
/// 1, followed by `protocol`. That prefix is frozen forever, in every major version (rule V5), so
/// that a node of any version can read the peer's version and answer a mismatch with a clear
/// `Rejected(IncompatibleVersion)` instead of a decode error. Everything after it may change with
/// the major version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hello {
    /// The sender's protocol version. Must stay the first field (rule V5).
    pub(crate) protocol: ProtocolVersion,
    /// The sender's name.
    pub(crate) node: WireNodeName,
    /// Distinguishes runs of the same node: a node picks a new incarnation each time it starts, so
    /// a peer can tell a restarted node from a reconnecting one.
    pub(crate) incarnation: u64,
    /// 32 fresh random bytes from the sender, covered by both proofs so no proof can be replayed.
    pub(crate) nonce: [u8; 32],
    /// The sender's X25519 public key for this handshake only (PROTOCOL.md, "Key schedule").
    pub(crate) key_share: [u8; 32],
    /// What the sender asks for the frames after the handshake (rule K1).
    pub(crate) frames: FrameProtection,
    /// The sender is a hidden node (since 2.7; PROTOCOL.md, "Hidden nodes"). Not a field on the
    /// wire, where fields are never added (rule V2): a hidden sender's hello travels under its own
    /// tag (`HiddenClientHello`, `HiddenServerHello`), and the transcript the proofs cover says
    /// so, so no one on the path can make a session hidden or visible.
    #[serde(skip)]
    pub(crate) hidden: bool,
}

/// A handshake proof: HMAC-SHA256 over the transcript, keyed with the cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Proof {
    /// The MAC (PROTOCOL.md, "The proof").
    pub(crate) mac: [u8; 32],
}

/// Every message of the handshake (PROTOCOL.md, "Handshake").
///
/// On the wire it is [`WireHandshakeMessage`], whose variant order is the format: a hello whose
/// `hidden` is set travels as `HiddenClientHello` or `HiddenServerHello`, and comes back as a
/// `ClientHello` or `ServerHello` with `hidden` set, so the state machines see one kind of hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireHandshakeMessage", into = "WireHandshakeMessage")]
pub(crate) enum HandshakeMessage {
    /// Client to server, first: who the client is and its nonce.
    ClientHello(Hello),
    /// Server to client, answering `ClientHello`.
    ServerHello(Hello),
    /// Client to server: the client proves it knows the cookie.
    ClientProof(Proof),
    /// Server to client, only after a valid `ClientProof`: the server proves it too.
    ServerProof(Proof),
    /// Either side: the handshake is over, and why. Never answered.
    Rejected(Rejection),
}

/// [`HandshakeMessage`] as it is encoded.
///
/// Variant order is the wire format; new variants only at the end (rule V2). The tags of
/// `ClientHello` (0), `ServerHello` (1) and `Rejected` (4) are frozen forever (rule V5); the
/// hidden hellos (5, 6) start with the same prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum WireHandshakeMessage {
    ClientHello(Hello),
    ServerHello(Hello),
    ClientProof(Proof),
    ServerProof(Proof),
    Rejected(Rejection),
    /// Since 2.7: a `ClientHello` from a hidden node.
    HiddenClientHello(Hello),
    /// Since 2.7: a `ServerHello` from a hidden node.
    HiddenServerHello(Hello),
}

impl From<WireHandshakeMessage> for HandshakeMessage {
    fn from(wire: WireHandshakeMessage) -> Self {
        let hidden = |hello: Hello| Hello {
            hidden: true,
            ..hello
        };
        match wire {
            WireHandshakeMessage::ClientHello(hello) => HandshakeMessage::ClientHello(hello),
            WireHandshakeMessage::ServerHello(hello) => HandshakeMessage::ServerHello(hello),
            WireHandshakeMessage::ClientProof(proof) => HandshakeMessage::ClientProof(proof),
            WireHandshakeMessage::ServerProof(proof) => HandshakeMessage::ServerProof(proof),
            WireHandshakeMessage::Rejected(rejection) => HandshakeMessage::Rejected(rejection),
            WireHandshakeMessage::HiddenClientHello(hello) => {
                HandshakeMessage::ClientHello(hidden(hello))
            }
            WireHandshakeMessage::HiddenServerHello(hello) => {
                HandshakeMessage::ServerHello(hidden(hello))
            }
        }
    }
}

impl From<HandshakeMessage> for WireHandshakeMessage {
    fn from(message: HandshakeMessage) -> Self {
        match message {
            HandshakeMessage::ClientHello(hello) if hello.hidden => {
                WireHandshakeMessage::HiddenClientHello(hello)
            }
            HandshakeMessage::ClientHello(hello) => WireHandshakeMessage::ClientHello(hello),
            HandshakeMessage::ServerHello(hello) if hello.hidden => {
                WireHandshakeMessage::HiddenServerHello(hello)
            }
            HandshakeMessage::ServerHello(hello) => WireHandshakeMessage::ServerHello(hello),
            HandshakeMessage::ClientProof(proof) => WireHandshakeMessage::ClientProof(proof),
            HandshakeMessage::ServerProof(proof) => WireHandshakeMessage::ServerProof(proof),
            HandshakeMessage::Rejected(rejection) => WireHandshakeMessage::Rejected(rejection),
        }
    }
}

impl HandshakeMessage {
    /// The variant's name, for errors and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            HandshakeMessage::ClientHello(hello) if hello.hidden => "HiddenClientHello",
            HandshakeMessage::ServerHello(hello) if hello.hidden => "HiddenServerHello",
            HandshakeMessage::ClientHello(_) => "ClientHello",
            HandshakeMessage::ServerHello(_) => "ServerHello",
            HandshakeMessage::ClientProof(_) => "ClientProof",
            HandshakeMessage::ServerProof(_) => "ServerProof",
            HandshakeMessage::Rejected(_) => "Rejected",
        }
    }

    /// Decodes one frame body; trailing bytes and unknown tags are errors (rules C2, C3).
    pub(crate) fn decode(body: &[u8]) -> Result<Self, CodecError> {
        codec::decode_exact(body)
    }

    /// Reads only the frozen prefix of a hello (tag, then version; rule V5), for telling a peer of
    /// another major version apart from a malformed one. `None` if `body` is not a hello.
    pub(crate) fn peek_hello_version(body: &[u8]) -> Option<ProtocolVersion> {
        const CLIENT_HELLO_TAG: u32 = 0;
        const SERVER_HELLO_TAG: u32 = 1;
        const HIDDEN_CLIENT_HELLO_TAG: u32 = 5;
        const HIDDEN_SERVER_HELLO_TAG: u32 = 6;
        let ((tag, version), _) = codec::decode_prefix::<(u32, ProtocolVersion)>(body).ok()?;
        matches!(
            tag,
            CLIENT_HELLO_TAG | SERVER_HELLO_TAG | HIDDEN_CLIENT_HELLO_TAG | HIDDEN_SERVER_HELLO_TAG
        )
        .then_some(version)
    }

    /// Appends this message as one frame to `out`, within the pre-authentication limit.
    pub(crate) fn encode_frame(&self, out: &mut Vec<u8>) -> Result<(), FrameEncodeError> {
        frame::encode_frame(self, frame::HANDSHAKE_MAX_FRAME, out)
    }
}

/// Every message after authentication (PROTOCOL.md, "Session messages").
///
/// Variant order is the wire format; new variants only at the end (rule V2). A receiver that meets
/// a tag it does not know closes the session: it is the sender's protocol error (rule S1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SessionMessage {
    /// A message to an actor, expecting no answer.
    Cast {
        /// The target actor's pid on the receiving node.
        to: u64,
        /// The message, encoded by the derive macro (PROTOCOL.md, "User message payloads").
        #[serde(with = "payload")]
        args: Vec<u8>,
    },
    /// A message to an actor that expects exactly one `Reply` with the same `call`.
    Call {
        /// The target actor's pid on the receiving node.
        to: u64,
        /// Chosen by the caller, unique among its calls pending on this session.
        call: u64,
        /// The message, encoded by the derive macro.
        #[serde(with = "payload")]
        args: Vec<u8>,
    },
    /// The answer to a `Call`.
    Reply {
        /// The `call` of the `Call` this answers.
        call: u64,
        /// The reply, or why there is none.
        outcome: ReplyOutcome,
    },
    /// Session bookkeeping.
    Control(ControlMessage),
    /// A piece of the body of a larger message, so that heartbeats, replies and other traffic
    /// can travel between its pieces (PROTOCOL.md, "Fragments"). Bodies are concatenated until
    /// `more` is false; the result is decoded as one `SessionMessage`, which must not itself be
    /// a `Fragment` (rule S5).
    Fragment {
        /// Whether more pieces follow.
        more: bool,
        /// The next bytes of the body.
        #[serde(with = "payload")]
        chunk: Vec<u8>,
    },
    /// A `Cast` whose message carries `SerializedMessage`'s `metadata` (a ractor factory's job
    /// keeps its key and options there), delivered with it. From 2.6.
    CastWithMetadata {
        /// The target actor's pid on the receiving node.
        to: u64,
        /// As in `Cast`.
        #[serde(with = "payload")]
        args: Vec<u8>,
        /// The message's metadata, as the sender's message type made it.
        #[serde(with = "payload")]
        metadata: Vec<u8>,
    },
    /// A `Call` whose message carries metadata (see `CastWithMetadata`). From 2.6.
    CallWithMetadata {
        /// The target actor's pid on the receiving node.
        to: u64,
        /// As in `Call`.
        call: u64,
        /// As in `Call`.
        #[serde(with = "payload")]
        args: Vec<u8>,
        /// The message's metadata, as the sender's message type made it.
        #[serde(with = "payload")]
        metadata: Vec<u8>,
    },
    /// A cast or call sent inside a sampled trace: the sender's W3C trace context, then the
    /// message, delivered inside a span whose parent is that context (PROTOCOL.md, "Trace
    /// context"); from 2.9 also the reply to such a call, inside the span it was delivered in.
    /// From 2.8; sent only by nodes built with the `trace-context` feature, and only for a
    /// message that has a context. The message is a [`TracedMessage`], not a `SessionMessage`,
    /// so a traced frame cannot nest another one, nor a fragment.
    Traced {
        /// The sender's span: trace id, span id and flags.
        context: TraceParent,
        /// The message.
        message: TracedMessage,
    },
}

impl TracedMessage {
    /// The same message without its context, as a `SessionMessage` (never a `Traced` one).
    pub(crate) fn untraced(self) -> SessionMessage {
        match self {
            TracedMessage::Cast { to, args } => SessionMessage::Cast { to, args },
            TracedMessage::Call { to, call, args } => SessionMessage::Call { to, call, args },
            TracedMessage::CastWithMetadata { to, args, metadata } => {
                SessionMessage::CastWithMetadata { to, args, metadata }
            }
            TracedMessage::CallWithMetadata {
                to,
                call,
                args,
                metadata,
            } => SessionMessage::CallWithMetadata {
                to,
                call,
                args,
                metadata,
            },
            TracedMessage::Reply { call, outcome } => SessionMessage::Reply { call, outcome },
        }
    }
}

impl SessionMessage {
    /// The variant's name, for errors and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            SessionMessage::Cast { .. } => "Cast",
            SessionMessage::Call { .. } => "Call",
            SessionMessage::Reply { .. } => "Reply",
            SessionMessage::Control(control) => control.kind(),
            SessionMessage::Fragment { .. } => "Fragment",
            SessionMessage::CastWithMetadata { .. } => "CastWithMetadata",
            SessionMessage::CallWithMetadata { .. } => "CallWithMetadata",
            SessionMessage::Traced { .. } => "Traced",
        }
    }

    /// Decodes one frame body; trailing bytes and unknown tags are errors (rules C2, C3, S1).
    pub(crate) fn decode(body: &[u8]) -> Result<Self, CodecError> {
        match Self::decode_hot(body) {
            Some(message) => Ok(message),
            None => codec::decode_exact(body),
        }
    }

    /// Casts and calls, plain or traced, read by hand: they are nearly every frame, and the generic decoder's
    /// per-variant machinery costs more than the message. Gives the same value the codec would,
    /// or `None` to let the codec decide (anything else, or anything malformed); a property test
    /// checks the two agree on arbitrary bytes.
    fn decode_hot(body: &[u8]) -> Option<Self> {
        const TRACED_TAG: u8 = 7;
        match body.split_first()? {
            // A traced cast or call (2.8): the context's 25 raw bytes, then the carried message,
            // whose tags 0 and 1 are those of the plain cast and call. The codec read the two
            // ids byte by byte, some 2,400 instructions a frame (callgrind).
            (&TRACED_TAG, rest) => {
                let (trace_id, rest) = rest.split_first_chunk::<16>()?;
                let (span_id, rest) = rest.split_first_chunk::<8>()?;
                let (&flags, rest) = rest.split_first()?;
                let context = TraceParent {
                    trace_id: *trace_id,
                    span_id: *span_id,
                    flags,
                };
                let message = match Self::decode_cast_or_call(rest)? {
                    SessionMessage::Cast { to, args } => TracedMessage::Cast { to, args },
                    SessionMessage::Call { to, call, args } => {
                        TracedMessage::Call { to, call, args }
                    }
                    _ => return None,
                };
                Some(SessionMessage::Traced { context, message })
            }
            _ => Self::decode_cast_or_call(body),
        }
    }

    /// A plain cast or call, read by hand (see [`Self::decode_hot`]).
    fn decode_cast_or_call(body: &[u8]) -> Option<Self> {
        const CAST_TAG: u8 = 0;
        const CALL_TAG: u8 = 1;
        let (&tag, rest) = body.split_first()?;
        let (to, used) = codec::read_varint(rest).ok()?;
        let rest = rest.get(used..)?;
        match tag {
            CAST_TAG => {
                let (args, rest) = codec::read_byte_string(rest).ok()?;
                rest.is_empty().then(|| SessionMessage::Cast {
                    to,
                    args: args.to_vec(),
                })
            }
            CALL_TAG => {
                let (call, used) = codec::read_varint(rest).ok()?;
                let (args, rest) = codec::read_byte_string(rest.get(used..)?).ok()?;
                rest.is_empty().then(|| SessionMessage::Call {
                    to,
                    call,
                    args: args.to_vec(),
                })
            }
            _ => None,
        }
    }

    /// Appends this message as one frame to `out`; fails, leaving `out` as it was, if the body
    /// exceeds `limit` (the peer's inbound limit).
    pub(crate) fn encode_frame(
        &self,
        limit: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), FrameEncodeError> {
        frame::encode_frame(self, limit, out)
    }
}

/// Session bookkeeping between two nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ControlMessage {
    /// Keeps an idle connection alive and proves the peer still reads.
    Heartbeat,
    /// Actors that became reachable on the sender.
    ActorsSpawned(Vec<ActorAnnouncement>),
    /// An actor of the sender stopped.
    ActorStopped {
        /// Its pid on the sender.
        pid: u64,
        /// Why, if it failed.
        reason: Option<String>,
    },
    /// Actors of the sender joined a process group.
    GroupJoined {
        /// The group's scope.
        scope: String,
        /// The group's name.
        group: String,
        /// The pids on the sender that joined.
        pids: Vec<u64>,
    },
    /// Actors of the sender left a process group.
    GroupLeft {
        /// The group's scope.
        scope: String,
        /// The group's name.
        group: String,
        /// The pids on the sender that left.
        pids: Vec<u64>,
    },
    /// Other nodes the sender is connected to, so the receiver can connect to them too.
    PeersKnown(Vec<PeerAnnouncement>),
    /// The sender has sent everything it had when the session began.
    InitialSyncDone,
    /// The sender is closing the session, and why.
    Disconnect {
        /// Why, for the receiver's log.
        reason: String,
    },
    /// Since 1.1. The sender made proxies on demand for these actors of the receiver (a reference
    /// to them arrived in a message): the receiver answers with `ActorsSpawned` for those alive and
    /// `ActorStopped` for the others, and reports their end from then on (PROTOCOL.md, "Actor
    /// references"). At most 4,096 pids (rule L1, `limits::MAX_WANTED_PIDS`).
    ActorsWanted(Vec<u64>),
    /// Since 1.1. An actor of the sender failed; sent instead of `ActorStopped` to a peer that
    /// speaks 1.1.
    ActorFailed {
        /// Its pid on the sender.
        pid: u64,
        /// Its error, as text.
        error: String,
    },
    /// Since 1.1. Asks the receiver to spawn an actor of a kind registered there by name.
    SpawnRequest {
        /// Chosen by the sender, echoed in the `SpawnReply`.
        request: u64,
        /// The registered kind.
        kind: String,
        /// The arguments, encoded by the kind's argument type.
        #[serde(with = "payload")]
        args: Vec<u8>,
    },
    /// Since 1.1. The answer to a `SpawnRequest`.
    SpawnReply {
        /// The `request` of the `SpawnRequest` this answers.
        request: u64,
        /// The new actor, or why there is none.
        outcome: SpawnOutcome,
    },
    /// Since 1.2. The sender holds a reference to an actor on `node` but has no session with it:
    /// if the receiver has one, it answers with `PeersKnown` naming that node, so that a
    /// transitive sender can connect (PROTOCOL.md, "Actor references").
    WhereIsNode {
        /// The node id asked for.
        node: u64,
    },
    /// Since 1.2. The message types of named actors the sender just announced, for the types
    /// registered on the sender (`register_message_type`, or any non-generic
    /// `#[derive(RactorClusterMessage)]` type): a receiver that has the same type registered
    /// makes the name findable with `ractor::registry::where_is` (PROTOCOL.md, "Names").
    NamedActorTypes(Vec<NamedActorType>),
    /// Since 1.3. The sender is leaving the cluster: its sessions are about to close, and the
    /// receiver shows it as left rather than failed and does not dial it again (PROTOCOL.md,
    /// "Leaving").
    Leaving,
    /// Since 2.4. Whether the sender watches the receiver: while it does (`true`, and until a
    /// 2.4 peer says otherwise), the receiver sends a `Heartbeat` on this session whenever it has
    /// sent nothing else for a heartbeat interval; once it does not (`false`), the receiver sends
    /// none (PROTOCOL.md, "Heartbeats and silence").
    Watching(bool),
    /// Since 2.4. The sender watched node `node` (the run `incarnation`) and heard nothing from it
    /// for its `down_after`: the receiver ends its own session with that run of the node, if it
    /// has one (PROTOCOL.md, "Heartbeats and silence").
    PeerSilent {
        /// The silent node's id.
        node: u64,
        /// The silent node's incarnation.
        incarnation: u64,
    },
    /// Since 2.5. A round-trip probe: the receiver answers with `ProbeAnswer` carrying the same
    /// number, at once (PROTOCOL.md, "Round-trip probes").
    Probe(u64),
    /// Since 2.5. The answer to the `Probe` with this number.
    ProbeAnswer(u64),
    /// Since 2.10. The digest of the addresses the sender's discovery listed in its last round,
    /// sent once, before `InitialSyncDone`, by a node that runs discovery: a receiver whose own
    /// discovery lists the same addresses leaves the nodes at those addresses out of the
    /// `PeersKnown` it sends the sender (PROTOCOL.md, "Discovery views").
    DiscoveryView(ListedDigest),
}

/// What became of a `SpawnRequest` (since 1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SpawnOutcome {
    /// The actor runs on the receiver with this pid; it is announced before this reply.
    Spawned {
        /// Its pid on the answering node.
        pid: u64,
    },
    /// No kind of that name is registered on the answering node.
    UnknownKind,
    /// The arguments do not decode as the kind's argument type.
    BadArguments(String),
    /// The actor's `pre_start` failed.
    Failed(String),
}

impl ControlMessage {
    /// The variant's name, for errors and logs.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ControlMessage::Heartbeat => "Heartbeat",
            ControlMessage::ActorsSpawned(_) => "ActorsSpawned",
            ControlMessage::ActorStopped { .. } => "ActorStopped",
            ControlMessage::GroupJoined { .. } => "GroupJoined",
            ControlMessage::GroupLeft { .. } => "GroupLeft",
            ControlMessage::PeersKnown(_) => "PeersKnown",
            ControlMessage::InitialSyncDone => "InitialSyncDone",
            ControlMessage::Disconnect { .. } => "Disconnect",
            ControlMessage::ActorsWanted(_) => "ActorsWanted",
            ControlMessage::ActorFailed { .. } => "ActorFailed",
            ControlMessage::SpawnRequest { .. } => "SpawnRequest",
            ControlMessage::SpawnReply { .. } => "SpawnReply",
            ControlMessage::WhereIsNode { .. } => "WhereIsNode",
            ControlMessage::NamedActorTypes(_) => "NamedActorTypes",
            ControlMessage::Leaving => "Leaving",
            ControlMessage::Watching(_) => "Watching",
            ControlMessage::PeerSilent { .. } => "PeerSilent",
            ControlMessage::Probe(_) => "Probe",
            ControlMessage::ProbeAnswer(_) => "ProbeAnswer",
            ControlMessage::DiscoveryView(_) => "DiscoveryView",
        }
    }
}

/// An actor reachable on the sending node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActorAnnouncement {
    /// Its pid on the sender.
    pub(crate) pid: u64,
    /// Its registered name, if any.
    pub(crate) name: Option<String>,
}

/// The message type of a named actor of the sender (since 1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NamedActorType {
    /// Its pid on the sender, as announced in `ActorsSpawned`.
    pub(crate) pid: u64,
    /// The wire name of its message type. A name the receiver does not know is ignored.
    pub(crate) type_name: String,
}

/// A node the sender is connected to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerAnnouncement {
    /// The node's name.
    pub(crate) name: String,
    /// Where it accepts connections.
    pub(crate) connection_string: String,
    /// Whether it expects TLS.
    pub(crate) tls: bool,
}

#[cfg(test)]
#[path = "tests/message.rs"]
pub(super) mod tests;
