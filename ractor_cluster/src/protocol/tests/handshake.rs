//! Unit tests of `handshake.rs`: an in-memory pair of peers, and each way a handshake can fail.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::protocol::frame::{parse_frame, FrameDecoder, FrameError, HANDSHAKE_MAX_FRAME};

fn config(name: &str, cookie: &str) -> HandshakeConfig {
    HandshakeConfig {
        cookie: Cookie::new(cookie),
        local: WireNodeName {
            name: name.to_owned(),
            connection_string: format!("{name}.example:4697"),
        },
        incarnation: name.len() as u64 * 1000,
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

/// How one side of a [`Pair`] ended.
type Outcome = Result<Authenticated, HandshakeError>;

/// Two drivers joined by in-memory byte streams, each side reading through its own
/// [`FrameDecoder`] with the handshake limit, exactly as the network layer will.
struct Pair {
    client: ClientDriver,
    server: ServerDriver,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

impl Pair {
    fn new(client: HandshakeConfig, server: HandshakeConfig) -> Self {
        let mut to_server = Vec::new();
        let client = ClientDriver::start(client, fresh(0xC1), &mut to_server).unwrap();
        let server = ServerDriver::start(server, fresh(0x5E)).unwrap();
        Self {
            client,
            server,
            to_server,
            to_client: Vec::new(),
        }
    }

    /// Delivers bytes back and forth until neither side has anything left to say.
    fn run(mut self) -> (Outcome, Outcome) {
        let mut client_end = None;
        let mut server_end = None;
        let mut client_in = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
        let mut server_in = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
        while !self.to_server.is_empty() || !self.to_client.is_empty() {
            server_in.push(&std::mem::take(&mut self.to_server));
            while let Some(body) = server_in.next_frame().unwrap() {
                if server_end.is_some() {
                    panic!("server got a frame after it ended");
                }
                match self.server.receive(body, &mut self.to_client) {
                    Ok(HandshakeProgress::Continue) => {}
                    Ok(HandshakeProgress::Done(peer)) => server_end = Some(Ok(peer)),
                    Err(err) => server_end = Some(Err(err)),
                }
            }
            client_in.push(&std::mem::take(&mut self.to_client));
            while let Some(body) = client_in.next_frame().unwrap() {
                if client_end.is_some() {
                    panic!("client got a frame after it ended");
                }
                match self.client.receive(body, &mut self.to_server) {
                    Ok(HandshakeProgress::Continue) => {}
                    Ok(HandshakeProgress::Done(peer)) => client_end = Some(Ok(peer)),
                    Err(err) => client_end = Some(Err(err)),
                }
            }
        }
        client_in.finish().unwrap();
        server_in.finish().unwrap();
        (
            client_end.expect("client still waiting"),
            server_end.expect("server still waiting"),
        )
    }
}

/// Decodes the single frame in `bytes`.
fn only_message(bytes: &[u8]) -> HandshakeMessage {
    let (body, consumed) = parse_frame(bytes, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
    assert_eq!(consumed, bytes.len(), "more than one frame");
    HandshakeMessage::decode(body).unwrap()
}

fn proof_of(message: HandshakeMessage) -> Proof {
    match message {
        HandshakeMessage::ClientProof(proof) | HandshakeMessage::ServerProof(proof) => proof,
        other => panic!("not a proof: {other:?}"),
    }
}

#[test]
fn both_sides_agree_on_each_others_identity() {
    let (client, server) = Pair::new(config("alpha", "c00kie"), config("beta", "c00kie")).run();
    let client = client.unwrap();
    let server = server.unwrap();
    assert_eq!(client.peer, config("beta", "").local);
    assert_eq!(client.peer_node_id, node_id_of("beta"));
    assert_eq!(client.peer_incarnation, 4000);
    assert_eq!(server.peer, config("alpha", "").local);
    assert_eq!(server.peer_node_id, node_id_of("alpha"));
    assert_eq!(server.peer_incarnation, 5000);
    assert_eq!(client.protocol, PROTOCOL_VERSION);
    assert_eq!(server.protocol, PROTOCOL_VERSION);
    // Both ends name the connection alike: the two nonces combined.
    assert_eq!(client.connection_key, server.connection_key);
    assert_eq!(client.connection_key, [0xC1 ^ 0x5E; 32]);
}

#[test]
fn a_wrong_cookie_ends_both_sides_with_a_reason() {
    let (client, server) = Pair::new(config("alpha", "right"), config("beta", "wrong")).run();
    assert_eq!(server, Err(HandshakeError::AuthenticationFailed));
    assert_eq!(
        client,
        Err(HandshakeError::RejectedByPeer(Rejection::BadProof))
    );
    let client_log = client.unwrap_err().to_string();
    assert!(client_log.contains("cookies"), "{client_log}");
}

#[test]
fn a_replayed_client_proof_is_rejected() {
    // Session 1: a genuine client talks to the server; an eavesdropper records its frames.
    let (state, hello) = ClientHandshake::start(config("alpha", "k"), fresh(1)).unwrap();
    let server = ServerHandshake::start(config("beta", "k"), fresh(2)).unwrap();
    let (server, server_hello) = server.handle(hello.clone()).unwrap();
    let (_, recorded_proof) = state.handle(server_hello).unwrap();
    server.handle(recorded_proof.clone()).unwrap();

    // Session 2: the eavesdropper replays the hello and the proof; the server's nonce is new.
    let server = ServerHandshake::start(config("beta", "k"), fresh(3)).unwrap();
    let (server, _) = server.handle(hello).unwrap();
    assert_eq!(
        server.handle(recorded_proof).unwrap_err(),
        HandshakeError::AuthenticationFailed
    );
}

#[test]
fn a_proof_made_for_one_node_is_rejected_by_another() {
    // The client proves itself to "beta"; a man in the middle relays that proof to "gamma", which
    // even happens to pick the same nonce as beta: only the names differ.
    let (state, hello) = ClientHandshake::start(config("alpha", "k"), fresh(1)).unwrap();
    let beta = ServerHandshake::start(config("beta", "k"), fresh(2)).unwrap();
    let (_, beta_hello) = beta.handle(hello.clone()).unwrap();
    let (_, proof_for_beta) = state.handle(beta_hello).unwrap();

    let gamma = ServerHandshake::start(config("gamma", "k"), fresh(2)).unwrap();
    let (gamma, _) = gamma.handle(hello).unwrap();
    assert_eq!(
        gamma.handle(proof_for_beta).unwrap_err(),
        HandshakeError::AuthenticationFailed
    );
}

#[test]
fn a_reflected_proof_is_rejected() {
    // A fake server without the cookie sends the client's own proof back as the server's proof.
    let (state, _) = ClientHandshake::start(config("alpha", "k"), fresh(1)).unwrap();
    let fake_hello = Hello {
        protocol: PROTOCOL_VERSION,
        node: config("mallory", "").local,
        incarnation: 1,
        nonce: [9; 32],
        key_share: [9; 32],
        frames: FrameProtection::Sealed,
        hidden: false,
    };
    let (state, client_proof) = state
        .handle(HandshakeMessage::ServerHello(fake_hello))
        .unwrap();
    let reflected = HandshakeMessage::ServerProof(proof_of(client_proof));
    let err = state.handle(reflected).unwrap_err();
    assert_eq!(err, HandshakeError::AuthenticationFailed);
    assert_eq!(
        err.rejection_message(),
        Some(HandshakeMessage::Rejected(Rejection::BadProof))
    );
}

#[test]
fn a_version_mismatch_is_clear_on_both_sides() {
    // A client from a future major version whose hello carries fields this version does not know:
    // the frozen prefix (tag, version) still lets the server answer with its version.
    let future = ProtocolVersion {
        major: PROTOCOL_VERSION.major + 1,
        minor: 0,
    };
    let mut future_hello = crate::protocol::codec::encode_to_vec(&(0u32, future)).unwrap();
    future_hello.extend_from_slice(b"fields of a future version");

    let mut server = ServerDriver::start(config("beta", "k"), fresh(2)).unwrap();
    let mut to_client = Vec::new();
    let err = server.receive(&future_hello, &mut to_client).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::PeerIncompatible {
            ours: PROTOCOL_VERSION,
            theirs: future
        }
    );
    assert!(err.to_string().contains(&future.to_string()), "{err}");
    let answer = only_message(&to_client);
    assert_eq!(
        answer,
        HandshakeMessage::Rejected(Rejection::IncompatibleVersion {
            ours: PROTOCOL_VERSION
        })
    );

    // The client, of either version, reads that answer and ends with the server's version.
    let mut client_out = Vec::new();
    let mut client = ClientDriver::start(config("alpha", "k"), fresh(1), &mut client_out).unwrap();
    let (body, _) = parse_frame(&to_client, HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    let err = client.receive(body, &mut client_out).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::RejectedByPeer(Rejection::IncompatibleVersion {
            ours: PROTOCOL_VERSION
        })
    );
    assert!(err.to_string().contains("incompatible"), "{err}");
}

#[test]
fn a_server_of_another_major_is_refused_by_the_client() {
    let (state, _) = ClientHandshake::start(config("alpha", "k"), fresh(1)).unwrap();
    let mut hello = match ServerHandshake::start(config("beta", "k"), fresh(2))
        .unwrap()
        .handle(
            ClientHandshake::start(config("alpha", "k"), fresh(1))
                .unwrap()
                .1,
        )
        .unwrap()
        .1
    {
        HandshakeMessage::ServerHello(hello) => hello,
        other => panic!("{other:?}"),
    };
    hello.protocol.major += 1;
    let err = state
        .handle(HandshakeMessage::ServerHello(hello))
        .unwrap_err();
    assert!(
        matches!(err, HandshakeError::PeerIncompatible { .. }),
        "{err}"
    );
    assert!(matches!(
        err.rejection(),
        Some(Rejection::IncompatibleVersion { .. })
    ));
}

#[test]
fn a_connection_to_self_is_refused() {
    let (client, server) = Pair::new(config("alpha", "k"), config("alpha", "k")).run();
    assert_eq!(server, Err(HandshakeError::ConnectionToSelf));
    assert_eq!(
        client,
        Err(HandshakeError::RejectedByPeer(Rejection::ConnectionToSelf))
    );
}

#[test]
fn an_out_of_order_message_names_what_was_expected_and_what_came() {
    let server = ServerHandshake::start(config("beta", "k"), fresh(2)).unwrap();
    let err = server
        .handle(HandshakeMessage::ClientProof(Proof { mac: [0; 32] }))
        .unwrap_err();
    assert_eq!(
        err,
        HandshakeError::PeerMisbehaved {
            expected: "ClientHello",
            received: "ClientProof"
        }
    );
    assert_eq!(
        err.to_string(),
        "peer sent ClientProof where ClientHello was expected"
    );
    // The peer is told the same.
    let Some(Rejection::ProtocolViolation(text)) = err.rejection() else {
        panic!("{err:?}");
    };
    assert!(text.as_str().contains("ClientHello"), "{}", text.as_str());

    // A client hello sent to a client.
    let (client, hello) = ClientHandshake::start(config("alpha", "k"), fresh(1)).unwrap();
    let err = client.handle(hello).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::PeerMisbehaved {
            expected: "ServerHello",
            received: "ClientHello"
        }
    );
}

#[test]
fn a_rejection_is_not_answered() {
    let mut server = ServerDriver::start(config("beta", "k"), fresh(2)).unwrap();
    let mut out = Vec::new();
    let rejected = HandshakeMessage::Rejected(Rejection::BadProof);
    let mut frame = Vec::new();
    rejected.encode_frame(&mut frame).unwrap();
    let err = server.receive(&frame[4..], &mut out).unwrap_err();
    assert_eq!(err, HandshakeError::RejectedByPeer(Rejection::BadProof));
    assert!(out.is_empty());
}

#[test]
fn malformed_and_trailing_bytes_are_rejected() {
    for body in [&[0xFF][..], &[0x00, 0x01]] {
        let mut server = ServerDriver::start(config("beta", "k"), fresh(2)).unwrap();
        let mut out = Vec::new();
        let err = server.receive(body, &mut out).unwrap_err();
        assert!(matches!(err, HandshakeError::Malformed(_)), "{err:?}");
        assert!(matches!(
            only_message(&out),
            HandshakeMessage::Rejected(Rejection::ProtocolViolation(_))
        ));
    }

    // A valid hello followed by one stray byte.
    let (_, hello) = ClientHandshake::start(config("alpha", "k"), fresh(1)).unwrap();
    let mut framed = Vec::new();
    hello.encode_frame(&mut framed).unwrap();
    let mut body = framed[4..].to_vec();
    body.push(0);
    let mut server = ServerDriver::start(config("beta", "k"), fresh(2)).unwrap();
    let err = server.receive(&body, &mut Vec::new()).unwrap_err();
    let HandshakeError::Malformed(codec) = &err else {
        panic!("{err:?}");
    };
    assert!(codec.to_string().contains("trailing"), "{codec}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn the_server_knows_who_the_client_claims_to_be_only_between_its_hello_and_the_end() {
    let mut hello = Vec::new();
    let mut client = ClientDriver::start(config("alpha", "k"), fresh(1), &mut hello).unwrap();
    let mut server = ServerDriver::start(config("beta", "k"), fresh(2)).unwrap();
    assert_eq!(server.client_claim(), None, "before the client's hello");
    let (body, _) = parse_frame(&hello, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
    let mut to_client = Vec::new();
    let progress = server.receive(body, &mut to_client).unwrap();
    assert_eq!(progress, HandshakeProgress::Continue);
    assert_eq!(server.client_claim(), Some(&config("alpha", "").local));

    let mut to_server = Vec::new();
    let (body, _) = parse_frame(&to_client, HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    client.receive(body, &mut to_server).unwrap();
    let (body, _) = parse_frame(&to_server, HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    let progress = server.receive(body, &mut Vec::new()).unwrap();
    assert!(matches!(progress, HandshakeProgress::Done(_)));
    assert_eq!(server.client_claim(), None, "once authenticated");

    // A client that fails its proof leaves no claim behind either.
    let mut server = ServerDriver::start(config("beta", "other"), fresh(2)).unwrap();
    let (body, _) = parse_frame(&hello, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
    server.receive(body, &mut Vec::new()).unwrap();
    assert!(server.client_claim().is_some());
    let (body, _) = parse_frame(&to_server, HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    assert!(server.receive(body, &mut Vec::new()).is_err());
    assert_eq!(server.client_claim(), None, "after a failed proof");
}

#[test]
fn a_truncated_handshake_frame_is_reported_at_end_of_stream() {
    let mut hello = Vec::new();
    ClientDriver::start(config("alpha", "k"), fresh(1), &mut hello).unwrap();
    let mut server_in = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
    server_in.push(&hello[..hello.len() - 1]);
    assert_eq!(server_in.next_frame(), Ok(None));
    assert!(matches!(
        server_in.finish(),
        Err(FrameError::Truncated { .. })
    ));
}

#[test]
fn an_oversized_handshake_frame_is_refused_before_buffering() {
    let mut server_in = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
    server_in.push(&(HANDSHAKE_MAX_FRAME + 1).to_le_bytes());
    assert_eq!(
        server_in.next_frame(),
        Err(FrameError::Oversized {
            claimed: HANDSHAKE_MAX_FRAME + 1,
            limit: HANDSHAKE_MAX_FRAME
        })
    );
}

#[test]
fn a_name_too_long_for_a_handshake_frame_is_a_local_error() {
    let mut config = config("alpha", "k");
    config.local.name = "n".repeat(HANDSHAKE_MAX_FRAME as usize);
    let mut out = Vec::new();
    let err = ClientDriver::start(config, fresh(1), &mut out).unwrap_err();
    assert!(matches!(err, HandshakeError::LocalEncoding(_)), "{err:?}");
    assert_eq!(err.rejection(), None);
    assert!(out.is_empty());
}

#[test]
fn a_driver_refuses_frames_after_it_ended() {
    let mut server = ServerDriver::start(config("beta", "k"), fresh(2)).unwrap();
    let mut out = Vec::new();
    assert!(server.receive(&[0xFF], &mut out).is_err());
    out.clear();
    assert_eq!(
        server.receive(&[0xFF], &mut out),
        Err(HandshakeError::AlreadyEnded)
    );
    assert!(out.is_empty());
}

/// `config`, hidden or not.
fn hidden_config(name: &str, hidden: bool) -> HandshakeConfig {
    HandshakeConfig {
        hidden,
        ..config(name, "k")
    }
}

/// What a relay can do to a hello without the cookie: move it under the other tag (hidden or
/// visible), every other byte as it was.
fn flip_hidden(message: &HandshakeMessage) -> HandshakeMessage {
    let mut frame = Vec::new();
    message.encode_frame(&mut frame).unwrap();
    // The frame's body starts after the 4 length bytes, with the tag.
    frame[4] = match frame[4] {
        0 => 5,
        5 => 0,
        1 => 6,
        6 => 1,
        other => panic!("not a hello: tag {other}"),
    };
    only_message(&frame)
}

#[test]
fn a_hidden_node_says_so_under_its_own_tag_and_its_peer_learns_it() {
    let (client, server) =
        Pair::new(hidden_config("alpha", true), hidden_config("beta", false)).run();
    assert!(
        server.unwrap().peer_hidden,
        "the server learns the client is hidden"
    );
    assert!(!client.unwrap().peer_hidden);
    let (client, server) =
        Pair::new(hidden_config("alpha", false), hidden_config("beta", true)).run();
    assert!(
        client.unwrap().peer_hidden,
        "the client learns the server is hidden"
    );
    assert!(!server.unwrap().peer_hidden);

    let (_, hello) = ClientHandshake::start(hidden_config("alpha", true), fresh(1)).unwrap();
    let mut frame = Vec::new();
    hello.encode_frame(&mut frame).unwrap();
    assert_eq!(
        frame[4], 5,
        "a hidden client's hello is a HiddenClientHello"
    );
    assert_eq!(
        HandshakeMessage::peek_hello_version(&frame[4..]),
        Some(PROTOCOL_VERSION)
    );
    assert_eq!(only_message(&frame), hello);
    let (_, hello) = ClientHandshake::start(hidden_config("alpha", false), fresh(1)).unwrap();
    let mut frame = Vec::new();
    hello.encode_frame(&mut frame).unwrap();
    assert_eq!(
        frame[4], 0,
        "a visible client's hello is a ClientHello, as before 2.7"
    );
}

#[test]
fn a_relay_cannot_turn_a_session_hidden_or_visible() {
    // (client hidden, server hidden, the relay flips the client's hello or the server's)
    let cases = [
        (true, false, true),
        (false, false, true),
        (false, true, false),
        (false, false, false),
    ];
    for (client_hidden, server_hidden, flip_client) in cases {
        let what = format!(
            "client hidden: {client_hidden}, server hidden: {server_hidden}, flipped: {}",
            if flip_client {
                "client's hello"
            } else {
                "server's hello"
            }
        );
        let (state, hello) =
            ClientHandshake::start(hidden_config("alpha", client_hidden), fresh(1)).unwrap();
        let server =
            ServerHandshake::start(hidden_config("beta", server_hidden), fresh(2)).unwrap();
        let hello = if flip_client {
            flip_hidden(&hello)
        } else {
            hello
        };
        let (server, server_hello) = server.handle(hello).unwrap();
        let server_hello = if flip_client {
            server_hello
        } else {
            flip_hidden(&server_hello)
        };
        let (_, proof) = state.handle(server_hello).unwrap();
        assert_eq!(
            server.handle(proof).unwrap_err(),
            HandshakeError::AuthenticationFailed,
            "{what}"
        );
    }
}
