//! Entry points for the cargo-fuzz targets in `fuzz/`. Not a public API: compiled only with the
//! `fuzzing` feature, and free to change with every release.
//!
//! Each function feeds arbitrary bytes to one decoder of the protocol. A panic means a bug: either
//! the decoder panicked on peer bytes, or one of the properties asserted here does not hold.

// Panicking is how a property that does not hold is reported to the fuzzer; this module is built
// only for the fuzz targets and the tests, never into a node.
#![allow(clippy::panic)]

use std::collections::BTreeMap;

use ractor::message::SerializedMessage;
use serde::{Deserialize, Serialize};

use crate::__private::{decode_message, FieldError, Via, ViaBytes, ViaSerde, ViaWire};
use crate::protocol::codec;
use crate::protocol::fragment::{self, Reassembly, ReceiveError};
use crate::protocol::frame::{self, FrameDecoder, FrameError, HANDSHAKE_MAX_FRAME};
use crate::protocol::handshake::{
    ClientDriver, Fresh, HandshakeConfig, HandshakeError, HandshakeProgress, ServerDriver,
};
use crate::protocol::hot_frames::{encode_fragment_frame, split_payload};
use crate::protocol::identity::{Cookie, ProofInput, Role};
use crate::protocol::message::{
    ControlMessage, FrameProtection, HandshakeMessage, Hello, Proof, SessionMessage, WireNodeName,
};
use crate::protocol::record::{Opener, RecordKey, Sealer};
use crate::protocol::reference::WireReference;
use crate::protocol::shape::MAX_DEPTH;

