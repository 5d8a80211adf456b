//! The key schedule's test vectors (PROTOCOL.md, "Test vectors"): a whole handshake with a fixed
//! cookie, nonces and ephemeral secrets, the keys it yields and the first record each way.
//!
//! Every golden value here was computed from PROTOCOL.md alone by `key_schedule_vectors.py`
//! (Python's `cryptography`), not by this crate.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::protocol::frame::{parse_frame, FrameDecoder, HANDSHAKE_MAX_FRAME};
use crate::protocol::handshake::{
    ClientDriver, Fresh, HandshakeConfig, HandshakeProgress, ServerDriver,
};
use crate::protocol::message::{
    ControlMessage, FrameProtection, HandshakeMessage, SessionMessage, WireNodeName,
};
use crate::protocol::record::{Opener, Sealer};
use crate::protocol::test_hex::{decode, encode as hex};

const CLIENT_HELLO: &str = "5e00000000020a05616c70686112616c7068612e6578616d706c653a343639370111111111111111111111111111111111111111111111111111111111111111117a1a4e709bf085ac494aba0469b9b1eda0ab1f78b16aabb79ffeda90623e852200";
const SERVER_HELLO: &str = "5c00000001020a046265746111626574612e6578616d706c653a34363937022222222222222222222222222222222222222222222222222222222222222222132c442be010fbd57e72603328aa76e71fccc1503aae219327d14d9c9993f47200";
const CLIENT_PROOF: &str =
    "21000000026ec02a5115989b0dc2e5e5d25e96ea42955b9574807efeb7dd4169f3d1d0015a";
const SERVER_PROOF: &str =
    "210000000372f1bf97e98e9ae7e8d204dd7b8d5960b7a10c36e324db9ef288c231c0fe1dc8";
const SALT: &str = "491251f8da389b6fc379acc8ceb5261cb340bc6f2f590264ea970fdbcf974e2c";
const CLIENT_TO_SERVER: &str = "dcdff7b14e0747107d14434b6588545df1e4c70e0eb8c49915848a5635f82d58";
const SERVER_TO_CLIENT: &str = "490a7835953d48deebc2ea9a9dfc0d18fbf7588958a9e8820acdfa16caced594";
/// Record 0 from the client: one `Heartbeat` frame.
const CLIENT_RECORD_0: &str = "16000000d085d1f3210a1ca4995b9da98d4733936a0774db38af";
/// Record 0 from the server: two `Heartbeat` frames.
const SERVER_RECORD_0: &str = "1c00000075a3d6a97f44384ee96766e331abc454b9b974e485dbf32e5b1c05b5";
/// The same handshake with a hidden client (since protocol 2.7): its hello goes under tag 5, and the
/// proofs cover that it is hidden.
const HIDDEN_CLIENT_HELLO: &str = "5e00000005020a05616c70686112616c7068612e6578616d706c653a343639370111111111111111111111111111111111111111111111111111111111111111117a1a4e709bf085ac494aba0469b9b1eda0ab1f78b16aabb79ffeda90623e852200";
const HIDDEN_CLIENT_PROOF: &str =
    "21000000026896f97a7e7f915ba4a333eeebccb113eb345415e3e40ed0e255052448d7a596";
const HIDDEN_SERVER_PROOF: &str =
    "21000000035a618064ea16f421b53d4c14003e6be0230d0a48d1f9b9f00623e03df239e13e";

fn config(name: &str, incarnation: u64) -> HandshakeConfig {
    HandshakeConfig {
        cookie: Cookie::new("test vector cookie"),
        local: WireNodeName {
            name: name.to_owned(),
            connection_string: format!("{name}.example:4697"),
        },
        incarnation,
        frames: FrameProtection::Sealed,
        hidden: false,
    }
}

fn client_fresh() -> Fresh {
    Fresh {
        nonce: [0x11; 32],
        key_secret: [0x41; 32],
    }
}

fn server_fresh() -> Fresh {
    Fresh {
        nonce: [0x22; 32],
        key_secret: [0x42; 32],
    }
}

fn body(frame: &[u8]) -> &[u8] {
    parse_frame(frame, HANDSHAKE_MAX_FRAME).unwrap().unwrap().0
}

fn done(progress: HandshakeProgress) -> crate::protocol::handshake::Authenticated {
    match progress {
        HandshakeProgress::Done(auth) => auth,
        HandshakeProgress::Continue => panic!("the handshake should be over"),
    }
}

/// Runs the handshake of the vectors; returns every frame sent, then both sides' outcomes.
fn vector_handshake() -> (
    [Vec<u8>; 4],
    crate::protocol::handshake::Authenticated,
    crate::protocol::handshake::Authenticated,
) {
    vector_handshake_of(config("alpha", 1))
}

