//! Unit tests of `message.rs`, golden bytes first.
//!
//! The golden bytes were written by hand from PROTOCOL.md's description of the codec, then checked
//! against the encoder. Any change to them is a wire format change: it needs a new major version
//! (rule V2), or it is a bug.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::protocol::frame::{parse_frame, FRAME_HEADER_LEN};
use crate::protocol::hot_frames::*;

use crate::protocol::test_hex::decode as hex;

fn repeat(byte: &str, times: usize) -> String {
    byte.repeat(times)
}

/// Frames `message`, checks the header, and returns the body.
fn body_of<T: Serialize>(message: &T) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_frame(message, u32::MAX, &mut out).unwrap();
    let (body, consumed) = parse_frame(&out, u32::MAX).unwrap().unwrap();
    assert_eq!(consumed, out.len());
    assert_eq!(out[..FRAME_HEADER_LEN], (body.len() as u32).to_le_bytes());
    body.to_vec()
}

fn alpha_hello() -> Hello {
    Hello {
        protocol: ProtocolVersion { major: 2, minor: 3 },
        node: WireNodeName {
            name: "alpha".to_owned(),
            connection_string: "a:1".to_owned(),
        },
        incarnation: 7,
        nonce: [0x11; 32],
        key_share: [0x33; 32],
        frames: FrameProtection::Sealed,
        hidden: false,
    }
}

fn beta_hello() -> Hello {
    Hello {
        protocol: ProtocolVersion { major: 2, minor: 3 },
        node: WireNodeName {
            name: "beta".to_owned(),
            connection_string: "b:2".to_owned(),
        },
        incarnation: 300,
        nonce: [0x22; 32],
        key_share: [0x44; 32],
        frames: FrameProtection::Plaintext,
        hidden: false,
    }
}

/// One sample per variant of `HandshakeMessage` (and of `Rejection`), with its golden body.
pub(crate) fn handshake_golden() -> Vec<(HandshakeMessage, String)> {
    vec![
        (
            HandshakeMessage::ClientHello(alpha_hello()),
            // tag 0 | version 2.3 | "alpha" | "a:1" | incarnation 7 | nonce | key share | Sealed
            format!(
                "00 02 03 05 616c706861 03 613a31 07 {} {} 00",
                repeat("11", 32),
                repeat("33", 32)
            ),
        ),
        (
            HandshakeMessage::ServerHello(beta_hello()),
            // tag 1 | version 2.3 | "beta" | "b:2" | incarnation 300 (varint: 251, u16 LE) | nonce
            // | key share | Plaintext
            format!(
                "01 02 03 04 62657461 03 623a32 fb2c01 {} {} 01",
                repeat("22", 32),
                repeat("44", 32)
            ),
        ),
        (
            HandshakeMessage::ClientProof(Proof { mac: [0xAA; 32] }),
            format!("02 {}", repeat("aa", 32)),
        ),
        (
            HandshakeMessage::ServerProof(Proof { mac: [0xBB; 32] }),
            format!("03 {}", repeat("bb", 32)),
        ),
        (
            HandshakeMessage::Rejected(Rejection::IncompatibleVersion {
                ours: ProtocolVersion { major: 2, minor: 1 },
            }),
            "04 00 02 01".to_owned(),
        ),
        (
            HandshakeMessage::Rejected(Rejection::BadProof),
            "04 01".to_owned(),
        ),
        (
            HandshakeMessage::Rejected(Rejection::ConnectionToSelf),
            "04 02".to_owned(),
        ),
        (
            HandshakeMessage::Rejected(Rejection::ProtocolViolation(RejectionText::truncating(
                "no",
            ))),
            "04 03 02 6e6f".to_owned(),
        ),
        (
            HandshakeMessage::ClientHello(Hello {
                hidden: true,
                ..alpha_hello()
            }),
            // tag 5 (HiddenClientHello, 2.7) | the same hello as tag 0's
            format!(
                "05 02 03 05 616c706861 03 613a31 07 {} {} 00",
                repeat("11", 32),
                repeat("33", 32)
            ),
        ),
        (
            HandshakeMessage::ServerHello(Hello {
                hidden: true,
                ..beta_hello()
            }),
            // tag 6 (HiddenServerHello, 2.7) | the same hello as tag 1's
            format!(
                "06 02 03 04 62657461 03 623a32 fb2c01 {} {} 01",
                repeat("22", 32),
                repeat("44", 32)
            ),
        ),
    ]
}

