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
//! reordered, dropped or injected is opened with the wrong nonce and fails like a forged one.
//!
//! Nothing is copied for sealing on either side. The writer seals its queued frames where they lie
//! ([`Sealer::seal_in_place`]) and writes header, ciphertext and tag as three slices of one
//! vectored write; the receiver opens each record where it arrived in its read buffer
//! ([`Opener::open_next`]) and the frame decoder reads frames from that plaintext in place. Only
//! bytes of records that opened are ever handed on; the first record that fails ends the stream
//! ([`RecordError`]).

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

/// What a record adds around its ciphertext: the length prefix before it and the tag after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// The record's length prefix (rule R2).
    pub(crate) header: [u8; RECORD_HEADER_LEN],
    /// The authentication tag that ends the record.
    pub(crate) tag: [u8; TAG_LEN],
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

    /// Seals `body` in place as the next record: on return it holds the record's ciphertext, and
    /// the record on the wire is `envelope.header`, then `body`, then `envelope.tag`.
    ///
    /// How the writer seals without copying: the frames it queued are encrypted where they lie,
    /// and the header and tag are written around them (vectored write). `body` must hold 1 to
    /// [`MAX_RECORD_PLAINTEXT`] bytes (rule R2).
    pub(crate) fn seal_in_place(&mut self, body: &mut [u8]) -> Result<Envelope, RecordError> {
        if !(1..=MAX_RECORD_PLAINTEXT).contains(&body.len()) {
            return Err(RecordError::Seal);
        }
        // `body.len() + TAG_LEN` is at most 64 KiB + 16: it fits in a u32.
        let header = u32::try_from(body.len() + TAG_LEN)
            .map_err(|_| RecordError::Seal)?
            .to_le_bytes();
        let counter = self.take_counter()?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(counter), Aad::from(header), body)
            .map_err(|_| RecordError::Seal)?;
        let mut envelope = Envelope {
            header,
            tag: [0; TAG_LEN],
        };
        envelope.tag.copy_from_slice(tag.as_ref());
        Ok(envelope)
    }

    /// Appends to `out` the records that carry the bytes of `parts`, in order, as one stream: as
    /// few records as the bound allows, each filled to [`MAX_RECORD_PLAINTEXT`] but the last.
    ///
    /// The plaintext is copied into `out` once and encrypted there, so sealing allocates nothing
    /// once `out` has grown to a turn's size: how the writer seals for a transport that cannot
    /// write several buffers at once. On error `out` may hold a partial record: the stream must
    /// end.
    pub(crate) fn seal(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), RecordError> {
        let mut remaining: usize = parts.iter().map(|part| part.len()).sum();
        let mut parts = parts.iter().copied();
        let mut current: &[u8] = &[];
        out.reserve(
            remaining + remaining.div_ceil(MAX_RECORD_PLAINTEXT) * (RECORD_HEADER_LEN + TAG_LEN),
        );
        while remaining > 0 {
            let len = remaining.min(MAX_RECORD_PLAINTEXT);
            let header_start = out.len();
            out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
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
            let body = out.get_mut(body_start..).ok_or(RecordError::Seal)?;
            let envelope = self.seal_in_place(body)?;
            out.get_mut(header_start..body_start)
                .ok_or(RecordError::Seal)?
                .copy_from_slice(&envelope.header);
            out.extend_from_slice(&envelope.tag);
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

/// How many bytes the record at the start of `buf` takes in all, as its length prefix claims,
/// once the prefix is in; a claim beyond rule R2's bound counts as the bound (such a record fails
/// to open as soon as it is looked at).
pub(crate) fn claimed_record_len(buf: &[u8]) -> Option<usize> {
    let (_, claimed) = length_prefix(buf)?;
    let body_len = usize::try_from(claimed).unwrap_or(usize::MAX);
    Some(RECORD_HEADER_LEN + body_len.min(MAX_RECORD_BODY))
}

/// The length prefix at the start of `buf`, as bytes (the record's associated data) and as the
/// body length it claims, once all of it is in.
fn length_prefix(buf: &[u8]) -> Option<([u8; RECORD_HEADER_LEN], u32)> {
    let (header, _) = buf.split_first_chunk::<RECORD_HEADER_LEN>()?;
    Some((*header, u32::from_le_bytes(*header)))
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

    /// Opens the record at the start of `buf` where it lies, if all of it is there.
    ///
    /// Returns `Ok(None)` while the record is incomplete, and otherwise where its plaintext now
    /// lies in `buf` (behind the 4 length bytes) and how many bytes of `buf` the record took. The
    /// plaintext is not moved: the frame decoder reads frames from it where it is.
    ///
    /// A record's length is checked as soon as its prefix is in (rule R2), before the rest is
    /// awaited. The first record that fails ends the stream: this call and every later one
    /// return the error, and the failed record's bytes are left as garbage, never as plaintext.
    pub(crate) fn open_next(&mut self, buf: &mut [u8]) -> Result<Option<Opened>, RecordError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let outcome = self.open_one(buf);
        if let Err(err) = &outcome {
            self.failed = Some(err.clone());
        }
        outcome
    }

    /// Opens every whole record in `buf[opened..]`, moving each one's plaintext down behind
    /// `buf[..opened]`: a compacting loop over [`open_next`](Self::open_next), for the unit tests
    /// of what opens and what is refused. Returns the end of the plaintext; after a failure
    /// behind records that opened, their plaintext is returned and the error comes with the
    /// next call.
    #[cfg(test)]
    pub(crate) fn open_in_place(
        &mut self,
        buf: &mut Vec<u8>,
        opened: usize,
    ) -> Result<usize, RecordError> {
        let mut write = opened;
        let mut read = opened;
        let outcome = loop {
            match self.open_next(&mut buf[read..]) {
                Ok(Some(record)) => {
                    let plain = record.plaintext.len();
                    buf.copy_within(
                        read + record.plaintext.start..read + record.plaintext.end,
                        write,
                    );
                    read += record.consumed;
                    write += plain;
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        match outcome {
            Ok(()) => {
                buf.copy_within(read.., write);
                buf.truncate(buf.len() - (read - write));
                Ok(write)
            }
            Err(_) if write > opened => {
                buf.truncate(write);
                Ok(write)
            }
            Err(err) => Err(err),
        }
    }

    /// Opens the record at the start of `buf` in place if it is all there.
    fn open_one(&mut self, buf: &mut [u8]) -> Result<Option<Opened>, RecordError> {
        let Some((header, claimed)) = length_prefix(buf) else {
            return Ok(None);
        };
        let body_len = usize::try_from(claimed).unwrap_or(usize::MAX);
        if !(TAG_LEN + 1..=MAX_RECORD_BODY).contains(&body_len) {
            // PROTOCOL.md rule R2: judged on the prefix alone, before the body is awaited.
            return Err(RecordError::BadLength {
                claimed,
                record: self.next,
            });
        }
        let consumed = RECORD_HEADER_LEN + body_len;
        let Some(body) = buf.get_mut(RECORD_HEADER_LEN..consumed) else {
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
        Ok(Some(Opened {
            plaintext: RECORD_HEADER_LEN..RECORD_HEADER_LEN + plain_len,
            consumed,
        }))
    }
}

/// A record that [`Opener::open_next`] opened: positions relative to the slice it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Where the plaintext lies.
    pub(crate) plaintext: std::ops::Range<usize>,
    /// Bytes the record took: length prefix, ciphertext and tag.
    pub(crate) consumed: usize,
}

#[cfg(test)]
#[path = "tests/record.rs"]
mod tests;