/// The client's and the server's hellos among a handshake's `frames`.
fn hellos_of(frames: &[Vec<u8>; 4]) -> (Hello, Hello) {
    let (HandshakeMessage::ClientHello(client), HandshakeMessage::ServerHello(server)) = (
        HandshakeMessage::decode(body(&frames[0])).unwrap(),
        HandshakeMessage::decode(body(&frames[1])).unwrap(),
    ) else {
        panic!("hellos");
    };
    (client, server)
}

/// As [`vector_handshake`], with `client` as the client's configuration.
fn vector_handshake_of(
    client: HandshakeConfig,
) -> (
    [Vec<u8>; 4],
    crate::protocol::handshake::Authenticated,
    crate::protocol::handshake::Authenticated,
) {
    let mut client_hello = Vec::new();
    let mut client = ClientDriver::start(client, client_fresh(), &mut client_hello).unwrap();
    let mut server = ServerDriver::start(config("beta", 2), server_fresh()).unwrap();
    let mut server_hello = Vec::new();
    server
        .receive(body(&client_hello), &mut server_hello)
        .unwrap();
    let mut client_proof = Vec::new();
    client
        .receive(body(&server_hello), &mut client_proof)
        .unwrap();
    let mut server_proof = Vec::new();
    let at_server = done(
        server
            .receive(body(&client_proof), &mut server_proof)
            .unwrap(),
    );
    let at_client = done(
        client
            .receive(body(&server_proof), &mut Vec::new())
            .unwrap(),
    );
    (
        [client_hello, server_hello, client_proof, server_proof],
        at_client,
        at_server,
    )
}

fn heartbeat() -> Vec<u8> {
    let mut frame = Vec::new();
    SessionMessage::Control(ControlMessage::Heartbeat)
        .encode_frame(1024, &mut frame)
        .unwrap();
    frame
}

#[test]
fn the_handshake_frames_match_the_vectors() {
    let (frames, _, _) = vector_handshake();
    let expected = [CLIENT_HELLO, SERVER_HELLO, CLIENT_PROOF, SERVER_PROOF];
    for (frame, golden) in frames.iter().zip(expected) {
        assert_eq!(hex(frame), golden);
    }
}

#[test]
fn a_hidden_clients_frames_match_the_vectors() {
    let hidden = HandshakeConfig {
        hidden: true,
        ..config("alpha", 1)
    };
    let (frames, at_client, at_server) = vector_handshake_of(hidden);
    let expected = [
        HIDDEN_CLIENT_HELLO,
        SERVER_HELLO,
        HIDDEN_CLIENT_PROOF,
        HIDDEN_SERVER_PROOF,
    ];
    for (frame, golden) in frames.iter().zip(expected) {
        assert_eq!(hex(frame), golden);
    }
    assert!(at_server.peer_hidden);
    assert!(!at_client.peer_hidden);
}

#[test]
fn the_salt_and_keys_match_the_vectors() {
    let (frames, at_client, at_server) = vector_handshake();
    let (client, server) = hellos_of(&frames);
    let salt = Cookie::new("test vector cookie").key_schedule_salt(&client, &server);
    assert_eq!(hex(&salt), SALT);

    let client_keys = at_client.keys.unwrap();
    let server_keys = at_server.keys.unwrap();
    assert_eq!(hex(&client_keys.send.0), CLIENT_TO_SERVER);
    assert_eq!(hex(&client_keys.receive.0), SERVER_TO_CLIENT);
    assert_eq!(client_keys.send, server_keys.receive);
    assert_eq!(client_keys.receive, server_keys.send);
}

#[test]
fn the_first_records_match_the_vectors_and_open_on_the_other_side() {
    let (frames, at_client, at_server) = vector_handshake();
    let client_keys = at_client.keys.unwrap();
    let server_keys = at_server.keys.unwrap();

    let mut from_client = Vec::new();
    Sealer::new(&client_keys.send)
        .seal(&[&heartbeat()], &mut from_client)
        .unwrap();
    assert_eq!(hex(&from_client), CLIENT_RECORD_0);
    let mut from_server = Vec::new();
    Sealer::new(&server_keys.send)
        .seal(&[&heartbeat(), &heartbeat()], &mut from_server)
        .unwrap();
    assert_eq!(hex(&from_server), SERVER_RECORD_0);

    // What the server reads: the client's two handshake frames, then its record, in one piece.
    let mut server_in = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
    server_in.push(&[frames[0].clone(), frames[2].clone(), from_client].concat());
    assert!(server_in.next_frame().unwrap().is_some());
    assert!(server_in.next_frame().unwrap().is_some());
    // The last handshake frame is out: the rest is sealed (rule R1).
    server_in.start_opening(Opener::new(&server_keys.receive));
    server_in.set_limit(1024);
    assert_eq!(server_in.next_frame().unwrap(), Some(&[3u8, 0][..]));
    assert_eq!(server_in.next_frame().unwrap(), None);
    server_in.finish().unwrap();
}

