//! Property tests of the whole protocol module, run with every `cargo test`: the stable twin of the
//! fuzz targets (DESIGN.md, practice 8).
//!
//! Encoding then decoding gives back the value, for every message; and arbitrary bytes never panic
//! the frame parser, the message decoders or either handshake role. The last part runs the very
//! functions the cargo-fuzz targets call (`src/fuzzing.rs`, compiled here as `fuzz_twin`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::collection::vec;
use proptest::prelude::*;

use crate::protocol::frame::{parse_frame, HANDSHAKE_MAX_FRAME};
use crate::protocol::handshake::{
    ClientDriver, ClientHandshake, Fresh, HandshakeConfig, HandshakeProgress, ServerDriver,
    ServerHandshake,
};
use crate::protocol::identity::Cookie;
use crate::protocol::message::*;

// The fuzz entry points. Without the `fuzzing` feature the crate does not have them, so the same
// file is compiled here as a private module.
#[cfg(feature = "fuzzing")]
pub(super) use crate::fuzzing as fuzz_twin;
#[cfg(not(feature = "fuzzing"))]
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzzing.rs"]
pub(super) mod fuzz_twin;

fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    (any::<u16>(), any::<u16>()).prop_map(|(major, minor)| ProtocolVersion { major, minor })
}

fn node_name() -> impl Strategy<Value = WireNodeName> {
    (text(), text()).prop_map(|(name, connection_string)| WireNodeName {
        name,
        connection_string,
    })
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        version(),
        node_name(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(protocol, node, incarnation, nonce, key_share, sealed, hidden)| Hello {
                protocol,
                node,
                incarnation,
                nonce,
                key_share,
                frames: if sealed {
                    FrameProtection::Sealed
                } else {
                    FrameProtection::Plaintext
                },
                hidden,
            },
        )
}

fn rejection() -> impl Strategy<Value = Rejection> {
    prop_oneof![
        version().prop_map(|ours| Rejection::IncompatibleVersion { ours }),
        Just(Rejection::BadProof),
        Just(Rejection::ConnectionToSelf),
        vec(any::<char>(), 0..300).prop_map(|chars| Rejection::ProtocolViolation(
            RejectionText::truncating(&String::from_iter(chars))
        )),
    ]
}

fn handshake_message() -> impl Strategy<Value = HandshakeMessage> {
    prop_oneof![
        hello().prop_map(HandshakeMessage::ClientHello),
        hello().prop_map(HandshakeMessage::ServerHello),
        any::<[u8; 32]>().prop_map(|mac| HandshakeMessage::ClientProof(Proof { mac })),
        any::<[u8; 32]>().prop_map(|mac| HandshakeMessage::ServerProof(Proof { mac })),
        rejection().prop_map(HandshakeMessage::Rejected),
    ]
}

fn call_failure() -> impl Strategy<Value = CallFailure> {
    prop_oneof![
        Just(CallFailure::TargetGone),
        Just(CallFailure::ReplyDropped),
        Just(CallFailure::Undecodable),
    ]
}

fn control_message() -> impl Strategy<Value = ControlMessage> {
    let announcement = (any::<u64>(), proptest::option::of(text()))
        .prop_map(|(pid, name)| ActorAnnouncement { pid, name });
    let peer = (text(), text(), any::<bool>()).prop_map(|(name, connection_string, tls)| {
        PeerAnnouncement {
            name,
            connection_string,
            tls,
        }
    });
    prop_oneof![
        Just(ControlMessage::Heartbeat),
        vec(announcement, 0..4).prop_map(ControlMessage::ActorsSpawned),
        (any::<u64>(), proptest::option::of(text()))
            .prop_map(|(pid, reason)| ControlMessage::ActorStopped { pid, reason }),
        (text(), text(), vec(any::<u64>(), 0..4)).prop_map(|(scope, group, pids)| {
            ControlMessage::GroupJoined { scope, group, pids }
        }),
        (text(), text(), vec(any::<u64>(), 0..4))
            .prop_map(|(scope, group, pids)| ControlMessage::GroupLeft { scope, group, pids }),
        vec(peer, 0..4).prop_map(ControlMessage::PeersKnown),
        Just(ControlMessage::InitialSyncDone),
        text().prop_map(|reason| ControlMessage::Disconnect { reason }),
        vec(any::<u64>(), 0..4).prop_map(ControlMessage::ActorsWanted),
        (any::<u64>(), text()).prop_map(|(pid, error)| ControlMessage::ActorFailed { pid, error }),
        (any::<u64>(), text(), bytes()).prop_map(|(request, kind, args)| {
            ControlMessage::SpawnRequest {
                request,
                kind,
                args,
            }
        }),
        (any::<u64>(), spawn_outcome())
            .prop_map(|(request, outcome)| ControlMessage::SpawnReply { request, outcome }),
        vec(
            (any::<u64>(), text()).prop_map(|(pid, type_name)| NamedActorType { pid, type_name }),
            0..4
        )
        .prop_map(ControlMessage::NamedActorTypes),
        Just(ControlMessage::Leaving),
        any::<bool>().prop_map(ControlMessage::Watching),
        (any::<u64>(), any::<u64>())
            .prop_map(|(node, incarnation)| ControlMessage::PeerSilent { node, incarnation }),
        any::<u64>().prop_map(ControlMessage::Probe),
        any::<u64>().prop_map(ControlMessage::ProbeAnswer),
    ]
}

