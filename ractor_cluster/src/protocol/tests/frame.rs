//! Unit tests of `frame.rs`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::protocol::record::MAX_RECORD_BODY;

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

// Sealed streams: records opened where they lie, frames read from them in place.

use crate::protocol::record::{RecordKey, Sealer, KEY_LEN};

fn record_key() -> RecordKey {
    RecordKey([3; KEY_LEN])
}

fn sealed_decoder(limit: u32) -> FrameDecoder {
    let mut decoder = FrameDecoder::new(limit);
    decoder.start_opening(Opener::new(&record_key()));
    decoder
}

/// `stream` sealed in records of the given plaintext sizes, in turn, the last repeated.
fn records_cut(stream: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut sealer = Sealer::new(&record_key());
    let mut plain = stream.to_vec();
    let mut rest = plain.as_mut_slice();
    let mut wire = Vec::new();
    let mut sizes = sizes.iter().copied();
    let mut size = 1;
    while !rest.is_empty() {
        size = sizes.next().unwrap_or(size);
        let (body, after) = rest.split_at_mut(size.min(rest.len()));
        let envelope = sealer.seal_in_place(body).unwrap();
        wire.extend_from_slice(&envelope.header);
        wire.extend_from_slice(body);
        wire.extend_from_slice(&envelope.tag);
        rest = after;
    }
    wire
}

/// Reads every frame of `wire` as the network reader does (`read_buffer`, then `bytes_read`), at
/// most `chunk` bytes per read; the bodies, and the largest the buffer's capacity grew.
fn read_as_the_network_does(
    decoder: &mut FrameDecoder,
    wire: &[u8],
    chunk: usize,
) -> (Vec<Vec<u8>>, usize) {
    let mut bodies = Vec::new();
    let mut rest = wire;
    let mut largest = 0;
    loop {
        while let Some(range) = decoder.next_frame_range().unwrap() {
            bodies.push(decoder.body(range).to_vec());
        }
        if rest.is_empty() {
            decoder.finish().unwrap();
            return (bodies, largest);
        }
        let buffer = decoder.read_buffer().unwrap();
        let room = buffer.capacity() - buffer.len();
        assert!(room > 0);
        let (now, later) = rest.split_at(rest.len().min(room).min(chunk));
        buffer.extend_from_slice(now);
        rest = later;
        decoder.bytes_read();
        largest = largest.max(decoder.buffer_capacity());
    }
}

