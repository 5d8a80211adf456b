//! The one place that names the binary format.
//!
//! Every value that crosses the wire (protocol messages and the fields of user messages alike) is
//! encoded and decoded here, so the format could be swapped by changing this file alone. The format
//! is bincode 2 with its `standard` configuration: little endian, variable-length integers.
//!
//! Decoding never trusts the input: it reads from a bounded slice (so no length claim inside the
//! bytes can make it allocate more than the slice could hold), it fails instead of panicking, it
//! refuses values nested too deeply or holding more elements than their bytes can (rules C5, C6;
//! see [`shape`]) instead of recursing or looping as the bytes say, and [`decode_exact`] rejects
//! bytes left over after the value (rule C2).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::shape;

/// The bincode configuration used for every value on the wire.
///
/// The limit is a second line of defence: the slice being decoded is already bounded by the frame
/// limit, but the limit also caps what a container may *claim* before its elements are read.
const fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ MAX_DECODE_BYTES }>,
> {
    bincode::config::standard().with_limit::<{ MAX_DECODE_BYTES }>()
}

/// The most bytes a single decoded value may claim (1 GiB), far above any frame limit.
const MAX_DECODE_BYTES: usize = 1 << 30;

/// A value could not be encoded or decoded.
///
/// The text says what was wrong with the bytes or the value; it is meant for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodecError {
    message: String,
}

impl CodecError {
    fn encode(err: &bincode::error::EncodeError) -> Self {
        Self {
            message: format!("cannot encode value: {err}"),
        }
    }

    fn decode(err: &bincode::error::DecodeError) -> Self {
        Self {
            message: format!("malformed bytes: {err}"),
        }
    }

    fn truncated(what: &str) -> Self {
        Self {
            message: format!("malformed bytes: the input ends inside {what}"),
        }
    }

    pub(crate) fn trailing(left: usize) -> Self {
        Self {
            message: format!("{left} unexpected trailing byte(s) after the value"),
        }
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodecError {}

/// Appends the encoding of `value` to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, config())
        .map(|_| ())
        .map_err(|e| CodecError::encode(&e))
}

/// Encodes `value` into a new buffer.
pub(crate) fn encode_to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Decodes one value from the start of `bytes`, returning it and the number of bytes it used.
///
/// Allocation stays proportional to `bytes.len()` (PROTOCOL.md, rule C4): see [`claim_limit_for`].
pub(crate) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    // bincode sizes a string or byte buffer from its length prefix and allocates it *before* it checks
    // that the input holds that many bytes; the only guard is the configured limit on claimed bytes.
    // With a fixed 1 GiB limit a 10-byte body could make us allocate ~1 GiB, so the limit follows the
    // input. It is a const generic, hence one instantiation per tier.
    const KIB_64: usize = 1 << 16;
    const KIB_256: usize = 1 << 18;
    const MIB_1: usize = 1 << 20;
    const MIB_4: usize = 1 << 22;
    const MIB_16: usize = 1 << 24;
    const MIB_64: usize = 1 << 26;
    const MIB_256: usize = 1 << 28;
    match claim_limit_for(bytes.len()) {
        KIB_64 => decode_with_limit::<T, KIB_64>(bytes),
        KIB_256 => decode_with_limit::<T, KIB_256>(bytes),
        MIB_1 => decode_with_limit::<T, MIB_1>(bytes),
        MIB_4 => decode_with_limit::<T, MIB_4>(bytes),
        MIB_16 => decode_with_limit::<T, MIB_16>(bytes),
        MIB_64 => decode_with_limit::<T, MIB_64>(bytes),
        MIB_256 => decode_with_limit::<T, MIB_256>(bytes),
        _ => decode_with_limit::<T, MAX_DECODE_BYTES>(bytes),
    }
}

/// How many bytes a value decoded from `input_len` bytes may claim.
///
/// bincode counts every primitive at its in-memory size (a `u128` claims 16 bytes even when its
/// varint takes one), so a well-formed value never claims more than 16 times its encoded length.
/// The limit is the smallest power-of-four tier, from 64 KiB up to 1 GiB, at or above that bound.
fn claim_limit_for(input_len: usize) -> usize {
    const MOST_CLAIMED_PER_ENCODED_BYTE: usize = 16;
    let needed = input_len.saturating_mul(MOST_CLAIMED_PER_ENCODED_BYTE);
    let mut tier: usize = 1 << 16;
    while tier < needed && tier < MAX_DECODE_BYTES {
        tier <<= 2;
    }
    tier.min(MAX_DECODE_BYTES)
}