/// One sample per variant of `SessionMessage`, `ReplyOutcome`, `CallFailure` and
/// `ControlMessage`, with its golden body.
pub(crate) fn session_golden() -> Vec<(SessionMessage, &'static str)> {
    use ControlMessage as C;
    vec![
        (
            SessionMessage::Cast {
                to: 5,
                args: vec![1, 2, 3],
            },
            // tag 0 | to 5 | args: length 3, raw bytes
            "00 05 03 010203",
        ),
        (
            SessionMessage::Call {
                to: 300,
                call: 9,
                args: vec![],
            },
            "01 fb2c01 09 00",
        ),
        (
            SessionMessage::Reply {
                call: 9,
                outcome: ReplyOutcome::Value(vec![0xFF]),
            },
            "02 09 00 01ff",
        ),
        (
            SessionMessage::Reply {
                call: 9,
                outcome: ReplyOutcome::Failed(CallFailure::TargetGone),
            },
            "02 09 01 00",
        ),
        (
            SessionMessage::Reply {
                call: 9,
                outcome: ReplyOutcome::Failed(CallFailure::ReplyDropped),
            },
            "02 09 01 01",
        ),
        (
            SessionMessage::Reply {
                call: 9,
                outcome: ReplyOutcome::Failed(CallFailure::Undecodable),
            },
            "02 09 01 02",
        ),
        (SessionMessage::Control(C::Heartbeat), "03 00"),
        (
            SessionMessage::Control(C::ActorsSpawned(vec![
                ActorAnnouncement {
                    pid: 1,
                    name: Some("x".to_owned()),
                },
                ActorAnnouncement { pid: 2, name: None },
            ])),
            // 2 entries | pid 1, Some, "x" | pid 2, None
            "03 01 02 01 01 01 78 02 00",
        ),
        (
            SessionMessage::Control(C::ActorStopped {
                pid: 4,
                reason: Some("boom".to_owned()),
            }),
            "03 02 04 01 04 626f6f6d",
        ),
        (
            SessionMessage::Control(C::GroupJoined {
                scope: "s".to_owned(),
                group: "g".to_owned(),
                pids: vec![1, 2],
            }),
            "03 03 01 73 01 67 02 01 02",
        ),
        (
            SessionMessage::Control(C::GroupLeft {
                scope: "s".to_owned(),
                group: "g".to_owned(),
                pids: vec![3],
            }),
            "03 04 01 73 01 67 01 03",
        ),
        (
            SessionMessage::Control(C::PeersKnown(vec![PeerAnnouncement {
                name: "n".to_owned(),
                connection_string: "c:1".to_owned(),
                tls: true,
            }])),
            "03 05 01 01 6e 03 633a31 01",
        ),
        (SessionMessage::Control(C::InitialSyncDone), "03 06"),
        (
            SessionMessage::Control(C::Disconnect {
                reason: "bye".to_owned(),
            }),
            "03 07 03 627965",
        ),
        (
            SessionMessage::Control(C::ActorsWanted(vec![5, 300])),
            "03 08 02 05 fb2c01",
        ),
        (
            SessionMessage::Control(C::ActorFailed {
                pid: 4,
                error: "boom".to_owned(),
            }),
            "03 09 04 04 626f6f6d",
        ),
        (
            SessionMessage::Control(C::SpawnRequest {
                request: 1,
                kind: "w".to_owned(),
                args: vec![0xAB],
            }),
            // tag 10 | request 1 | "w" | args: length 1, raw bytes
            "03 0a 01 01 77 01 ab",
        ),
        (
            SessionMessage::Control(C::SpawnReply {
                request: 1,
                outcome: SpawnOutcome::Spawned { pid: 9 },
            }),
            "03 0b 01 00 09",
        ),
        (
            SessionMessage::Control(C::SpawnReply {
                request: 2,
                outcome: SpawnOutcome::UnknownKind,
            }),
            "03 0b 02 01",
        ),
        (
            SessionMessage::Control(C::SpawnReply {
                request: 3,
                outcome: SpawnOutcome::BadArguments("x".to_owned()),
            }),
            "03 0b 03 02 01 78",
        ),
        (
            SessionMessage::Control(C::SpawnReply {
                request: 4,
                outcome: SpawnOutcome::Failed("y".to_owned()),
            }),
            "03 0b 04 03 01 79",
        ),
        (
            SessionMessage::Control(C::WhereIsNode { node: 300 }),
            // tag 12 | node 300 as a varint
            "03 0c fb2c01",
        ),
        (
            SessionMessage::Control(C::NamedActorTypes(vec![NamedActorType {
                pid: 7,
                type_name: "a::M".to_owned(),
            }])),
            // tag 13 | one entry | pid 7 | type_name "a::M"
            "03 0d 01 07 04 613a3a4d",
        ),
        (
            SessionMessage::Control(C::Leaving),
            // tag 14
            "03 0e",
        ),
        (
            SessionMessage::Control(C::Watching(false)),
            // tag 15 | false
            "03 0f 00",
        ),
        (
            SessionMessage::Control(C::PeerSilent {
                node: 300,
                incarnation: 7,
            }),
            // tag 16 | node 300 as a varint | incarnation 7
            "03 10 fb2c01 07",
        ),
        (
            SessionMessage::Control(C::Probe(300)),
            // tag 17 | number 300 as a varint
            "03 11 fb2c01",
        ),
        (
            SessionMessage::Control(C::ProbeAnswer(7)),
            // tag 18 | number 7
            "03 12 07",
        ),
        (
            SessionMessage::Control(C::DiscoveryView([0xAB; 16])),
            // tag 19 | 16 bytes, no length
            "03 13 abababababababababababababababab",
        ),
        (
            SessionMessage::Fragment {
                more: true,
                chunk: vec![0xAB, 0xCD],
            },
            // tag 4 | more: true | chunk: length 2, raw bytes
            "04 01 02 abcd",
        ),
        (
            SessionMessage::CastWithMetadata {
                to: 5,
                args: vec![1, 2, 3],
                metadata: vec![0xEE, 0xFF],
            },
            // tag 5 | to 5 | args: length 3, raw bytes | metadata: length 2, raw bytes
            "05 05 03 010203 02 eeff",
        ),
        (
            SessionMessage::CallWithMetadata {
                to: 300,
                call: 9,
                args: vec![],
                metadata: vec![0x01],
            },
            // tag 6 | to 300 | call 9 | args: empty | metadata: length 1
            "06 fb2c01 09 00 01 01",
        ),
        (
            SessionMessage::Traced {
                context: sample_trace(),
                message: TracedMessage::Cast {
                    to: 5,
                    args: vec![1, 2, 3],
                },
            },
            // tag 7 | trace id (16 raw bytes) | span id (8) | flags | TracedMessage tag 0 (Cast)
            // | to 5 | args: length 3, raw bytes: 26 bytes more than the plain `Cast`
            "07 0102030405060708090a0b0c0d0e0f10 a1a2a3a4a5a6a7a8 01 00 05 03 010203",
        ),
        (
            SessionMessage::Traced {
                context: sample_trace(),
                message: TracedMessage::CallWithMetadata {
                    to: 300,
                    call: 9,
                    args: vec![],
                    metadata: vec![0x01],
                },
            },
            // tag 7 | context | TracedMessage tag 3 (CallWithMetadata) | as `CallWithMetadata`
            "07 0102030405060708090a0b0c0d0e0f10 a1a2a3a4a5a6a7a8 01 03 fb2c01 09 00 01 01",
        ),
        (
            SessionMessage::Traced {
                context: sample_trace(),
                message: TracedMessage::Reply {
                    call: 9,
                    outcome: ReplyOutcome::Value(vec![0xAB]),
                },
            },
            // tag 7 | context | TracedMessage tag 4 (Reply, 2.9) | call 9 | Value: tag 0, length
            // 1, raw byte: 26 bytes more than the plain `Reply`
            "07 0102030405060708090a0b0c0d0e0f10 a1a2a3a4a5a6a7a8 01 04 09 00 01 ab",
        ),
    ]
}