fn spawn_outcome() -> impl Strategy<Value = SpawnOutcome> {
    prop_oneof![
        any::<u64>().prop_map(|pid| SpawnOutcome::Spawned { pid }),
        Just(SpawnOutcome::UnknownKind),
        text().prop_map(SpawnOutcome::BadArguments),
        text().prop_map(SpawnOutcome::Failed),
    ]
}

fn reply_outcome() -> impl Strategy<Value = ReplyOutcome> {
    prop_oneof![
        bytes().prop_map(ReplyOutcome::Value),
        call_failure().prop_map(ReplyOutcome::Failed),
    ]
}

fn session_message() -> impl Strategy<Value = SessionMessage> {
    let outcome = reply_outcome();
    prop_oneof![
        (any::<u64>(), bytes()).prop_map(|(to, args)| SessionMessage::Cast { to, args }),
        (any::<u64>(), any::<u64>(), bytes()).prop_map(|(to, call, args)| SessionMessage::Call {
            to,
            call,
            args
        }),
        (any::<u64>(), outcome).prop_map(|(call, outcome)| SessionMessage::Reply { call, outcome }),
        control_message().prop_map(SessionMessage::Control),
        (any::<bool>(), bytes()).prop_map(|(more, chunk)| SessionMessage::Fragment { more, chunk }),
        (any::<u64>(), bytes(), bytes()).prop_map(|(to, args, metadata)| {
            SessionMessage::CastWithMetadata { to, args, metadata }
        }),
        (any::<u64>(), any::<u64>(), bytes(), bytes()).prop_map(|(to, call, args, metadata)| {
            SessionMessage::CallWithMetadata {
                to,
                call,
                args,
                metadata,
            }
        }),
        (trace_parent(), traced_message())
            .prop_map(|(context, message)| SessionMessage::Traced { context, message }),
    ]
}

fn trace_parent() -> impl Strategy<Value = TraceParent> {
    (any::<[u8; 16]>(), any::<[u8; 8]>(), any::<u8>()).prop_map(|(trace_id, span_id, flags)| {
        TraceParent {
            trace_id,
            span_id,
            flags,
        }
    })
}

fn traced_message() -> impl Strategy<Value = TracedMessage> {
    prop_oneof![
        (any::<u64>(), bytes()).prop_map(|(to, args)| TracedMessage::Cast { to, args }),
        (any::<u64>(), any::<u64>(), bytes()).prop_map(|(to, call, args)| TracedMessage::Call {
            to,
            call,
            args
        }),
        (any::<u64>(), bytes(), bytes()).prop_map(|(to, args, metadata)| {
            TracedMessage::CastWithMetadata { to, args, metadata }
        }),
        (any::<u64>(), any::<u64>(), bytes(), bytes()).prop_map(|(to, call, args, metadata)| {
            TracedMessage::CallWithMetadata {
                to,
                call,
                args,
                metadata,
            }
        }),
        (any::<u64>(), reply_outcome())
            .prop_map(|(call, outcome)| TracedMessage::Reply { call, outcome }),
    ]
}

fn config(name: &str) -> HandshakeConfig {
    HandshakeConfig {
        cookie: Cookie::new("prop cookie"),
        local: WireNodeName {
            name: name.to_owned(),
            connection_string: "127.0.0.1:1".to_owned(),
        },
        incarnation: 3,
        frames: FrameProtection::Sealed,
        hidden: false,
    }
}

/// Fixed "random" bytes for one side: its nonce and its key share's secret.
fn fresh(byte: u8) -> Fresh {
    Fresh {
        nonce: [byte; 32],
        key_secret: [byte ^ 0x5A; 32],
    }
}

/// Frames each body (any length, even empty) the way a peer would, ignoring the limit.
fn raw_frames(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut stream = Vec::new();
    for body in bodies {
        stream.extend_from_slice(&(body.len() as u32).to_le_bytes());
        stream.extend_from_slice(body);
    }
    stream
}