/// Frame parsing: the whole input at once, then the same bytes fed to a `FrameDecoder` in
/// uneven pieces; both must find the same frames. The first byte picks the limit.
pub fn frame(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let limit = u32::from(selector) * 16;

    let mut whole = Vec::new();
    let mut rest = stream;
    let whole_error = loop {
        match frame::parse_frame(rest, limit) {
            Ok(Some((body, consumed))) => {
                assert_eq!(consumed, body.len() + frame::FRAME_HEADER_LEN);
                whole.push(body.to_vec());
                rest = rest.get(consumed..).unwrap_or_default();
            }
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };

    let mut decoder = FrameDecoder::new(limit);
    let mut pieces = Vec::new();
    let mut decoder_error = None;
    // Piece sizes cycle through a few values, driven by the selector, to cross frame boundaries.
    let mut chunks = stream.chunks(usize::from(selector % 7) + 1);
    'feed: for chunk in &mut chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(body)) => pieces.push(body.to_vec()),
                Ok(None) => break,
                Err(err) => {
                    decoder_error = Some(err);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(whole, pieces, "decoder and parse_frame disagree");
    assert_eq!(whole_error, decoder_error);
    if decoder_error.is_none() {
        let _ = decoder.finish();
    }
}

/// Session message decoding: whatever decodes must survive encoding and decoding again.
///
/// (Not "encodes back to the same bytes": a varint may arrive in a longer form than the encoder
/// writes, which decodes to the same value.)
pub fn session_message(data: &[u8]) {
    if let Ok(message) = SessionMessage::decode(data) {
        let mut framed = Vec::new();
        if message.encode_frame(u32::MAX, &mut framed).is_ok() {
            let body = framed.get(frame::FRAME_HEADER_LEN..).unwrap_or_default();
            let again = SessionMessage::decode(body);
            assert_eq!(
                again.as_ref(),
                Ok(&message),
                "{} did not round trip",
                message.kind()
            );
        }
    }
}

/// The client role, fed the input as a stream of frames from a server.
pub fn handshake_client(data: &[u8]) {
    let mut out = Vec::new();
    let Ok(mut driver) = ClientDriver::start(fuzz_config("fuzz-client"), fresh(1), &mut out) else {
        return;
    };
    drive(data, |body, out| driver.receive(body, out));
}

/// The server role, fed the input as a stream of frames from a client.
pub fn handshake_server(data: &[u8]) {
    let Ok(mut driver) = ServerDriver::start(fuzz_config("fuzz-server"), fresh(2)) else {
        return;
    };
    drive(data, |body, out| driver.receive(body, out));
}

/// The configuration of the handshake targets' own side (the seed corpora are made with it too).
pub(crate) fn fuzz_config(name: &str) -> HandshakeConfig {
    HandshakeConfig {
        cookie: Cookie::new("fuzz cookie"),
        local: WireNodeName {
            name: name.to_owned(),
            connection_string: "127.0.0.1:4697".to_owned(),
        },
        incarnation: 1,
        frames: FrameProtection::Sealed,
        hidden: false,
    }
}

/// Fixed "random" bytes for one side: its nonce and its key share's secret.
pub(crate) fn fresh(byte: u8) -> Fresh {
    Fresh {
        nonce: [byte; 32],
        key_secret: [byte ^ 0x5A; 32],
    }
}

/// Splits `data` into handshake frames and feeds them to `receive` until the handshake ends.
fn drive(
    data: &[u8],
    mut receive: impl FnMut(&[u8], &mut Vec<u8>) -> Result<HandshakeProgress, HandshakeError>,
) {
    let mut rest = data;
    let mut out = Vec::new();
    while let Ok(Some((body, consumed))) = frame::parse_frame(rest, HANDSHAKE_MAX_FRAME) {
        rest = rest.get(consumed..).unwrap_or_default();
        match receive(body, &mut out) {
            Ok(HandshakeProgress::Continue) => {}
            Ok(HandshakeProgress::Done(_)) | Err(_) => break,
        }
    }
    // Everything a driver sends must itself be well-formed frames within the handshake limit.
    let mut sent = out.as_slice();
    while let Ok(Some((_, consumed))) = frame::parse_frame(sent, HANDSHAKE_MAX_FRAME) {
        sent = sent.get(consumed..).unwrap_or_default();
    }
    assert!(sent.is_empty(), "driver produced a malformed frame");
}

/// The record opener, through the one frame decoder production reads with.
///
/// Four properties, whatever the input:
/// - the input taken as a sealed stream (bytes no one sealed with the key) delivers no frame;
/// - the input cut into frame bodies, sealed in turns and fed back in uneven pieces, gives exactly
///   those bodies;
/// - the same frames sealed in records cut anywhere, mid-frame included (as a peer may cut them),
///   give exactly those bodies too;
/// - the same sealed stream with one byte altered gives a prefix of them and then an error or
///   nothing more: never an altered body.
pub fn record(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let key = RecordKey([0x5A; 32]);
    let piece = usize::from(selector % 13) + 1;

    let (forged, _) = open_stream(&key, stream, piece);
    assert!(forged.is_empty(), "bytes no one sealed were delivered");

    // Bodies of 1 to 32 bytes, sealed three frames to a turn.
    let bodies: Vec<&[u8]> = stream.chunks(usize::from(selector % 32) + 1).collect();
    let mut sealer = Sealer::new(&key);
    let mut sealed = Vec::new();
    for turn in bodies.chunks(3) {
        let mut frames = Vec::new();
        for body in turn {
            let _ = frame::encode_frame_with(u32::MAX, &mut frames, |out| {
                out.extend_from_slice(body);
                Ok(())
            });
        }
        if sealer.seal(&[&frames], &mut sealed).is_err() {
            return;
        }
    }
    let (opened, error) = open_stream(&key, &sealed, piece);
    assert!(error.is_none(), "a genuine stream failed: {error:?}");
    assert_eq!(opened, bodies, "sealed frames did not round trip");

    // Records of 1 to 61 bytes of plaintext, whatever the frames' boundaries.
    let mut frames = Vec::new();
    for body in &bodies {
        let _ = frame::encode_frame_with(u32::MAX, &mut frames, |out| {
            out.extend_from_slice(body);
            Ok(())
        });
    }
    let mut sealer = Sealer::new(&key);
    let mut cut_anywhere = Vec::new();
    for chunk in frames.chunks_mut(usize::from(selector % 61) + 1) {
        let Ok(envelope) = sealer.seal_in_place(chunk) else {
            return;
        };
        cut_anywhere.extend_from_slice(&envelope.header);
        cut_anywhere.extend_from_slice(chunk);
        cut_anywhere.extend_from_slice(&envelope.tag);
    }
    let (opened, error) = open_stream(&key, &cut_anywhere, piece);
    assert!(error.is_none(), "a stream cut mid-frame failed: {error:?}");
    assert_eq!(
        opened, bodies,
        "frames cut across records did not round trip"
    );

    if sealed.is_empty() {
        return;
    }
    let at = usize::from(u16::from_le_bytes([
        selector,
        stream.first().copied().unwrap_or(0),
    ])) % sealed.len();
    if let Some(byte) = sealed.get_mut(at) {
        *byte ^= 0x01;
    }
    let (altered, _) = open_stream(&key, &sealed, piece);
    assert!(
        altered.len() <= bodies.len()
            && altered
                .iter()
                .zip(&bodies)
                .all(|(got, genuine)| got == genuine),
        "an altered record delivered something"
    );
}

/// Feeds `stream` to a sealed decoder in pieces of `piece` bytes; the bodies it delivers, and the
/// error that ended it, if any.
fn open_stream(key: &RecordKey, stream: &[u8], piece: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut decoder = FrameDecoder::new(u32::MAX);
    decoder.start_opening(Opener::new(key));
    let mut bodies = Vec::new();
    for chunk in stream.chunks(piece) {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(body)) => bodies.push(body.to_vec()),
                Ok(None) => break,
                Err(err) => return (bodies, Some(err)),
            }
        }
    }
    let end = decoder.finish().err();
    (bodies, end)
}