fn sample_trace() -> TraceParent {
    TraceParent {
        trace_id: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        span_id: [0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8],
        flags: 1,
    }
}

#[test]
fn a_traced_frame_carries_only_casts_calls_and_replies() {
    // The carried message's tag is `TracedMessage`'s: 0 to 3 are casts and calls, 4 a reply
    // (2.9), and nothing else decodes there (a fragment's body under tag 4 is a reply with no
    // valid outcome, a control message's 3 of `SessionMessage` reads as a `CallWithMetadata` cut
    // short, `Fragment`'s 4 and `Traced`'s 7 of `SessionMessage` are no carried message), so
    // nothing nests.
    let context = "0102030405060708090a0b0c0d0e0f10 a1a2a3a4a5a6a7a8 01";
    for inner in [
        "04 01 02 abcd",
        "03 00",
        "05 01 02 abcd",
        "07",
        "07 0102030405060708090a0b0c0d0e0f10",
    ] {
        let body = hex(&format!("07 {context} {inner}"));
        let decoded = SessionMessage::decode(&body);
        assert!(decoded.is_err(), "{inner}: {decoded:?}");
    }
    // A context cut short is an error too.
    assert!(SessionMessage::decode(&hex("07 0102")).is_err());
    // Each carried message comes out as the untraced one.
    let traced = TracedMessage::Call {
        to: 1,
        call: 2,
        args: vec![3],
    };
    assert_eq!(
        traced.untraced(),
        SessionMessage::Call {
            to: 1,
            call: 2,
            args: vec![3]
        }
    );
    let reply = TracedMessage::Reply {
        call: 2,
        outcome: ReplyOutcome::Failed(CallFailure::TargetGone),
    };
    assert_eq!(
        reply.untraced(),
        SessionMessage::Reply {
            call: 2,
            outcome: ReplyOutcome::Failed(CallFailure::TargetGone)
        }
    );
}

