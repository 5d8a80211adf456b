//! Unit tests of `record.rs`: sealing and opening, and every way a record stream is refused.

use super::*;
use crate::protocol::test_hex::encode as hex;

fn key(byte: u8) -> RecordKey {
    RecordKey([byte; KEY_LEN])
}

/// Seals `parts` with a fresh sealer for `key(1)`.
fn sealed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    Sealer::new(&key(1)).seal(parts, &mut out).unwrap();
    out
}

/// Opens all of `records` at once with a fresh opener; the plaintext, or the error.
fn open_all(records: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut opener = Opener::new(&key(1));
    let mut buf = records.to_vec();
    let opened = opener.open_in_place(&mut buf, 0)?;
    assert_eq!(opened, buf.len(), "whole records leave nothing unopened");
    // A failure behind good records is reported by the next call.
    opener.open_in_place(&mut buf, opened)?;
    Ok(buf)
}

/// The records in `stream`, as (start, length with header) pairs.
fn records(stream: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let len = u32::from_le_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
        found.push((at, RECORD_HEADER_LEN + len));
        at += RECORD_HEADER_LEN + len;
    }
    found
}

#[test]
fn parts_are_sealed_as_one_stream_in_records_of_at_most_64_kib() {
    let a = vec![1u8; 50_000];
    let b = vec![2u8; 100_000];
    let stream = sealed(&[&a, &[], &b]);
    let lens: Vec<usize> = records(&stream).iter().map(|(_, len)| *len).collect();
    let overhead = RECORD_HEADER_LEN + TAG_LEN;
    assert_eq!(
        lens,
        [
            MAX_RECORD_PLAINTEXT + overhead,
            MAX_RECORD_PLAINTEXT + overhead,
            150_000 - 2 * MAX_RECORD_PLAINTEXT + overhead
        ]
    );
    let plain = open_all(&stream).unwrap();
    assert_eq!(plain, [a, b].concat());
}

#[test]
fn a_small_turn_is_one_record_and_nothing_is_nothing() {
    let stream = sealed(&[b"ab", b"cd"]);
    assert_eq!(stream.len(), RECORD_HEADER_LEN + 4 + TAG_LEN);
    assert_eq!(open_all(&stream).unwrap(), b"abcd");
    assert!(sealed(&[b"", b""]).is_empty());
}

#[test]
fn records_open_as_they_complete_whatever_the_pieces() {
    let mut sealer = Sealer::new(&key(1));
    let mut stream = Vec::new();
    for i in 0..5u8 {
        sealer.seal(&[&[i; 300]], &mut stream).unwrap();
    }
    let expected: Vec<u8> = (0..5u8).flat_map(|i| [i; 300]).collect();
    for piece in [1, 7, 319, 1000] {
        let mut opener = Opener::new(&key(1));
        let mut buf = Vec::new();
        let mut opened = 0;
        for chunk in stream.chunks(piece) {
            buf.extend_from_slice(chunk);
            opened = opener.open_in_place(&mut buf, opened).unwrap();
            assert!(opened <= buf.len());
        }
        assert_eq!(opened, buf.len());
        assert_eq!(buf, expected, "pieces of {piece}");
    }
}

#[test]
fn any_altered_byte_fails_and_delivers_nothing() {
    let stream = sealed(&[b"a cast to pid 7"]);
    for at in 0..stream.len() {
        let mut altered = stream.clone();
        altered[at] ^= 0x80;
        let mut opener = Opener::new(&key(1));
        let mut buf = altered;
        let result = opener.open_in_place(&mut buf, 0);
        // Either it fails, or (a longer length prefix) it waits for bytes that never come.
        assert!(matches!(result, Err(_) | Ok(0)), "byte {at}: {result:?}");
        if at >= RECORD_HEADER_LEN {
            assert!(result.is_err(), "byte {at}");
        }
    }
}

#[test]
fn a_wrong_key_or_the_other_direction_fails() {
    let stream = sealed(&[b"hello"]);
    let mut buf = stream.clone();
    assert_eq!(
        Opener::new(&key(2)).open_in_place(&mut buf, 0),
        Err(RecordError::Unauthentic { record: 0 })
    );
}

