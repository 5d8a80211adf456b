//! Unit tests of `frame.rs`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn framed(body: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn parses_a_whole_frame_and_leaves_what_follows() {
    let mut bytes = framed(b"abc");
    bytes.extend_from_slice(&framed(b"next"));
    let (body, consumed) = parse_frame(&bytes, 16).unwrap().unwrap();
    assert_eq!(body, b"abc");
    assert_eq!(consumed, 7);
    let (body, _) = parse_frame(&bytes[consumed..], 16).unwrap().unwrap();
    assert_eq!(body, b"next");
}

#[test]
fn asks_for_more_bytes_until_the_frame_is_whole() {
    let bytes = framed(b"hello");
    for cut in 0..bytes.len() {
        assert_eq!(parse_frame(&bytes[..cut], 16), Ok(None), "cut at {cut}");
    }
}

#[test]
fn an_empty_frame_is_an_error() {
    assert_eq!(parse_frame(&[0, 0, 0, 0], 16), Err(FrameError::Empty));
}

#[test]
fn an_oversized_frame_is_refused_from_its_header_alone() {
    // Only the header arrived: the claim is refused before any body is awaited or buffered.
    let header = (1u32 << 30).to_le_bytes();
    let err = parse_frame(&header, HANDSHAKE_MAX_FRAME).unwrap_err();
    assert_eq!(
        err,
        FrameError::Oversized {
            claimed: 1 << 30,
            limit: HANDSHAKE_MAX_FRAME
        }
    );
    assert!(err.to_string().contains("1073741824"), "{err}");
    assert!(err.to_string().contains("4096"), "{err}");

    let mut decoder = FrameDecoder::new(HANDSHAKE_MAX_FRAME);
    decoder.push(&header);
    assert_eq!(decoder.bytes_wanted(), Err(err.clone()));
    assert_eq!(decoder.next_frame(), Err(err.clone()));
    // Nothing was reserved for the claimed gigabyte.
    assert_eq!(decoder.read_buffer().map(|b| b.len()), Err(err.clone()));
    assert!(decoder.buffer_capacity() < 64);

    // A frame exactly at the limit is fine.
    let at_limit = framed(&[7; 16]);
    assert!(parse_frame(&at_limit, 16).unwrap().is_some());
    assert!(parse_frame(&at_limit, 15).is_err());
}

#[test]
fn decoder_reassembles_frames_fed_byte_by_byte() {
    let mut stream = Vec::new();
    for body in [&b"one"[..], b"two!", &[9; 100]] {
        stream.extend_from_slice(&framed(body));
    }
    let mut decoder = FrameDecoder::new(1024);
    let mut bodies = Vec::new();
    for byte in &stream {
        decoder.push(std::slice::from_ref(byte));
        while let Some(body) = decoder.next_frame().unwrap() {
            bodies.push(body.to_vec());
        }
    }
    assert_eq!(
        bodies,
        vec![b"one".to_vec(), b"two!".to_vec(), vec![9; 100]]
    );
    assert_eq!(decoder.finish(), Ok(()));
    assert_eq!(decoder.bytes_wanted(), Ok(FRAME_HEADER_LEN));
}

#[test]
fn a_stream_ending_inside_a_frame_is_truncated() {
    let bytes = framed(b"hello");
    let mut decoder = FrameDecoder::new(16);
    decoder.push(&bytes[..6]);
    assert_eq!(decoder.next_frame(), Ok(None));
    assert_eq!(decoder.bytes_wanted(), Ok(3));
    let err = decoder.finish().unwrap_err();
    assert_eq!(
        err,
        FrameError::Truncated {
            received: 6,
            needed: Some(9)
        }
    );
    assert!(err.to_string().contains("6 of 9"), "{err}");

    let mut in_header = FrameDecoder::new(16);
    in_header.push(&bytes[..2]);
    assert_eq!(
        in_header.finish(),
        Err(FrameError::Truncated {
            received: 2,
            needed: None
        })
    );
}

#[test]
fn raising_the_limit_keeps_buffered_bytes() {
    let mut decoder = FrameDecoder::new(4);
    let mut stream = framed(b"hs");
    stream.extend_from_slice(&framed(&[1; 10]));
    decoder.push(&stream);
    assert_eq!(decoder.next_frame().unwrap(), Some(&b"hs"[..]));
    decoder.set_limit(64);
    assert_eq!(decoder.limit(), 64);
    assert_eq!(decoder.next_frame().unwrap(), Some(&[1; 10][..]));
}

#[test]
fn encode_frame_prefixes_the_length_and_appends() {
    let mut out = vec![0xEE];
    encode_frame(&"hi", 16, &mut out).unwrap();
    // Existing bytes kept; header 3; body: varint length 2, then "hi".
    assert_eq!(out, [0xEE, 3, 0, 0, 0, 2, b'h', b'i']);
    let (body, _) = parse_frame(&out[1..], 16).unwrap().unwrap();
    assert_eq!(
        crate::protocol::codec::decode_exact::<String>(body).unwrap(),
        "hi"
    );
}

#[test]
fn encode_frame_over_the_limit_leaves_no_partial_bytes() {
    let mut out = vec![1, 2, 3];
    let err = encode_frame(&vec![0u8; 100], 50, &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            FrameEncodeError::Oversized {
                size: 101,
                limit: 50
            }
        ),
        "{err:?}"
    );
    assert_eq!(out, [1, 2, 3]);
}

#[test]
fn configured_limits_saturate_to_u32() {
    assert_eq!(frame_limit(16 << 20), 16 << 20);
    assert_eq!(frame_limit(u64::MAX), u32::MAX);
}