#[cfg(feature = "trace-context")]
#[test]
fn hand_written_traced_reply_frames_equal_owned_frames() {
    let context = sample_trace();
    let outcomes: [Result<&[u8], CallFailure>; 3] =
        [Ok(&[]), Ok(&[7; 300]), Err(CallFailure::ReplyDropped)];
    for outcome in outcomes {
        let mut borrowed = Vec::new();
        encode_traced_reply_frame(9, outcome, context, u32::MAX, &mut borrowed).unwrap();
        let owned_outcome = match outcome {
            Ok(value) => ReplyOutcome::Value(value.to_vec()),
            Err(failure) => ReplyOutcome::Failed(failure),
        };
        let mut owned = Vec::new();
        SessionMessage::Traced {
            context,
            message: TracedMessage::Reply {
                call: 9,
                outcome: owned_outcome,
            },
        }
        .encode_frame(u32::MAX, &mut owned)
        .unwrap();
        assert_eq!(borrowed, owned, "{outcome:?}");

        // Exactly `TRACED_OVERHEAD` bytes more than the untraced reply.
        let mut untraced = Vec::new();
        encode_reply_frame(9, outcome, u32::MAX, &mut untraced).unwrap();
        assert_eq!(borrowed.len(), untraced.len() + TRACED_OVERHEAD);
    }
    let mut out = vec![1];
    assert!(encode_traced_reply_frame(9, Ok(&[0; 64]), context, 16, &mut out).is_err());
    assert_eq!(out, vec![1], "a refused frame leaves nothing behind");
}

