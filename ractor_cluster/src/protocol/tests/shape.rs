#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ELEMENTS_BEYOND_LENGTH, MAX_DEPTH};
use crate::protocol::codec::{decode_exact, decode_prefix, encode_to_vec};

/// A recursive type, as a user message field may be: one level of enum per link.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Chain {
    End,
    Link(Box<Chain>),
}

/// The wire bytes of a `Chain` of `links` links: the `Link` tag (1) per link, then the `End` tag.
fn chain_bytes(links: usize) -> Vec<u8> {
    ones_then_zero(links)
}

fn chain(links: usize) -> Chain {
    (0..links).fold(Chain::End, |inner, _| Chain::Link(Box::new(inner)))
}

#[test]
fn the_wire_bytes_of_a_chain_are_one_tag_per_link() {
    assert_eq!(encode_to_vec(&chain(3)).unwrap(), chain_bytes(3));
}

#[test]
fn a_value_nested_to_the_limit_decodes_and_one_level_more_is_refused() {
    // Each link is one enum level, and the `End` at the bottom is one more.
    let deepest = MAX_DEPTH - 1;
    let decoded: Chain = decode_exact(&chain_bytes(deepest)).unwrap();
    drop(decoded);
    let err = decode_exact::<Chain>(&chain_bytes(deepest + 1)).unwrap_err();
    assert!(err.to_string().contains("nests deeper"), "{err}");
}

#[test]
fn a_deeply_nested_frame_is_refused_instead_of_overflowing_the_stack() {
    // A million levels in a megabyte: without the limit the recursion would need far more stack
    // than the 1 MiB this thread has (hundreds of bytes a level), and the process would abort.
    let bytes = chain_bytes(1 << 20);
    let outcome = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || decode_exact::<Chain>(&bytes).map(|_| ()))
        .unwrap()
        .join()
        .unwrap();
    assert!(outcome.is_err());
}

/// `ones` bytes of 1 then a 0: for the types below, `ones` nested containers of one element around
/// an empty (or absent) innermost one.
fn ones_then_zero(ones: usize) -> Vec<u8> {
    let mut bytes = vec![1u8; ones];
    bytes.push(0);
    bytes
}

/// A `Vec` of itself (transparent: each level is one sequence and nothing else).
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct NestedVec(Vec<NestedVec>);

/// An optional box of itself: each `Some` is one level, the final `None` none.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct NestedOption(Option<Box<NestedOption>>);

/// A map from a byte to itself: each map is one level.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct NestedMap(BTreeMap<u8, NestedMap>);

#[test]
fn sequences_options_and_maps_each_count_one_level() {
    // `MAX_DEPTH` sequences (the innermost empty) decode; one more does not.
    assert!(decode_exact::<NestedVec>(&ones_then_zero(MAX_DEPTH - 1)).is_ok());
    assert!(decode_exact::<NestedVec>(&ones_then_zero(MAX_DEPTH)).is_err());

    // `MAX_DEPTH` times `Some` decode; one more does not.
    assert!(decode_exact::<NestedOption>(&ones_then_zero(MAX_DEPTH)).is_ok());
    assert!(decode_exact::<NestedOption>(&ones_then_zero(MAX_DEPTH + 1)).is_err());

    // Maps of one entry (length 1, key 0) around an empty one: `MAX_DEPTH` decode, one more not.
    let maps = |levels: usize| {
        let mut bytes = [1u8, 0].repeat(levels - 1);
        bytes.push(0);
        bytes
    };
    assert!(decode_exact::<NestedMap>(&maps(MAX_DEPTH)).is_ok());
    assert!(decode_exact::<NestedMap>(&maps(MAX_DEPTH + 1)).is_err());
}

#[test]
fn values_within_the_limit_decode_unchanged() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Mixed {
        list: Vec<Option<BTreeMap<u8, (u8, String)>>>,
        chain: Chain,
    }
    let value = Mixed {
        list: vec![Some(BTreeMap::from([(1, (2, "three".to_owned()))])), None],
        chain: chain(10),
    };
    let back: Mixed = decode_exact(&encode_to_vec(&value).unwrap()).unwrap();
    assert_eq!(back, value);
}

/// Takes no bytes on the wire.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Unit;

/// Runs `decode` on its own thread and gives its outcome, or `None` if it has not finished within
/// `limit` (the thread is then left behind: without the bound under test it would never end).
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    decode: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(decode());
    });
    outcome.recv_timeout(limit).ok()
}

#[test]
fn elements_that_take_no_bytes_cannot_be_claimed_without_end() {
    // A `Vec` of unit structs claiming 2^64 - 1 elements, in 9 bytes: every element decodes from
    // nothing, so without the element budget the decoder would loop for ever.
    let mut bytes = vec![253];
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    let outcome = within(std::time::Duration::from_secs(10), move || {
        decode_exact::<Vec<Unit>>(&bytes).map(|units| units.len())
    });
    let err = outcome.expect("the decoder must stop").unwrap_err();
    assert!(err.to_string().contains("more elements"), "{err}");

    // Within the budget (the body's length plus `ELEMENTS_BEYOND_LENGTH`), such a value decodes.
    let units: Vec<Unit> = (0..1_000).map(|_| Unit).collect();
    let bytes = encode_to_vec(&units).unwrap();
    assert_eq!(decode_exact::<Vec<Unit>>(&bytes).unwrap(), units);
    let too_many: Vec<Unit> = (0..ELEMENTS_BEYOND_LENGTH + 16).map(|_| Unit).collect();
    assert!(decode_exact::<Vec<Unit>>(&encode_to_vec(&too_many).unwrap()).is_err());
}

#[test]
fn the_budget_counts_the_elements_of_every_sequence_and_map_of_the_value() {
    // Two sequences of unit structs, each within the budget alone, are not together.
    let half: Vec<Unit> = (0..ELEMENTS_BEYOND_LENGTH / 2 + 8).map(|_| Unit).collect();
    let both = (
        half,
        (0..ELEMENTS_BEYOND_LENGTH / 2 + 8)
            .map(|_| Unit)
            .collect::<Vec<_>>(),
    );
    let bytes = encode_to_vec(&both).unwrap();
    assert!(decode_exact::<(Vec<Unit>, Vec<Unit>)>(&bytes).is_err());
    assert!(decode_exact::<Vec<Unit>>(&encode_to_vec(&both.0).unwrap()).is_ok());
}

/// Records the size hint its sequence announced, and reads none of it.
#[derive(Debug)]
struct Hint(Option<usize>);

impl<'de> Deserialize<'de> for Hint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Peek;
        impl<'de> serde::de::Visitor<'de> for Peek {
            type Value = Hint;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Hint, A::Error> {
                Ok(Hint(seq.size_hint()))
            }
        }
        deserializer.deserialize_seq(Peek)
    }
}

#[test]
fn a_sequence_announces_no_more_elements_than_the_body_has_bytes() {
    // serde reserves room for as many elements as the hint says (up to 1 MiB of them): a 9-byte
    // body claiming 2^64 - 1 elements may make it reserve room for 9.
    let mut bytes = vec![253];
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    let (Hint(hint), _) = decode_prefix::<Hint>(&bytes).unwrap();
    assert_eq!(hint, Some(bytes.len()));
}