#[test]
fn a_record_that_starts_on_a_frame_is_read_where_it_arrived() {
    let mut decoder = sealed_decoder(1024);
    let stream = [framed(b"first"), framed(b"second")].concat();
    decoder.push(&records_cut(&stream, &[stream.len()]));
    // Behind the record's and the frame's length prefixes: not moved to the buffer's start.
    let first = decoder.next_frame_range().unwrap().unwrap();
    assert_eq!(first.start, RECORD_HEADER_LEN + FRAME_HEADER_LEN);
    assert_eq!(decoder.body(first), b"first");
    let second = decoder.next_frame_range().unwrap().unwrap();
    assert_eq!(second.start, RECORD_HEADER_LEN + 2 * FRAME_HEADER_LEN + 5);
    assert_eq!(decoder.body(second), b"second");
    assert_eq!(decoder.next_frame(), Ok(None));
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn frames_cut_by_record_boundaries_are_joined_wherever_the_cut() {
    let bodies: Vec<Vec<u8>> = [3, 5000, 1, 70_000, 12]
        .iter()
        .enumerate()
        .map(|(i, &len)| (0..len).map(|j| (i * 7 + j % 251) as u8).collect())
        .collect();
    let stream: Vec<u8> = bodies.iter().flat_map(|body| framed(body)).collect();
    for sizes in [
        // Each frame's first bytes in one record, the rest in the next (what is pending moves up).
        &[5, 10, 4000, 2000][..],
        // A long pending part, then short records (the new part moves down).
        &[6000, 1, 2, 3],
        // Records at the bound, as a writer cuts a turn above it.
        &[MAX_RECORD_PLAINTEXT],
        &[1],
    ] {
        let wire = records_cut(&stream, sizes);
        for chunk in [7, 1000, usize::MAX] {
            let mut decoder = sealed_decoder(1 << 20);
            let (got, _) = read_as_the_network_does(&mut decoder, &wire, chunk);
            assert_eq!(got, bodies, "records of {sizes:?}, reads of {chunk}");
        }
    }
}

#[test]
fn records_of_one_byte_keep_the_buffer_within_its_bound() {
    // 21 bytes on the wire per byte of frame: the buffer must not keep the envelopes of the
    // records it opened, or it would grow to many times the frame.
    let body = vec![0x33; 40_000];
    let wire = records_cut(&framed(&body), &[1]);
    let mut decoder = sealed_decoder(64 * 1024);
    let (got, largest) = read_as_the_network_does(&mut decoder, &wire, usize::MAX);
    assert_eq!(got, [body]);
    assert!(
        largest <= 2 * READ_CHUNK + 2 * (RECORD_HEADER_LEN + TAG_LEN) + MAX_RECORD_BODY,
        "{largest}"
    );
}

#[test]
fn a_sealed_decoder_makes_room_for_the_record_in_progress_not_for_the_largest_record() {
    // An idle session: heartbeats and calls in small records. Room for the largest record
    // possible (64 KiB) beside a read chunk would reserve 128 KiB for each session.
    let stream = [framed(b"heartbeat"), framed(b"call"), framed(b"reply")].concat();
    let wire = records_cut(&stream, &[13, 8, 9]);
    let mut decoder = sealed_decoder(1 << 20);
    decoder.set_growing_read_chunk();
    let (got, largest) = read_as_the_network_does(&mut decoder, &wire, 7);
    assert_eq!(
        got,
        [b"heartbeat".to_vec(), b"call".to_vec(), b"reply".to_vec()]
    );
    assert!(largest <= 2 * FIRST_READ_CHUNK, "{largest}");
    // Full records still open, whatever the reads: the room grows to hold the one in progress.
    let bodies: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 100_000]).collect();
    let stream: Vec<u8> = bodies.iter().flat_map(|body| framed(body)).collect();
    for chunk in [1000, usize::MAX] {
        let mut decoder = sealed_decoder(1 << 20);
        decoder.set_growing_read_chunk();
        let (got, _) = read_as_the_network_does(
            &mut decoder,
            &records_cut(&stream, &[MAX_RECORD_PLAINTEXT]),
            chunk,
        );
        assert_eq!(got, bodies);
    }
}

#[test]
fn reads_that_fill_the_room_grow_it_up_to_a_read_chunk() {
    let bodies: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_le_bytes().repeat(25)).collect();
    let stream: Vec<u8> = bodies.iter().flat_map(|body| framed(body)).collect();
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder.set_growing_read_chunk();
    let (got, largest) = read_as_the_network_does(&mut decoder, &stream, usize::MAX);
    assert_eq!(got, bodies);
    assert_eq!(
        largest, READ_CHUNK,
        "the room doubled from {FIRST_READ_CHUNK} and stopped"
    );
    // Reads that never fill it leave it small.
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder.set_growing_read_chunk();
    let (got, largest) = read_as_the_network_does(&mut decoder, &stream, 1000);
    assert_eq!(got, bodies);
    assert_eq!(largest, FIRST_READ_CHUNK);
}

#[test]
fn a_tampered_record_delivers_none_of_its_frames() {
    let stream = [framed(b"one"), framed(b"two"), framed(b"three")].concat();
    // Records: "one" whole, then "two" and the start of "three", then the rest of "three".
    let mut wire = records_cut(&stream, &[7, 12, 100]);
    let second_record = RECORD_HEADER_LEN + 7 + TAG_LEN;
    wire[second_record + RECORD_HEADER_LEN + 2] ^= 0x10;
    let mut decoder = sealed_decoder(1024);
    decoder.push(&wire);
    assert_eq!(decoder.next_frame(), Ok(Some(&b"one"[..])));
    assert_eq!(
        decoder.next_frame(),
        Err(FrameError::Record(RecordError::Unauthentic { record: 1 }))
    );
    // And the stream stays failed: nothing of the records behind it either.
    assert!(decoder.next_frame().is_err());
}