#[cfg(feature = "trace-context")]
#[test]
fn hand_written_traced_frames_equal_owned_frames() {
    let context = sample_trace();
    for metadata in [None, Some(&[0xC7, 1][..])] {
        let payload = Payload {
            variant: "Ping",
            fields: &[9, 8],
            metadata,
            trace: Some(context),
        };
        let args = wire_args("Ping", &[9, 8]);
        let mut borrowed = Vec::new();
        encode_cast_frame(300, payload, u32::MAX, &mut borrowed).unwrap();
        let message = match metadata {
            None => TracedMessage::Cast {
                to: 300,
                args: args.clone(),
            },
            Some(metadata) => TracedMessage::CastWithMetadata {
                to: 300,
                args: args.clone(),
                metadata: metadata.to_vec(),
            },
        };
        let mut owned = Vec::new();
        SessionMessage::Traced { context, message }
            .encode_frame(u32::MAX, &mut owned)
            .unwrap();
        assert_eq!(borrowed, owned);

        let mut borrowed = Vec::new();
        encode_call_frame(300, 7, payload, u32::MAX, &mut borrowed).unwrap();
        let message = match metadata {
            None => TracedMessage::Call {
                to: 300,
                call: 7,
                args: args.clone(),
            },
            Some(metadata) => TracedMessage::CallWithMetadata {
                to: 300,
                call: 7,
                args,
                metadata: metadata.to_vec(),
            },
        };
        let mut owned = Vec::new();
        SessionMessage::Traced { context, message }
            .encode_frame(u32::MAX, &mut owned)
            .unwrap();
        assert_eq!(borrowed, owned);

        // Exactly `TRACED_OVERHEAD` bytes more than the untraced frame.
        let mut untraced = Vec::new();
        let plain = Payload {
            trace: None,
            ..payload
        };
        encode_call_frame(300, 7, plain, u32::MAX, &mut untraced).unwrap();
        assert_eq!(borrowed.len(), untraced.len() + TRACED_OVERHEAD);
    }
}

#[test]
fn hand_written_fragment_frames_equal_owned_frames() {
    for (more, chunk) in [(true, vec![]), (false, vec![7u8; 300])] {
        let mut borrowed = vec![0xCC];
        encode_fragment_frame(more, &chunk, u32::MAX, &mut borrowed).unwrap();
        let mut owned = vec![0xCC];
        SessionMessage::Fragment { more, chunk }
            .encode_frame(u32::MAX, &mut owned)
            .unwrap();
        assert_eq!(borrowed, owned);
    }
    let mut out = vec![1];
    assert!(encode_fragment_frame(true, &[0; 64], 16, &mut out).is_err());
    assert_eq!(out, vec![1], "a refused frame leaves nothing behind");
}

#[test]
fn handshake_messages_match_their_golden_bytes() {
    for (message, golden) in handshake_golden() {
        let body = body_of(&message);
        assert_eq!(body, hex(&golden), "{message:?}");
        assert_eq!(HandshakeMessage::decode(&body).unwrap(), message);
    }
}

#[test]
fn session_messages_match_their_golden_bytes() {
    for (message, golden) in session_golden() {
        let body = body_of(&message);
        assert_eq!(body, hex(golden), "{message:?}");
        assert_eq!(SessionMessage::decode(&body).unwrap(), message);
    }
}