/// Fragment reassembly, as the session reader does it (`Reassembly::receive`), two ways:
/// - the input taken as a stream of frames from a peer, the first byte picking the limit: the
///   reassembly never holds more than the limit, never returns a fragment, and stops at the first
///   error;
/// - a genuine message made of the input, cut into pieces of a size the first byte picks, with a
///   heartbeat after each piece: exactly that message comes out, once, after the last piece, and
///   every heartbeat comes out where it was sent.
pub fn fragments(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let limit = u32::from(selector) * 16 + 1;

    let mut reassembly = Reassembly::default();
    let mut rest = stream;
    while let Ok(Some((body, consumed))) = frame::parse_frame(rest, u32::MAX) {
        rest = rest.get(consumed..).unwrap_or_default();
        match reassembly.receive(body, limit) {
            Ok(Some(SessionMessage::Fragment { .. })) => panic!("a fragment came out whole"),
            Ok(_) => {}
            Err(ReceiveError::Malformed(_) | ReceiveError::Fragment(_)) => break,
        }
        assert!(
            reassembly.pending_len() <= usize::try_from(limit).unwrap_or(usize::MAX),
            "the reassembly holds more than the limit"
        );
    }

    let message = SessionMessage::Cast {
        to: u64::from(selector),
        args: stream.to_vec(),
    };
    let mut framed = Vec::new();
    if message.encode_frame(u32::MAX, &mut framed).is_err() {
        return;
    }
    let mut wire = Vec::new();
    let mut sent = 0;
    for (more, chunk) in fragment::pieces_of(&framed, usize::from(selector % 64) + 1) {
        let piece = encode_fragment_frame(more, chunk, u32::MAX, &mut wire);
        let heartbeat =
            SessionMessage::Control(ControlMessage::Heartbeat).encode_frame(u32::MAX, &mut wire);
        assert!(piece.is_ok() && heartbeat.is_ok(), "cannot frame a piece");
        sent += 1;
    }
    let mut reassembly = Reassembly::default();
    let mut received = Vec::new();
    let mut rest = wire.as_slice();
    while let Ok(Some((body, consumed))) = frame::parse_frame(rest, u32::MAX) {
        rest = rest.get(consumed..).unwrap_or_default();
        let limit = u32::try_from(framed.len()).unwrap_or(u32::MAX);
        match reassembly.receive(body, limit) {
            Ok(Some(got)) => received.push(got),
            Ok(None) => {}
            Err(err) => panic!("genuine pieces refused: {err:?}"),
        }
    }
    assert!(rest.is_empty());
    let heartbeat = SessionMessage::Control(ControlMessage::Heartbeat);
    let mut expected = vec![heartbeat.clone(); sent];
    expected.insert(sent.saturating_sub(1), message);
    assert_eq!(received, expected, "the pieces did not reassemble in order");
}