#[test]
fn a_replayed_record_fails() {
    let mut sealer = Sealer::new(&key(1));
    let mut first = Vec::new();
    sealer.seal(&[b"once"], &mut first).unwrap();
    let mut second = Vec::new();
    sealer.seal(&[b"twice?"], &mut second).unwrap();

    // The first record again where the second belongs.
    let replayed = [first.clone(), first.clone()].concat();
    let mut opener = Opener::new(&key(1));
    let mut buf = replayed;
    // The genuine first record is delivered, the replay is not, and the error follows.
    assert_eq!(opener.open_in_place(&mut buf, 0), Ok(4));
    assert_eq!(buf, b"once");
    assert_eq!(
        opener.open_in_place(&mut buf, 4),
        Err(RecordError::Unauthentic { record: 1 })
    );
}

#[test]
fn reordered_records_fail() {
    let mut sealer = Sealer::new(&key(1));
    let mut first = Vec::new();
    sealer.seal(&[b"first"], &mut first).unwrap();
    let mut second = Vec::new();
    sealer.seal(&[b"second"], &mut second).unwrap();
    assert_eq!(
        open_all(&[second, first].concat()),
        Err(RecordError::Unauthentic { record: 0 })
    );
}

#[test]
fn an_injected_record_fails_even_between_genuine_ones() {
    let mut sealer = Sealer::new(&key(1));
    let mut stream = Vec::new();
    sealer.seal(&[b"genuine"], &mut stream).unwrap();
    // A record sealed with another key, where record 1 belongs.
    Sealer::new(&key(9))
        .seal(&[b"injected"], &mut stream)
        .unwrap();
    let mut opener = Opener::new(&key(1));
    let mut buf = stream;
    assert_eq!(opener.open_in_place(&mut buf, 0), Ok(7));
    assert_eq!(buf, b"genuine");
    assert!(opener.open_in_place(&mut buf, 7).is_err());
    // And it stays failed.
    assert!(opener.open_in_place(&mut buf, 7).is_err());
}

#[test]
fn a_bad_length_fails_on_the_prefix_alone() {
    for claimed in [0u32, TAG_LEN as u32, (MAX_RECORD_BODY + 1) as u32, u32::MAX] {
        let mut buf = claimed.to_le_bytes().to_vec();
        assert_eq!(
            Opener::new(&key(1)).open_in_place(&mut buf, 0),
            Err(RecordError::BadLength { claimed, record: 0 }),
            "{claimed}"
        );
    }
    // The bounds themselves are fine: the opener waits for the body.
    for claimed in [TAG_LEN as u32 + 1, MAX_RECORD_BODY as u32] {
        let mut buf = claimed.to_le_bytes().to_vec();
        assert_eq!(Opener::new(&key(1)).open_in_place(&mut buf, 0), Ok(0));
    }
}

#[test]
fn plaintext_before_the_records_stays_in_place() {
    let mut buf = b"handshake".to_vec();
    buf.extend(sealed(&[b"session"]));
    let opened = Opener::new(&key(1)).open_in_place(&mut buf, 9).unwrap();
    assert_eq!(&buf[..opened], b"handshakesession");
    assert_eq!(opened, buf.len());
}

/// Golden bytes: record 0 and record 1 of key 0x42.., carrying "hello" and "world", laid out as
/// PROTOCOL.md "Records" says. Computed independently of this crate (Python's `cryptography`,
/// AES-256-GCM with nonce 00000000 || counter LE and the 4 length bytes as associated data).
#[test]
fn records_match_their_golden_bytes() {
    let mut sealer = Sealer::new(&RecordKey([0x42; KEY_LEN]));
    let mut out = Vec::new();
    sealer.seal(&[b"hello"], &mut out).unwrap();
    sealer.seal(&[b"world"], &mut out).unwrap();
    assert_eq!(hex(&out), GOLDEN_RECORDS);
}

const GOLDEN_RECORDS: &str = "150000009cd793953367d24b0a7958f057298c21eb0bbd4efd\
     150000000ce6a4b8ebcfc860a514256facb4d10c772b85b17c";