#[test]
fn golden_samples_cover_every_variant() {
    // If a variant is added, the match below stops compiling until a golden sample is added too.
    let mut seen = std::collections::BTreeSet::new();
    for (message, _) in handshake_golden() {
        let name = match &message {
            HandshakeMessage::ClientHello(_)
            | HandshakeMessage::ServerHello(_)
            | HandshakeMessage::ClientProof(_)
            | HandshakeMessage::ServerProof(_) => message.kind(),
            HandshakeMessage::Rejected(rejection) => match rejection {
                Rejection::IncompatibleVersion { .. } => "Rejected/IncompatibleVersion",
                Rejection::BadProof => "Rejected/BadProof",
                Rejection::ConnectionToSelf => "Rejected/ConnectionToSelf",
                Rejection::ProtocolViolation(_) => "Rejected/ProtocolViolation",
            },
        };
        seen.insert(name);
    }
    // `kind` names the hidden hellos apart (tags 5 and 6).
    assert_eq!(seen.len(), 10);

    let mut seen = std::collections::BTreeSet::new();
    for (message, _) in session_golden() {
        let name = match &message {
            SessionMessage::Cast { .. } | SessionMessage::Call { .. } => message.kind(),
            SessionMessage::Reply { outcome, .. } => match outcome {
                ReplyOutcome::Value(_) => "Reply/Value",
                ReplyOutcome::Failed(CallFailure::TargetGone) => "Reply/TargetGone",
                ReplyOutcome::Failed(CallFailure::ReplyDropped) => "Reply/ReplyDropped",
                ReplyOutcome::Failed(CallFailure::Undecodable) => "Reply/Undecodable",
            },
            SessionMessage::Control(control) => match control {
                ControlMessage::Heartbeat
                | ControlMessage::ActorsSpawned(_)
                | ControlMessage::ActorStopped { .. }
                | ControlMessage::GroupJoined { .. }
                | ControlMessage::GroupLeft { .. }
                | ControlMessage::PeersKnown(_)
                | ControlMessage::InitialSyncDone
                | ControlMessage::Disconnect { .. }
                | ControlMessage::ActorsWanted(_)
                | ControlMessage::ActorFailed { .. }
                | ControlMessage::SpawnRequest { .. }
                | ControlMessage::WhereIsNode { .. }
                | ControlMessage::NamedActorTypes(_)
                | ControlMessage::Leaving
                | ControlMessage::Watching(_)
                | ControlMessage::PeerSilent { .. }
                | ControlMessage::Probe(_)
                | ControlMessage::ProbeAnswer(_)
                | ControlMessage::DiscoveryView(_) => control.kind(),
                ControlMessage::SpawnReply { outcome, .. } => match outcome {
                    SpawnOutcome::Spawned { .. } => "SpawnReply/Spawned",
                    SpawnOutcome::UnknownKind => "SpawnReply/UnknownKind",
                    SpawnOutcome::BadArguments(_) => "SpawnReply/BadArguments",
                    SpawnOutcome::Failed(_) => "SpawnReply/Failed",
                },
            },
            SessionMessage::Fragment { .. }
            | SessionMessage::CastWithMetadata { .. }
            | SessionMessage::CallWithMetadata { .. } => message.kind(),
            SessionMessage::Traced { message, .. } => match message {
                TracedMessage::Cast { .. } => "Traced/Cast",
                TracedMessage::CallWithMetadata { .. } => "Traced/CallWithMetadata",
                TracedMessage::Reply { .. } => "Traced/Reply",
                // The other two are `Cast` and `CallWithMetadata`'s twins: their tags are
                // pinned by `hand_written_traced_frames_equal_owned_frames`.
                TracedMessage::Call { .. } | TracedMessage::CastWithMetadata { .. } => {
                    "Traced/other"
                }
            },
        };
        seen.insert(name);
    }
    assert_eq!(seen.len(), 35);
}

/// The wire's `args` of a message whose variant is `variant`: the name as a codec string, then the
/// fields (PROTOCOL.md, "User message payloads").
fn wire_args(variant: &str, fields: &[u8]) -> Vec<u8> {
    let mut args = codec::encode_to_vec(variant).unwrap();
    args.extend_from_slice(fields);
    args
}