fn decode_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), CodecError> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    // Within rules C5 and C6: bincode itself recurses as deep, and loops as long, as the bytes say.
    bincode::serde::seed_decode_from_slice(shape::Limited::<T>::new(bytes.len()), bytes, config)
        .map_err(|e| CodecError::decode(&e))
}

/// Decodes exactly one value from `bytes`; bytes left over are an error.
pub(crate) fn decode_exact<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = decode_prefix(bytes)?;
    let left = bytes.len().saturating_sub(used);
    if left == 0 {
        Ok(value)
    } else {
        Err(CodecError::trailing(left))
    }
}

// bincode's varint: a value below 251 is its own byte; larger values are a marker byte and the
// value in little endian at the marker's width.
const VARINT_U16: u8 = 251;
const VARINT_U32: u8 = 252;
const VARINT_U64: u8 = 253;

/// Appends `value` as the format's variable-length integer. Written by hand because it is on the
/// hot path of every message (the variant name and each byte payload start with one); the bytes are
/// the same as encoding a `u64` with [`encode_into`], which a test checks.
pub(crate) fn write_varint(value: u64, out: &mut Vec<u8>) {
    match value {
        0..=250 => out.push(value as u8),
        251..=0xFFFF => {
            out.push(VARINT_U16);
            out.extend_from_slice(&(value as u16).to_le_bytes());
        }
        0x1_0000..=0xFFFF_FFFF => {
            out.push(VARINT_U32);
            out.extend_from_slice(&(value as u32).to_le_bytes());
        }
        _ => {
            out.push(VARINT_U64);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

/// How many bytes [`write_varint`] appends for `value`.
pub(crate) fn varint_len(value: u64) -> usize {
    match value {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFFFF_FFFF => 5,
        _ => 9,
    }
}

/// Reads a variable-length integer from the start of `input`: the value and the bytes it took.
pub(crate) fn read_varint(input: &[u8]) -> Result<(u64, usize), CodecError> {
    fn fixed<const N: usize>(input: &[u8]) -> Result<[u8; N], CodecError> {
        input
            .get(1..=N)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| CodecError::truncated("a variable-length integer"))
    }
    match input.first() {
        None => Err(CodecError::truncated("a variable-length integer")),
        Some(&small) if small < VARINT_U16 => Ok((u64::from(small), 1)),
        Some(&VARINT_U16) => Ok((u64::from(u16::from_le_bytes(fixed(input)?)), 3)),
        Some(&VARINT_U32) => Ok((u64::from(u32::from_le_bytes(fixed(input)?)), 5)),
        Some(&VARINT_U64) => Ok((u64::from_le_bytes(fixed(input)?), 9)),
        Some(&other) => Err(CodecError {
            message: format!("malformed bytes: invalid variable-length integer marker {other}"),
        }),
    }
}

/// Appends a byte string: its length as a varint, then the bytes (what serde's `serialize_bytes`
/// writes through [`encode_into`]).
pub(crate) fn write_byte_string(bytes: &[u8], out: &mut Vec<u8>) {
    write_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Splits a byte string off the front of `input`: `(the string, what follows)`. The claimed length
/// is checked against what is there before anything is touched (PROTOCOL.md, rule C4).
pub(crate) fn read_byte_string(input: &[u8]) -> Result<(&[u8], &[u8]), CodecError> {
    let (len, used) = read_varint(input)?;
    let body = input.get(used..).unwrap_or_default();
    match usize::try_from(len) {
        Ok(len) if len <= body.len() => Ok(body.split_at(len)),
        _ => Err(CodecError {
            message: format!(
                "malformed bytes: a byte string claims {len} bytes but only {} remain",
                body.len()
            ),
        }),
    }
}

/// Byte payloads as one length (varint) followed by the raw bytes (rule C1), instead of serde's
/// default for `Vec<u8>`, a sequence of separately encoded `u8`s.
pub(crate) mod payload {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(in crate::protocol) fn serialize<B, S>(bytes: &B, serializer: S) -> Result<S::Ok, S::Error>
    where
        B: AsRef<[u8]> + ?Sized,
        S: Serializer,
    {
        serializer.serialize_bytes(bytes.as_ref())
    }

    pub(in crate::protocol) fn deserialize<'de, D>(deserializer: D) -> Result<Vec<u8>, D::Error>
    where
        D: Deserializer<'de>,
    {
        // `deserialize_bytes` rather than `deserialize_byte_buf`: on a slice, the codec then checks
        // the claimed length against the bytes actually present before anything is copied, so a
        // lying length costs no allocation (rule C4).
        deserializer.deserialize_bytes(PayloadVisitor)
    }

    struct PayloadVisitor;

    impl<'de> Visitor<'de> for PayloadVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        // Self-describing formats may present bytes as a sequence; accept that too.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Capacity is capped, not trusted: the hint comes from the peer.
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

/// Splits a string off the front of `input`, as [`read_byte_string`] does, and checks that it is
/// UTF-8, as decoding a `String` with the codec does: `(the string, what follows)`.
pub(crate) fn read_str(input: &[u8]) -> Result<(&str, &[u8]), CodecError> {
    let (bytes, rest) = read_byte_string(input)?;
    let text = std::str::from_utf8(bytes).map_err(|err| CodecError {
        message: format!("malformed bytes: a string is not UTF-8: {err}"),
    })?;
    Ok((text, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_varints_and_byte_strings_match_the_format() {
        for value in [
            0u64,
            1,
            250,
            251,
            255,
            0xFFFF,
            0x1_0000,
            0xFFFF_FFFF,
            1 << 32,
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            write_varint(value, &mut ours);
            assert_eq!(ours, encode_to_vec(&value).unwrap(), "{value}");
            assert_eq!(read_varint(&ours).unwrap(), (value, ours.len()));
            assert_eq!(varint_len(value), ours.len(), "{value}");
        }
        for len in [0usize, 3, 250, 251, 70_000] {
            let bytes = vec![7u8; len];
            let mut ours = Vec::new();
            write_byte_string(&bytes, &mut ours);
            struct AsBytes<'a>(&'a [u8]);
            impl Serialize for AsBytes<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(self.0)
                }
            }
            assert_eq!(ours, encode_to_vec(&AsBytes(&bytes)).unwrap(), "{len}");
            ours.push(9);
            assert_eq!(read_byte_string(&ours).unwrap(), (&bytes[..], &[9u8][..]));
        }
    }

    #[test]
    fn truncated_or_lying_byte_strings_are_errors() {
        assert!(read_varint(&[]).is_err());
        assert!(read_varint(&[VARINT_U32, 1, 2]).is_err());
        assert!(read_varint(&[255]).is_err());
        assert!(read_byte_string(&[5, 1, 2]).is_err());
        assert!(
            read_byte_string(&[VARINT_U64, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
                .is_err()
        );
    }

    #[test]
    fn round_trips_and_rejects_trailing_bytes() {
        let bytes = encode_to_vec(&(7u32, String::from("seven"))).unwrap();
        let back: (u32, String) = decode_exact(&bytes).unwrap();
        assert_eq!(back, (7, "seven".to_owned()));

        let mut longer = bytes.clone();
        longer.push(0);
        let err = decode_exact::<(u32, String)>(&longer).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
    }

    #[test]
    fn the_claim_limit_follows_the_input_length() {
        assert_eq!(claim_limit_for(0), 1 << 16);
        assert_eq!(claim_limit_for(4096), 1 << 16);
        assert_eq!(claim_limit_for(4097), 1 << 18);
        assert_eq!(claim_limit_for(1 << 20), 1 << 24);
        assert_eq!(claim_limit_for((1 << 20) + 1), 1 << 26);
        assert_eq!(claim_limit_for(usize::MAX), MAX_DECODE_BYTES);
    }

    #[test]
    fn a_length_claim_beyond_the_input_is_refused_before_allocating() {
        // A string claiming 200 MiB (varint tag 252, then u32) in a 5-byte input: with a fixed 1 GiB
        // limit bincode would allocate the 200 MiB before noticing the input is short.
        let mut bytes = vec![252];
        bytes.extend_from_slice(&(200u32 << 20).to_le_bytes());
        let err = decode_exact::<String>(&bytes).unwrap_err();
        assert!(err.to_string().contains("Limit"), "{err}");
        // Many small integers still decode: they claim 8 bytes each but take one.
        let many = vec![1u64; 10_000];
        let bytes = encode_to_vec(&many).unwrap();
        assert_eq!(decode_exact::<Vec<u64>>(&bytes).unwrap(), many);
    }

    #[test]
    fn a_huge_length_claim_fails_without_allocating() {
        // A varint claiming u64::MAX elements, followed by nothing.
        let bytes = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(decode_exact::<Vec<u64>>(&bytes).is_err());
        assert!(decode_exact::<String>(&bytes).is_err());
        assert!(decode_exact::<Vec<u8>>(&bytes).is_err());
    }
}
