//! Sealed records: the byte stream of frames after the handshake, authenticated and encrypted
//! (PROTOCOL.md, "Records").
//!
//! A sealed session does not protect frames one by one. The sender cuts the stream of frame bytes
//! it writes into *records* of at most [`MAX_RECORD_PLAINTEXT`] bytes (one record per writer turn
//! when the turn is small, so a burst of small casts costs one seal), and seals each with
//! AES-256-GCM:
//!
//! ```text
//! +---------------------+----------------------------------+-----------+
//! | length: u32 LE (4)  | ciphertext (length - 16 bytes)   | tag (16)  |
//! +---------------------+----------------------------------+-----------+
//!   nonce = 0u32 LE || counter u64 LE       aad = the 4 length bytes
//! ```
//!
//! The nonce is not sent: each direction counts its records from 0, so a record that is replayed,
//! reordered, dropped or injected is opened with the wrong nonce and fails like a forged one. The
//! receiver opens records in place in its read buffer and hands on only the bytes of records that
//! opened; the first record that fails ends the stream ([`RecordError`]).

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// Bytes of a record's length prefix.
pub(crate) const RECORD_HEADER_LEN: usize = 4;

/// Bytes of the authentication tag that ends every record.
pub(crate) const TAG_LEN: usize = 16;

/// The most plaintext bytes one record carries (rule R2).
pub(crate) const MAX_RECORD_PLAINTEXT: usize = 64 * 1024;

/// The most bytes a record's length prefix may announce: a full record's ciphertext and tag.
pub(crate) const MAX_RECORD_BODY: usize = MAX_RECORD_PLAINTEXT + TAG_LEN;

/// Bytes of a record key.
pub(crate) const KEY_LEN: usize = 32;

/// The key of one direction of a session, as the key schedule derives it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RecordKey(pub(crate) [u8; KEY_LEN]);

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordKey(<redacted>)")
    }
}

/// Why a record stream ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum RecordError {
    /// A length prefix announces an empty record or one above the bound (rule R2). The peer's fault.
    BadLength {
        /// The length the peer announced.
        claimed: u32,
        /// The record's number in its direction.
        record: u64,
    },
    /// A record did not open: forged, corrupted, replayed, reordered or injected (rule R4). The
    /// peer's fault, or that of whatever sits between the two nodes.
    Unauthentic {
        /// The record's number in its direction.
        record: u64,
    },
    /// 2^64 records went one way: the nonces are used up. Never happens in practice; the session
    /// ends rather than reuse a nonce.
    Exhausted,
    /// We could not seal our own record. A bug.
    Seal,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::BadLength { claimed, record } => write!(
                f,
                "sealed record {record} announces {claimed} bytes, outside {}..={MAX_RECORD_BODY}",
                TAG_LEN + 1
            ),
            RecordError::Unauthentic { record } => write!(
                f,
                "sealed record {record} failed to open (forged, corrupted, replayed or out of order)"
            ),
            RecordError::Exhausted => f.write_str("record counter exhausted"),
            RecordError::Seal => f.write_str("cannot seal a record"),
        }
    }
}

impl std::error::Error for RecordError {}

/// The nonce of record `counter`: four zero bytes, then the counter, little endian (rule R3).
fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    for (slot, byte) in bytes.iter_mut().skip(4).zip(counter.to_le_bytes()) {
        *slot = byte;
    }
    Nonce::assume_unique_for_key(bytes)
}

fn aead_key(key: &RecordKey) -> LessSafeKey {
    // ring refuses a key only if its length is wrong for the algorithm; ours is always 32 bytes,
    // which AES-256 takes. A failure here would be a bug in ring's contract, not peer input.
    #[allow(clippy::expect_used)]
    let unbound = UnboundKey::new(&AES_256_GCM, &key.0).expect("a 32-byte key suits AES-256-GCM");
    LessSafeKey::new(unbound)
}

/// Seals the outgoing byte stream of one direction into records.
pub(crate) struct Sealer {
    key: LessSafeKey,
    next: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer whose first record is number 0.
    pub(crate) fn new(key: &RecordKey) -> Self {
        Self {
            key: aead_key(key),
            next: 0,
        }
    }