#[test]
fn hot_path_frames_equal_owned_frames() {
    let payloads: [&[u8]; 3] = [&[], &[0, 1, 2, 255], &[0x5A; 300]];
    let long_name = "V".repeat(300);
    for args in payloads {
        for variant in ["", "Ping", long_name.as_str()] {
            let payload = Payload {
                variant,
                fields: args,
                metadata: None,
                #[cfg(feature = "trace-context")]
                trace: None,
            };
            for to in [0, 1, 250, 251, u64::MAX] {
                let mut borrowed = vec![0xCC];
                encode_cast_frame(to, payload, u32::MAX, &mut borrowed).unwrap();
                let mut owned = vec![0xCC];
                let cast = SessionMessage::Cast {
                    to,
                    args: wire_args(variant, args),
                };
                cast.encode_frame(u32::MAX, &mut owned).unwrap();
                assert_eq!(borrowed, owned);

                let mut borrowed = Vec::new();
                encode_call_frame(to, to ^ 7, payload, u32::MAX, &mut borrowed).unwrap();
                let mut owned = Vec::new();
                let call = SessionMessage::Call {
                    to,
                    call: to ^ 7,
                    args: wire_args(variant, args),
                };
                call.encode_frame(u32::MAX, &mut owned).unwrap();
                assert_eq!(borrowed, owned);

                // With metadata: the 2.4 twins, byte for byte.
                let metadata: &[u8] = &[16, 0, 0xC7, 1];
                let with_metadata = Payload {
                    metadata: Some(metadata),
                    ..payload
                };
                let mut borrowed = Vec::new();
                encode_cast_frame(to, with_metadata, u32::MAX, &mut borrowed).unwrap();
                let mut owned = Vec::new();
                let cast = SessionMessage::CastWithMetadata {
                    to,
                    args: wire_args(variant, args),
                    metadata: metadata.to_vec(),
                };
                cast.encode_frame(u32::MAX, &mut owned).unwrap();
                assert_eq!(borrowed, owned);
                let mut borrowed = Vec::new();
                encode_call_frame(to, to ^ 7, with_metadata, u32::MAX, &mut borrowed).unwrap();
                let mut owned = Vec::new();
                let call = SessionMessage::CallWithMetadata {
                    to,
                    call: to ^ 7,
                    args: wire_args(variant, args),
                    metadata: metadata.to_vec(),
                };
                call.encode_frame(u32::MAX, &mut owned).unwrap();
                assert_eq!(borrowed, owned);
            }
        }
        for to in [0, 1, 250, 251, u64::MAX] {
            let mut borrowed = Vec::new();
            encode_reply_frame(to, Ok(args), u32::MAX, &mut borrowed).unwrap();
            let mut owned = Vec::new();
            let reply = SessionMessage::Reply {
                call: to,
                outcome: ReplyOutcome::Value(args.to_vec()),
            };
            reply.encode_frame(u32::MAX, &mut owned).unwrap();
            assert_eq!(borrowed, owned);
        }
    }
    for failure in [
        CallFailure::TargetGone,
        CallFailure::ReplyDropped,
        CallFailure::Undecodable,
    ] {
        let mut borrowed = Vec::new();
        encode_reply_frame(3, Err(failure), u32::MAX, &mut borrowed).unwrap();
        let mut owned = Vec::new();
        let reply = SessionMessage::Reply {
            call: 3,
            outcome: ReplyOutcome::Failed(failure),
        };
        reply.encode_frame(u32::MAX, &mut owned).unwrap();
        assert_eq!(borrowed, owned);
    }
}

#[test]
fn hot_path_respects_the_limit_and_leaves_no_partial_frame() {
    let mut out = vec![9];
    let payload = Payload {
        variant: "Big",
        fields: &[0; 100],
        metadata: None,
        #[cfg(feature = "trace-context")]
        trace: None,
    };
    let err = encode_cast_frame(1, payload, 64, &mut out).unwrap_err();
    assert!(
        matches!(err, FrameEncodeError::Oversized { limit: 64, .. }),
        "{err}"
    );
    assert_eq!(out, [9]);
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut body = hex("03 00");
    body.push(0);
    let err = SessionMessage::decode(&body).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
    let mut body = hex("04 01");
    body.push(0);
    assert!(HandshakeMessage::decode(&body).is_err());
}

#[test]
fn unknown_tags_are_errors_of_the_sender() {
    // One past the last variant of each enum (rule S1 / C3).
    assert!(SessionMessage::decode(&hex("04")).is_err());
    assert!(SessionMessage::decode(&hex("03 08")).is_err());
    assert!(SessionMessage::decode(&hex("02 09 01 03")).is_err());
    assert!(SessionMessage::decode(&hex("02 09 02")).is_err());
    assert!(HandshakeMessage::decode(&hex("05")).is_err());
    assert!(HandshakeMessage::decode(&hex("04 04")).is_err());
    // Not a bool.
    assert!(SessionMessage::decode(&hex("03 05 01 01 6e 03 633a31 02")).is_err());
}

#[test]
fn a_payload_claiming_more_than_the_body_fails() {
    // Cast to 5 with args claiming 100 MiB (varint 252 + u32) but carrying 3 bytes.
    let mut body = hex("00 05 fc");
    body.extend_from_slice(&(100u32 << 20).to_le_bytes());
    body.extend_from_slice(&[1, 2, 3]);
    assert!(SessionMessage::decode(&body).is_err());
}

#[test]
fn rejection_text_is_bounded_both_ways() {
    let long = "é".repeat(MAX_REJECTION_TEXT);
    let cut = RejectionText::truncating(&long);
    assert!(cut.as_str().len() <= MAX_REJECTION_TEXT);
    assert!(long.starts_with(cut.as_str()));

    let too_long = HandshakeMessage::Rejected(Rejection::ProtocolViolation(RejectionText(
        "x".repeat(MAX_REJECTION_TEXT + 1),
    )));
    let body = body_of(&too_long);
    let err = HandshakeMessage::decode(&body).unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");
}