#[test]
fn a_low_order_key_share_is_refused() {
    let mut client_hello = Vec::new();
    let _client =
        ClientDriver::start(config("alpha", 1), client_fresh(), &mut client_hello).unwrap();
    let HandshakeMessage::ClientHello(mut hello) =
        HandshakeMessage::decode(body(&client_hello)).unwrap()
    else {
        panic!("hello");
    };
    // The identity point: every secret gives the all-zero shared secret with it.
    hello.key_share = [0; 32];
    let mut forged_hello = Vec::new();
    HandshakeMessage::ClientHello(hello.clone())
        .encode_frame(&mut forged_hello)
        .unwrap();

    // The server answers the hello, but the key share fails it once the proof is in. The proof is
    // genuine: the attacker here knows the cookie but tries to force a known key.
    let mut server = ServerDriver::start(config("beta", 2), server_fresh()).unwrap();
    let mut server_hello = Vec::new();
    server
        .receive(body(&forged_hello), &mut server_hello)
        .unwrap();
    let HandshakeMessage::ServerHello(server_side) =
        HandshakeMessage::decode(body(&server_hello)).unwrap()
    else {
        panic!("hello");
    };
    let mac = Cookie::new("test vector cookie").prove(&crate::protocol::identity::ProofInput {
        role: crate::protocol::identity::Role::Client,
        client: &hello,
        server: &server_side,
    });
    let mut proof = Vec::new();
    HandshakeMessage::ClientProof(crate::protocol::message::Proof { mac })
        .encode_frame(&mut proof)
        .unwrap();
    let err = server.receive(body(&proof), &mut Vec::new()).unwrap_err();
    assert_eq!(
        err,
        crate::protocol::handshake::HandshakeError::WeakKeyShare
    );
}

#[test]
fn plaintext_needs_both_sides_and_then_derives_no_keys() {
    for (client_frames, server_frames, sealed) in [
        (
            FrameProtection::Plaintext,
            FrameProtection::Plaintext,
            false,
        ),
        (FrameProtection::Plaintext, FrameProtection::Sealed, true),
        (FrameProtection::Sealed, FrameProtection::Plaintext, true),
    ] {
        let mut client_config = config("alpha", 1);
        client_config.frames = client_frames;
        let mut server_config = config("beta", 2);
        server_config.frames = server_frames;
        let mut out = Vec::new();
        let mut client = ClientDriver::start(client_config, client_fresh(), &mut out).unwrap();
        let mut server = ServerDriver::start(server_config, server_fresh()).unwrap();
        let mut back = Vec::new();
        server.receive(body(&out), &mut back).unwrap();
        let mut out = Vec::new();
        client.receive(body(&back), &mut out).unwrap();
        let mut back = Vec::new();
        let at_server = done(server.receive(body(&out), &mut back).unwrap());
        let at_client = done(client.receive(body(&back), &mut Vec::new()).unwrap());
        assert_eq!(at_client.keys.is_some(), sealed);
        assert_eq!(at_server.keys.is_some(), sealed);
    }
}

/// Every encoding of a point of order 1, 2, 4 or 8 (RFC 7748 reads the top bit as zero, and reduces
/// values of p and above): each gives the all-zero shared secret with any clamped secret. Checked
/// refused by Python's `cryptography` as well.
const LOW_ORDER_SHARES: [&str; 14] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

#[test]
fn every_encoding_of_a_low_order_point_is_refused_as_a_key_share() {
    let (frames, _, _) = vector_handshake();
    let (client, server) = hellos_of(&frames);
    let cookie = Cookie::new("test vector cookie");
    for share in LOW_ORDER_SHARES {
        let forged = Hello {
            key_share: decode(share).try_into().unwrap(),
            ..client.clone()
        };
        let secret = EphemeralSecret::from_bytes(server_fresh().key_secret).unwrap();
        assert_eq!(
            derive_session_keys(secret, &cookie, &forged, &server, false),
            Err(WeakKeyShare),
            "share {share}"
        );
    }
    // The genuine share still gives keys.
    let secret = EphemeralSecret::from_bytes(server_fresh().key_secret).unwrap();
    assert!(derive_session_keys(secret, &cookie, &client, &server, false).is_ok());
}