/// Flips, drops or inserts bytes of `original` as `edits` says, to reach the deeper decoder states
/// that random bytes rarely get past.
fn mutate(original: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for &(at, kind, value) in edits {
        if bytes.is_empty() {
            bytes.push(value);
            continue;
        }
        let at = at % bytes.len();
        match kind % 3 {
            0 => bytes[at] ^= value | 1,
            1 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, value),
        }
    }
    bytes
}

proptest! {
    #[test]
    fn handshake_messages_round_trip(message in handshake_message()) {
        let mut framed = Vec::new();
        message.encode_frame(&mut framed).unwrap();
        let (body, consumed) = parse_frame(&framed, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
        prop_assert_eq!(consumed, framed.len());
        prop_assert_eq!(HandshakeMessage::decode(body).unwrap(), message);
    }

    #[test]
    fn session_messages_round_trip(message in session_message()) {
        let mut framed = Vec::new();
        message.encode_frame(u32::MAX, &mut framed).unwrap();
        let (body, consumed) = parse_frame(&framed, u32::MAX).unwrap().unwrap();
        prop_assert_eq!(consumed, framed.len());
        prop_assert_eq!(SessionMessage::decode(body).unwrap(), message);
    }

    #[test]
    fn the_hand_written_cast_and_call_decoder_agrees_with_the_codec(
        tag in 0u8..3,
        data in vec(any::<u8>(), 0..64),
        traced in any::<bool>(),
        context in prop_oneof![vec(any::<u8>(), 25..=25), vec(any::<u8>(), 0..27)],
    ) {
        // Bytes that start like a cast or a call, so the hand-written path is exercised; or like
        // a traced one (tag 7, a context that may be cut short, the carried message's tag).
        let mut body = Vec::new();
        if traced {
            body.push(7);
            body.extend_from_slice(&context);
        }
        body.push(tag);
        body.extend_from_slice(&data);
        let ours = SessionMessage::decode(&body).ok();
        let codec = crate::protocol::codec::decode_exact::<SessionMessage>(&body).ok();
        prop_assert_eq!(ours, codec);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_parser(data in vec(any::<u8>(), 0..256)) {
        fuzz_twin::frame(&data);
    }

    #[test]
    fn the_record_opener_delivers_only_what_was_sealed(data in vec(any::<u8>(), 0..512)) {
        fuzz_twin::record(&data);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_message_decoders(data in vec(any::<u8>(), 0..256)) {
        fuzz_twin::session_message(&data);
        let _ = HandshakeMessage::decode(&data);
        let _ = HandshakeMessage::peek_hello_version(&data);
    }

    #[test]
    fn mutated_messages_never_panic_the_decoders(
        message in session_message(),
        handshake in handshake_message(),
        edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        let body = crate::protocol::codec::encode_to_vec(&message).unwrap();
        fuzz_twin::session_message(&mutate(&body, &edits));
        let body = crate::protocol::codec::encode_to_vec(&handshake).unwrap();
        let _ = HandshakeMessage::decode(&mutate(&body, &edits));
    }

    #[test]
    fn arbitrary_bytes_never_panic_either_handshake_role(data in vec(any::<u8>(), 0..256)) {
        fuzz_twin::handshake_client(&data);
        fuzz_twin::handshake_server(&data);
    }

    #[test]
    fn a_genuine_hello_then_arbitrary_frames_never_panic_either_role(
        tails in vec(vec(any::<u8>(), 0..80), 1..4),
        edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..3),
    ) {
        // Get each role past its first step with a real peer message (possibly mutated), so the
        // arbitrary frames reach the proof-checking states.
        let (_, client_hello) = ClientHandshake::start(config("prop-client"), fresh(4)).unwrap();
        let (_, server_hello) = ServerHandshake::start(config("prop-server"), fresh(5)).unwrap()
            .handle(client_hello.clone())
            .unwrap();
        let stream_after = |first: &HandshakeMessage| {
            let first = mutate(&crate::protocol::codec::encode_to_vec(first).unwrap(), &edits);
            let mut bodies = vec![first];
            bodies.extend(tails.iter().cloned());
            raw_frames(&bodies)
        };
        fuzz_twin::handshake_server(&stream_after(&client_hello));
        fuzz_twin::handshake_client(&stream_after(&server_hello));
    }

    #[test]
    fn arbitrary_frames_never_break_fragment_reassembly(data in vec(any::<u8>(), 0..512)) {
        fuzz_twin::fragments(&data);
    }

    #[test]
    fn arbitrary_pieces_never_break_fragment_reassembly(
        selector in any::<u8>(),
        pieces in vec((any::<bool>(), bytes()), 0..8),
        inner in session_message(),
    ) {
        // Fragment frames, whose pieces random bytes seldom form: arbitrary ones, then the pieces
        // of a genuine message (which may itself be a fragment, rule S5).
        let mut stream = vec![selector];
        for (more, chunk) in &pieces {
            SessionMessage::Fragment { more: *more, chunk: chunk.clone() }
                .encode_frame(u32::MAX, &mut stream)
                .unwrap();
        }
        let body = crate::protocol::codec::encode_to_vec(&inner).unwrap();
        for (index, chunk) in body.chunks(5).enumerate() {
            let more = (index + 1) * 5 < body.len();
            SessionMessage::Fragment { more, chunk: chunk.to_vec() }
                .encode_frame(u32::MAX, &mut stream)
                .unwrap();
        }
        fuzz_twin::fragments(&stream);
    }

    #[test]
    fn arbitrary_user_payloads_never_panic_their_decoders(
        data in vec(any::<u8>(), 0..256),
        tags in vec(0u8..6, 0..200),
    ) {
        fuzz_twin::payload(&data);
        // A variant name, then a tree of enum tags (nested as deep as the tags go, often past the
        // depth limit), then the input's bytes as the other fields.
        let mut nested = vec![1, b'A'];
        nested.extend_from_slice(&tags);
        nested.extend_from_slice(&data);
        fuzz_twin::payload(&nested);
    }

    #[test]
    fn handshakes_succeed_for_any_names_and_nonces(
        client_name in text(),
        server_name in text(),
        nonces in any::<([u8; 32], [u8; 32])>(),
        secrets in any::<([u8; 32], [u8; 32])>(),
        incarnations in any::<(u64, u64)>(),
    ) {
        prop_assume!(client_name != server_name);
        let mut client_config = config(&client_name);
        client_config.incarnation = incarnations.0;
        let mut server_config = config(&server_name);
        server_config.incarnation = incarnations.1;

        let mut to_server = Vec::new();
        let client_fresh = Fresh { nonce: nonces.0, key_secret: secrets.0 };
        let server_fresh = Fresh { nonce: nonces.1, key_secret: secrets.1 };
        let mut client = ClientDriver::start(client_config, client_fresh, &mut to_server).unwrap();
        let mut server = ServerDriver::start(server_config, server_fresh).unwrap();
        let mut to_client = Vec::new();
        let (body, _) = parse_frame(&to_server, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
        prop_assert_eq!(server.receive(body, &mut to_client), Ok(HandshakeProgress::Continue));
        let mut to_server = Vec::new();
        let (body, _) = parse_frame(&to_client, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
        prop_assert_eq!(client.receive(body, &mut to_server), Ok(HandshakeProgress::Continue));
        let mut to_client = Vec::new();
        let (body, _) = parse_frame(&to_server, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
        let Ok(HandshakeProgress::Done(at_server)) = server.receive(body, &mut to_client) else {
            return Err(TestCaseError::fail("server did not authenticate the client"));
        };
        let (body, _) = parse_frame(&to_client, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
        let Ok(HandshakeProgress::Done(at_client)) = client.receive(body, &mut Vec::new()) else {
            return Err(TestCaseError::fail("client did not authenticate the server"));
        };
        prop_assert_eq!(at_server.peer.name, client_name);
        prop_assert_eq!(at_server.peer_incarnation, incarnations.0);
        prop_assert_eq!(at_client.peer.name, server_name);
        prop_assert_eq!(at_client.peer_incarnation, incarnations.1);
        // Both sides derived the same two keys, each sealing with the one the other opens with.
        let (Some(client_keys), Some(server_keys)) = (at_client.keys, at_server.keys) else {
            return Err(TestCaseError::fail("a default session is sealed"));
        };
        prop_assert_eq!(&client_keys.send, &server_keys.receive);
        prop_assert_eq!(&client_keys.receive, &server_keys.send);
        prop_assert_ne!(&client_keys.send, &client_keys.receive);
    }
}

proptest! {
    // Each case runs two key exchanges and a key schedule, slow in a debug build: fewer cases (the
    // fuzz target `handshake_proved` runs this for longer).
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_hello_with_a_valid_proof_authenticates_or_fails_on_its_key_share(
        role in any::<u8>(),
        mut hello in hello(),
        weak in any::<bool>(),
    ) {
        // A hello either role accepts (same major, another name), so the valid proof that
        // follows reaches the key schedule; some with an all-zero key share, a low-order point.
        hello.protocol.major = PROTOCOL_VERSION.major;
        hello.node.name.push_str("-peer");
        if weak {
            hello.key_share = [0; 32];
        }
        let message = if role % 2 == 0 {
            HandshakeMessage::ClientHello(hello)
        } else {
            HandshakeMessage::ServerHello(hello)
        };
        let mut input = vec![role];
        input.extend(crate::protocol::codec::encode_to_vec(&message).unwrap());
        fuzz_twin::handshake_proved(&input);
    }
}