    /// Appends to `out` the records that carry the bytes of `parts`, in order, as one stream: as
    /// few records as the bound allows, each filled to [`MAX_RECORD_PLAINTEXT`] but the last.
    ///
    /// The plaintext is copied into `out` once and encrypted there, so sealing allocates nothing
    /// once `out` has grown to a turn's size. On error `out` may hold a partial record: the
    /// stream must end.
    pub(crate) fn seal(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), RecordError> {
        let mut remaining: usize = parts.iter().map(|part| part.len()).sum();
        let mut parts = parts.iter().copied();
        let mut current: &[u8] = &[];
        out.reserve(
            remaining + remaining.div_ceil(MAX_RECORD_PLAINTEXT) * (RECORD_HEADER_LEN + TAG_LEN),
        );
        while remaining > 0 {
            let len = remaining.min(MAX_RECORD_PLAINTEXT);
            // `len + TAG_LEN` is at most 64 KiB + 16: it fits in a u32.
            let header = u32::try_from(len + TAG_LEN)
                .map_err(|_| RecordError::Seal)?
                .to_le_bytes();
            out.extend_from_slice(&header);
            let body_start = out.len();
            let mut wanted = len;
            while wanted > 0 {
                if current.is_empty() {
                    current = parts.next().ok_or(RecordError::Seal)?;
                    continue;
                }
                let (take, rest) = current.split_at(wanted.min(current.len()));
                out.extend_from_slice(take);
                wanted -= take.len();
                current = rest;
            }
            let counter = self.take_counter()?;
            let body = out.get_mut(body_start..).ok_or(RecordError::Seal)?;
            let tag = self
                .key
                .seal_in_place_separate_tag(nonce(counter), Aad::from(header), body)
                .map_err(|_| RecordError::Seal)?;
            out.extend_from_slice(tag.as_ref());
            remaining -= len;
        }
        Ok(())
    }

    fn take_counter(&mut self) -> Result<u64, RecordError> {
        let counter = self.next;
        self.next = counter.checked_add(1).ok_or(RecordError::Exhausted)?;
        Ok(counter)
    }
}

/// Opens the incoming records of one direction, in place.
pub(crate) struct Opener {
    key: LessSafeKey,
    next: u64,
    /// The first record that failed, reported once the records before it have been read.
    failed: Option<RecordError>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("next", &self.next)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener expecting record number 0 first.
    pub(crate) fn new(key: &RecordKey) -> Self {
        Self {
            key: aead_key(key),
            next: 0,
            failed: None,
        }
    }

    /// Opens every whole record in `buf[opened..]`.
    ///
    /// `buf[..opened]` holds plaintext already opened; the bytes after it are records as they
    /// arrived. Each record that opens has its plaintext moved down to follow the plaintext before
    /// it, so `buf[..returned]` is plaintext and the rest the start of the next record, if any.
    /// The work is linear in the bytes opened.
    ///
    /// A record's length is checked as soon as its prefix is in (rule R2), before the rest is
    /// awaited. The first record that fails to open ends the stream: if records before it opened
    /// in the same call, their plaintext is returned and the error comes with the next call; the
    /// failed record's bytes are never returned.
    pub(crate) fn open_in_place(
        &mut self,
        buf: &mut Vec<u8>,
        opened: usize,
    ) -> Result<usize, RecordError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let mut write = opened;
        let mut read = opened;
        let outcome = loop {
            match self.open_one(buf, read, write) {
                Ok(Some((consumed, plain))) => {
                    read += consumed;
                    write += plain;
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        if read > write {
            // Moves the incomplete record behind the plaintext, closing the gaps the record
            // headers and tags leave.
            buf.copy_within(read.., write);
            buf.truncate(buf.len() - (read - write));
        }
        match outcome {
            Ok(()) => Ok(write),
            Err(err) if write > opened => {
                self.failed = Some(err);
                // Nothing of the failed record is kept.
                buf.truncate(write);
                Ok(write)
            }
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Opens the record at `buf[read..]` if it is all there and moves its plaintext to `write`;
    /// returns the record's length and its plaintext's.
    fn open_one(
        &mut self,
        buf: &mut [u8],
        read: usize,
        write: usize,
    ) -> Result<Option<(usize, usize)>, RecordError> {
        let Some(rest) = buf.get(read..) else {
            return Ok(None);
        };
        let Some((header, _)) = rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
            return Ok(None);
        };
        let header = *header;
        let claimed = u32::from_le_bytes(header);
        let body_len = usize::try_from(claimed).unwrap_or(usize::MAX);
        if !(TAG_LEN + 1..=MAX_RECORD_BODY).contains(&body_len) {
            // PROTOCOL.md rule R2: judged on the prefix alone, before the body is awaited.
            return Err(RecordError::BadLength {
                claimed,
                record: self.next,
            });
        }
        let body_start = read + RECORD_HEADER_LEN;
        let Some(body) = buf.get_mut(body_start..body_start + body_len) else {
            return Ok(None);
        };
        let record = self.next;
        // PROTOCOL.md rules R3 and R4: the expected counter is the nonce; any other record fails.
        let plain_len = self
            .key
            .open_in_place(nonce(record), Aad::from(header), body)
            .map_err(|_| RecordError::Unauthentic { record })?
            .len();
        self.next = record.checked_add(1).ok_or(RecordError::Exhausted)?;
        buf.copy_within(body_start..body_start + plain_len, write);
        Ok(Some((RECORD_HEADER_LEN + body_len, plain_len)))
    }
}

#[cfg(test)]
#[path = "tests/record.rs"]
mod tests;
