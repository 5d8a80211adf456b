//! Entry points for the cargo-fuzz targets in `fuzz/`. Not a public API: compiled only with the
//! `fuzzing` feature, and free to change with every release.
//!
//! Each function feeds arbitrary bytes to one decoder of the protocol. A panic means a bug: either
//! the decoder panicked on peer bytes, or one of the properties asserted here does not hold.

use crate::protocol::frame::{self, FrameDecoder, FrameError, HANDSHAKE_MAX_FRAME};
use crate::protocol::handshake::{
    ClientDriver, Fresh, HandshakeConfig, HandshakeError, HandshakeProgress, ServerDriver,
};
use crate::protocol::identity::Cookie;
use crate::protocol::message::{FrameProtection, SessionMessage, WireNodeName};
use crate::protocol::record::{Opener, RecordKey, Sealer};

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
    let mut driver = ServerDriver::start(fuzz_config("fuzz-server"), fresh(2));
    drive(data, |body, out| driver.receive(body, out));
}

fn fuzz_config(name: &str) -> HandshakeConfig {
    HandshakeConfig {
        cookie: Cookie::new("fuzz cookie"),
        local: WireNodeName {
            name: name.to_owned(),
            connection_string: "127.0.0.1:4697".to_owned(),
        },
        incarnation: 1,
        frames: FrameProtection::Sealed,
    }
}

/// Fixed "random" bytes for one side: its nonce and its key share's secret.
fn fresh(byte: u8) -> Fresh {
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
/// Three properties, whatever the input:
/// - the input taken as a sealed stream (bytes no one sealed with the key) delivers no frame;
/// - the input cut into frame bodies, sealed in turns and fed back in uneven pieces, gives exactly
///   those bodies;
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