/// A value of every kind of serde container, recursive: what a user message field may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Tree {
    Leaf(u64),
    Text(String),
    Node(Vec<Tree>),
    Maybe(Option<Box<Tree>>),
    Map(BTreeMap<String, Tree>),
    Pair(Box<(Tree, Tree)>),
}

/// How many containers deep `tree` goes, counted as rule C5 counts them.
fn depth_of(tree: &Tree) -> usize {
    // The enum is one level; its contents add theirs.
    1 + match tree {
        Tree::Leaf(_) | Tree::Text(_) => 0,
        Tree::Node(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        Tree::Maybe(None) => 0,
        Tree::Maybe(Some(inner)) => 1 + depth_of(inner),
        Tree::Map(entries) => 1 + entries.values().map(depth_of).max().unwrap_or(0),
        Tree::Pair(pair) => 1 + depth_of(&pair.0).max(depth_of(&pair.1)),
    }
}

/// A hand-written `BytesConvertable` type (tier 3 of the derive): the bytes as they came.
#[derive(Debug)]
pub(crate) struct Raw(pub(crate) Vec<u8>);

impl crate::BytesConvertable for Raw {
    fn into_bytes(self) -> Vec<u8> {
        self.0
    }
    fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

/// A user message as a session hands it to the target's message type: the wire's `args` are split
/// into the variant's name and the fields (`split_payload`), which are read the way generated code
/// reads them, one field of each tier: a serde value of a recursive type (rule C5), a raw byte
/// buffer, a hand-written `BytesConvertable` value, and the wire form of an actor reference (read,
/// not resolved: resolving needs a node). Whatever decodes must encode back to bytes that decode to the same value,
/// and no serde value may nest deeper than rule C5 allows.
// The borrows are how autoref specialization picks a field's tier, as in generated code.
#[allow(clippy::needless_borrow)]
pub fn payload(data: &[u8]) {
    let Ok((variant, fields)) = split_payload(data.to_vec()) else {
        return;
    };
    let message = SerializedMessage::Cast {
        variant,
        args: fields,
        metadata: None,
    };
    type Fields = (Tree, Vec<u8>, Raw, Option<WireReference>);
    let decoded = decode_message::<Fields>(message, |incoming| -> Result<Fields, FieldError> {
        let tree = (&&&Via::<Tree>::new()).read_field(incoming)?;
        let bytes = (&&&Via::<Vec<u8>>::new()).read_field(incoming)?;
        let raw = (&&&Via::<Raw>::new()).read_field(incoming)?;
        let reference = (&&&Via::<Option<WireReference>>::new()).read_field(incoming)?;
        Ok((tree, bytes, raw, reference))
    });
    if let Ok((tree, _, _, reference)) = decoded {
        assert!(
            depth_of(&tree) <= MAX_DEPTH,
            "a value nested past the limit"
        );
        let again = codec::encode_to_vec(&tree).and_then(|bytes| codec::decode_exact(&bytes));
        assert_eq!(again.as_ref(), Ok(&tree), "a tree did not round trip");
        let again = codec::encode_to_vec(&reference).and_then(|bytes| codec::decode_exact(&bytes));
        assert_eq!(again, Ok(reference), "a reference did not round trip");
    }
}

/// Both handshake roles, past the proofs: the input is the body of the peer's hello (the first
/// byte picks the role), and the harness answers with the proof that hello calls for, computed
/// with the cookie, as a genuine peer would. This reaches what random bytes cannot: the checks
/// after a valid proof (the key share, rule K2) and the key schedule. Whatever the hello, the
/// handshake then either succeeds, naming the peer as its hello did and sealed unless both sides
/// asked for plaintext, or fails on the peer's hello or key share; and it takes no frame after.
pub fn handshake_proved(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let cookie = Cookie::new("fuzz cookie");
    let mut out = Vec::new();
    if selector % 2 == 0 {
        let Ok(mut driver) = ServerDriver::start(fuzz_config("fuzz-server"), fresh(2)) else {
            return;
        };
        if driver.receive(body, &mut out) != Ok(HandshakeProgress::Continue) {
            return;
        }
        let (
            Some(HandshakeMessage::ClientHello(client)),
            Some(HandshakeMessage::ServerHello(server)),
        ) = (decoded(body), first_frame(&out))
        else {
            panic!("the server went on without a client hello, or answered without its own");
        };
        let mac = cookie.prove(&ProofInput {
            role: Role::Client,
            client: &client,
            server: &server,
        });
        let proof = frame_body(&HandshakeMessage::ClientProof(Proof { mac }));
        let outcome = driver.receive(&proof, &mut Vec::new());
        check_proved(outcome, &client, &server, &client);
        assert_eq!(
            driver.receive(&proof, &mut Vec::new()),
            Err(HandshakeError::AlreadyEnded)
        );
    } else {
        let Ok(mut driver) = ClientDriver::start(fuzz_config("fuzz-client"), fresh(1), &mut out)
        else {
            return;
        };
        let Some(HandshakeMessage::ClientHello(client)) = first_frame(&out) else {
            panic!("the client did not start with its hello");
        };
        if driver.receive(body, &mut Vec::new()) != Ok(HandshakeProgress::Continue) {
            return;
        }
        let Some(HandshakeMessage::ServerHello(server)) = decoded(body) else {
            panic!("the client went on without a server hello");
        };
        let mac = cookie.prove(&ProofInput {
            role: Role::Server,
            client: &client,
            server: &server,
        });
        let proof = frame_body(&HandshakeMessage::ServerProof(Proof { mac }));
        let outcome = driver.receive(&proof, &mut Vec::new());
        check_proved(outcome, &client, &server, &server);
        assert_eq!(
            driver.receive(&proof, &mut Vec::new()),
            Err(HandshakeError::AlreadyEnded)
        );
    }
}

/// The outcome of a handshake whose peer (`theirs`, the client or the server) sent a valid proof,
/// judged against the hellos.
fn check_proved(
    outcome: Result<HandshakeProgress, HandshakeError>,
    client: &Hello,
    server: &Hello,
    theirs: &Hello,
) {
    match outcome {
        Ok(HandshakeProgress::Done(authenticated)) => {
            assert_eq!(
                authenticated.peer, theirs.node,
                "the wrong peer was authenticated"
            );
            assert_eq!(authenticated.peer_incarnation, theirs.incarnation);
            let sealed = client.frames.agreed_with(server.frames) == FrameProtection::Sealed;
            assert_eq!(
                authenticated.keys.is_some(),
                sealed,
                "sealing was not as agreed"
            );
        }
        Err(HandshakeError::WeakKeyShare) => {}
        other => panic!("a valid proof was answered with {other:?}"),
    }
}

/// The handshake message a frame body holds, if it decodes.
fn decoded(body: &[u8]) -> Option<HandshakeMessage> {
    HandshakeMessage::decode(body).ok()
}

/// The handshake message of the first frame in `out`.
fn first_frame(out: &[u8]) -> Option<HandshakeMessage> {
    let (body, _) = frame::parse_frame(out, HANDSHAKE_MAX_FRAME).ok()??;
    decoded(body)
}

/// The body of `message`'s frame.
fn frame_body(message: &HandshakeMessage) -> Vec<u8> {
    let mut framed = Vec::new();
    let _ = message.encode_frame(&mut framed);
    framed
        .get(frame::FRAME_HEADER_LEN..)
        .unwrap_or_default()
        .to_vec()
}