#[test]
fn the_hello_prefix_is_readable_on_its_own() {
    let body = body_of(&HandshakeMessage::ClientHello(alpha_hello()));
    assert_eq!(
        HandshakeMessage::peek_hello_version(&body),
        Some(ProtocolVersion { major: 2, minor: 3 })
    );
    // Only the tag and version are needed.
    assert_eq!(
        HandshakeMessage::peek_hello_version(&hex("01 07 03")),
        Some(ProtocolVersion { major: 7, minor: 3 })
    );
    assert_eq!(HandshakeMessage::peek_hello_version(&hex("02 07 03")), None);
    assert_eq!(HandshakeMessage::peek_hello_version(&hex("00 07")), None);
}

#[test]
fn versions_are_compatible_by_major_and_agree_on_the_lower_minor() {
    let v1_0 = ProtocolVersion { major: 1, minor: 0 };
    let v1_4 = ProtocolVersion { major: 1, minor: 4 };
    let v2_0 = ProtocolVersion { major: 2, minor: 0 };
    assert!(v1_0.is_compatible_with(v1_4));
    assert!(!v1_4.is_compatible_with(v2_0));
    assert_eq!(v1_4.common_with(v1_0), v1_0);
    assert_eq!(v1_0.common_with(v1_4), v1_0);
    assert_eq!(v1_4.to_string(), "1.4");
}

#[test]
fn longer_varint_forms_decode_to_the_same_value() {
    // PROTOCOL.md rule C1: encoders write the shortest form, decoders accept longer ones.
    let shortest = SessionMessage::decode(&hex("00 05 03 010203")).unwrap();
    let longer = SessionMessage::decode(&hex("00 fb0500 03 010203")).unwrap();
    assert_eq!(shortest, longer);
    assert_eq!(body_of(&longer), hex("00 05 03 010203"));
}

#[test]
fn payloads_split_into_the_variant_and_fields_that_were_framed() {
    for (variant, fields) in [
        ("", &[][..]),
        ("Ping", &[1, 2, 3][..]),
        ("ü", &[0; 300][..]),
    ] {
        let mut frame = Vec::new();
        encode_cast_frame(
            5,
            Payload {
                variant,
                fields,
                metadata: None,
                #[cfg(feature = "trace-context")]
                trace: None,
            },
            u32::MAX,
            &mut frame,
        )
        .unwrap();
        let body = parse_frame(&frame, u32::MAX).unwrap().unwrap().0;
        let Ok(SessionMessage::Cast { args, .. }) = SessionMessage::decode(body) else {
            panic!("a cast frame decodes as a cast")
        };
        assert_eq!(
            split_payload(args).unwrap(),
            (variant.to_owned(), fields.to_vec())
        );
    }
}

#[test]
fn payloads_without_a_well_formed_name_are_errors() {
    // Empty; a name longer than the payload; a name that is not UTF-8.
    for args in [vec![], vec![5, b'P', b'i'], vec![2, 0xC3, 0x28, 7]] {
        assert!(split_payload(args).is_err());
    }
}

proptest::proptest! {
    /// `split_payload` reads the variant's name by hand: it accepts exactly what decoding a
    /// `String` with the codec accepts, and splits at the same place.
    #[test]
    fn split_payload_reads_what_the_codec_reads(
        args in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        name in "\\PC{0,12}",
        fields in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
    ) {
        let mut framed = Vec::new();
        crate::protocol::codec::write_byte_string(name.as_bytes(), &mut framed);
        framed.extend_from_slice(&fields);
        for input in [args, framed] {
            let by_codec = crate::protocol::codec::decode_prefix::<String>(&input)
                .map(|(name, used)| (name, input[used..].to_vec()));
            match (split_payload(input.clone()), by_codec) {
                (Ok(ours), Ok(codec)) => proptest::prop_assert_eq!(ours, codec),
                (Err(_), Err(_)) => {}
                (ours, codec) => proptest::prop_assert!(
                    false,
                    "{input:?}: split_payload {ours:?}, codec {codec:?}"
                ),
            }
        }
    }
}
