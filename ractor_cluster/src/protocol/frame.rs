//! The envelope: every message travels as one frame, a `u32` little-endian body length followed by
//! the body (PROTOCOL.md, "Framing").
//!
//! The length is checked against the receiver's limit as soon as its four bytes are in, before a
//! single byte of the body is buffered or waited for, so a peer cannot make a node reserve memory
//! by merely claiming a large frame.

use serde::Serialize;

use super::codec::{self, CodecError};
use super::record::{
    claimed_record_len, Opener, RecordError, MAX_RECORD_PLAINTEXT, RECORD_HEADER_LEN, TAG_LEN,
};

/// Bytes of the length prefix.
pub(crate) const FRAME_HEADER_LEN: usize = 4;

/// The largest frame body accepted or sent before the peer is authenticated (rule F5).
///
/// Small on purpose: until a peer has proven it knows the cookie it must not be able to make a node
/// buffer more than this. Handshake messages are a few hundred bytes.
pub(crate) const HANDSHAKE_MAX_FRAME: u32 = 4096;

/// Converts a configured limit (the node layer keeps `u64`s) to a frame limit: a frame length is a
/// `u32`, so any larger limit means "whatever the format allows".
pub(crate) fn frame_limit(configured: u64) -> u32 {
    u32::try_from(configured).unwrap_or(u32::MAX)
}

/// The peer sent bytes that are not a valid frame. Always the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum FrameError {
    /// The length prefix claims more than the receiver accepts (rule F3).
    Oversized {
        /// The body length the peer claimed.
        claimed: u32,
        /// The receiver's limit.
        limit: u32,
    },
    /// The length prefix is zero (rule F2).
    Empty,
    /// A sealed record broke the rules or did not open (rules R2 to R4).
    Record(RecordError),
    /// The stream ended inside a frame (rule F4) or a record (rule R5).
    Truncated {
        /// Bytes of the unfinished frame (header included) that did arrive.
        received: usize,
        /// Bytes the frame needed, if its header arrived.
        needed: Option<usize>,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Oversized { claimed, limit } => write!(
                f,
                "peer sent a frame of {claimed} bytes, above the limit of {limit} bytes"
            ),
            FrameError::Empty => f.write_str("peer sent an empty frame"),
            FrameError::Record(err) => write!(f, "{err}"),
            FrameError::Truncated {
                received,
                needed: Some(needed),
            } => write!(
                f,
                "connection ended inside a frame: {received} of {needed} bytes arrived"
            ),
            FrameError::Truncated {
                received,
                needed: None,
            } => write!(
                f,
                "connection ended inside a frame header: {received} of {FRAME_HEADER_LEN} bytes arrived"
            ),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Record(err) => Some(err),
            _ => None,
        }
    }
}

/// We could not frame one of our own messages. Always the local side's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum FrameEncodeError {
    /// The value could not be encoded.
    Codec(CodecError),
    /// The encoded body is larger than the limit the frame must respect.
    Oversized {
        /// The encoded body's length.
        size: usize,
        /// The limit.
        limit: u32,
    },
}

impl std::fmt::Display for FrameEncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameEncodeError::Codec(err) => write!(f, "cannot encode message: {err}"),
            FrameEncodeError::Oversized { size, limit } => write!(
                f,
                "message of {size} bytes exceeds the frame limit of {limit} bytes"
            ),
        }
    }
}

impl std::error::Error for FrameEncodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameEncodeError::Codec(err) => Some(err),
            FrameEncodeError::Oversized { .. } => None,
        }
    }
}

/// Finds the first frame in `buf`.
///
/// Returns `Ok(Some((body, consumed)))` when a whole frame is present (`consumed` counts the header
/// too), `Ok(None)` when more bytes are needed. The length is checked against `limit` as soon as
/// the header is present, whatever else has arrived.
pub(crate) fn parse_frame(buf: &[u8], limit: u32) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(claimed) = peek_length(buf, limit)? else {
        return Ok(None);
    };
    // Rule F1: the body follows the header. `claimed <= limit <= u32::MAX` fits in `usize` on the
    // 32- and 64-bit targets we build for; saturating keeps a 16-bit target merely "incomplete".
    let body_len = usize::try_from(claimed).unwrap_or(usize::MAX);
    let body = buf
        .get(FRAME_HEADER_LEN..)
        .and_then(|rest| rest.get(..body_len));
    Ok(body.map(|body| (body, FRAME_HEADER_LEN + body.len())))
}

/// Reads and checks the length prefix, if all of it is there.
fn peek_length(buf: &[u8], limit: u32) -> Result<Option<u32>, FrameError> {
    let Some((header, _)) = buf.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Ok(None);
    };
    let claimed = u32::from_le_bytes(*header);
    if claimed == 0 {
        // PROTOCOL.md rule F2.
        return Err(FrameError::Empty);
    }
    if claimed > limit {
        // PROTOCOL.md rule F3: refuse before buffering or awaiting the body.
        return Err(FrameError::Oversized { claimed, limit });
    }
    Ok(Some(claimed))
}

/// Appends `message` to `out` as one frame whose body is at most `limit` bytes; see
/// [`encode_frame_with`].
pub(crate) fn encode_frame<T: Serialize + ?Sized>(
    message: &T,
    limit: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    encode_frame_with(limit, out, |body| {
        codec::encode_into(message, body).map_err(FrameEncodeError::Codec)
    })
}

/// Appends one frame to `out` whose body `write` appends, and which must be 1 to `limit` bytes.
///
/// The body is written in place after a reserved header, which is then patched with the length. On
/// any error `out` is truncated back to its previous length, so a failed message leaves no partial
/// frame behind in a shared outgoing buffer.
pub(crate) fn encode_frame_with(
    limit: u32,
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), FrameEncodeError>,
) -> Result<(), FrameEncodeError> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    let result = write(out).and_then(|()| {
        let size = out.len().saturating_sub(start + FRAME_HEADER_LEN);
        match u32::try_from(size) {
            Ok(length) if length <= limit && length > 0 => Ok(length),
            _ => Err(FrameEncodeError::Oversized { size, limit }),
        }
    });
    match result {
        Ok(length) => {
            if let Some(header) = out.get_mut(start..start + FRAME_HEADER_LEN) {
                header.copy_from_slice(&length.to_le_bytes());
            }
            Ok(())
        }
        Err(err) => {
            out.truncate(start);
            Err(err)
        }
    }
}

/// The most room the decoder keeps for the next read, whatever the frames' sizes.
///
/// One read of this size takes in hundreds of small frames at once, which is what keeps the number
/// of read calls low under a flood of small messages. A fixed amount, not chosen by the peer.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The room an authenticated session's reader starts with: a heartbeat, a call or a few casts fit.
/// Each read that fills the room offered doubles it, up to [`READ_CHUNK`] (so a flood reaches it
/// within five reads), so that a node with hundreds of mostly idle sessions does not reserve
/// READ_CHUNK (twice that, sealed) for each.
pub(crate) const FIRST_READ_CHUNK: usize = 4 * 1024;

/// Above this capacity the buffer is shrunk back to what the next frame needs (at least the read
/// room) once the large frame that grew it has been consumed, so one 16 MiB message does
/// not pin 16 MiB for the life of the connection.
const SHRINK_ABOVE: usize = 4 * READ_CHUNK;

/// Splits a byte stream into frames, reusing one buffer; once the session is sealed, opens its
/// records first (PROTOCOL.md, "Records").
///
/// This is the one frame reader of the crate: the network layer's `FrameReader` reads into
/// [`read_buffer`](Self::read_buffer) and takes frames with [`next_frame`](Self::next_frame), and
/// the fuzz targets and tests feed it with `push` (tests and fuzzing only). At end of stream,
/// [`finish`](Self::finish) reports a frame cut short. The limit can change between frames
/// ([`set_limit`](Self::set_limit)), and the decoder can start opening records at a frame boundary
/// ([`start_opening`](Self::start_opening)); bytes already buffered are kept either way, so
/// nothing that arrived right behind the handshake is lost.
///
/// The buffer holds, in order: consumed bytes (dropped lazily), plaintext not yet returned as
/// frames, and (when sealed) the header and tag bytes of records opened so far (dropped lazily
/// too) and record bytes not yet opened.
///
/// Sealed, records are opened where they arrived and frames are read from their plaintext where
/// it lies: a record that starts on a frame boundary (every record of this crate's writer but the
/// rest of a turn above 64 KiB) costs no copy. Only a frame cut by a record boundary is joined,
/// by moving the shorter of its two sides next to the other, so the copying stays at most the
/// bytes opened.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    buffer: Vec<u8>,
    /// Where the unconsumed plaintext of `buffer` starts.
    start: usize,
    /// Where the plaintext ends. Equals `buffer.len()` while there is no opener.
    opened: usize,
    /// Where the records not yet opened start: `buffer[opened..unopened]` are the envelopes of
    /// records already opened, nothing to read. Equals `buffer.len()` while there is no opener.
    unopened: usize,
    limit: u32,
    opener: Option<Opener>,
    /// The least room kept for the next read ([`READ_CHUNK`] unless set lower, or growing from
    /// [`FIRST_READ_CHUNK`]).
    read_chunk: usize,
    /// What `read_chunk` may grow to when reads fill the room offered.
    max_read_chunk: usize,
}

impl FrameDecoder {
    /// A decoder accepting bodies of at most `limit` bytes.
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            opened: 0,
            unopened: 0,
            limit,
            opener: None,
            read_chunk: READ_CHUNK,
            max_read_chunk: READ_CHUNK,
        }
    }

    /// Sets the least room kept for the next read (at most [`READ_CHUNK`]): small before the peer
    /// is authenticated, so that a connection that has proven nothing holds no more than one
    /// handshake frame's worth of buffer (PROTOCOL.md, "Limits").
    pub(crate) fn set_read_chunk(&mut self, bytes: usize) {
        self.read_chunk = bytes.clamp(FRAME_HEADER_LEN, READ_CHUNK);
        self.max_read_chunk = self.read_chunk;
    }

    /// Keeps [`FIRST_READ_CHUNK`] of room for the next read, doubled each time a read fills the
    /// room offered, up to [`READ_CHUNK`]: for an authenticated peer, whose sessions are mostly
    /// idle or mostly busy.
    pub(crate) fn set_growing_read_chunk(&mut self) {
        self.read_chunk = FIRST_READ_CHUNK;
        self.max_read_chunk = READ_CHUNK;
    }

    /// The current limit.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// Changes the limit for frames not yet returned.
    pub(crate) fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
    }

    /// From here on the stream is sealed: every byte after the frames returned so far is part of
    /// a record that `opener` must open before its frames are returned (PROTOCOL.md rule R1).
    pub(crate) fn start_opening(&mut self, opener: Opener) {
        self.opened = self.start;
        self.unopened = self.start;
        self.opener = Some(opener);
    }

    /// Appends bytes read from the stream: how tests and fuzz targets feed the decoder (the
    /// network reader appends through [`read_buffer`](Self::read_buffer) instead).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buffer.extend_from_slice(bytes);
        self.sync_opened();
    }

    /// The buffer to append freshly read bytes to (e.g. with tokio's `read_buf`): consumed bytes
    /// are dropped and there is spare capacity for what the next frame still needs, and at least
    /// the read room (see [`set_read_chunk`](Self::set_read_chunk) and
    /// [`set_growing_read_chunk`](Self::set_growing_read_chunk)). Only append to it, into its
    /// spare capacity.
    ///
    /// Call it only when [`next_frame`](Self::next_frame) returned `Ok(None)`: then the buffer
    /// holds less than one frame, so what it reserves is bounded by the limit (plus one record
    /// when sealed), never by what the peer claims beyond it.
    pub(crate) fn read_buffer(&mut self) -> Result<&mut Vec<u8>, FrameError> {
        self.make_room()?;
        Ok(&mut self.buffer)
    }

    /// Takes note of bytes appended to [`read_buffer`](Self::read_buffer).
    pub(crate) fn bytes_read(&mut self) {
        // `read_buffer` left spare capacity, and reading into it does not reallocate: a full
        // buffer means the read took all the room there was, and more may be waiting.
        if self.buffer.len() == self.buffer.capacity() {
            self.read_chunk = (self.read_chunk * 2).min(self.max_read_chunk);
        }
        self.sync_opened();
    }

    /// How many more bytes the next frame needs, as far as is known: the rest of the header, or the
    /// rest of the body once the header is in. 0 when a whole frame is buffered. Never more than
    /// the limit allows, so a reader may safely reserve this much.
    pub(crate) fn bytes_wanted(&self) -> Result<usize, FrameError> {
        let pending = self.pending();
        let total = match peek_length(pending, self.limit)? {
            None => FRAME_HEADER_LEN,
            Some(claimed) => {
                FRAME_HEADER_LEN.saturating_add(usize::try_from(claimed).unwrap_or(usize::MAX))
            }
        };
        Ok(total.saturating_sub(pending.len()))
    }

    /// The next whole frame's body, `Ok(None)` if more bytes are needed.
    ///
    /// After an error the stream is unusable: framing is lost, or a record failed to open; the
    /// connection must be closed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let found = self.next_frame_range()?;
        Ok(found.and_then(|range| self.buffer.get(range)))
    }

    /// Where the next whole frame's body lies in the buffer, consuming it; `Ok(None)` if more
    /// bytes are needed. Opens records as needed.
    pub(crate) fn next_frame_range(
        &mut self,
    ) -> Result<Option<std::ops::Range<usize>>, FrameError> {
        loop {
            if let Some((body, consumed)) = parse_frame(self.pending(), self.limit)?
                .map(|(body, consumed)| (body.len(), consumed))
            {
                let body_start = self.start + FRAME_HEADER_LEN;
                self.start += consumed;
                return Ok(Some(body_start..body_start + body));
            }
            if !self.open_record()? {
                return Ok(None);
            }
        }
    }

    /// The body of a frame [`next_frame_range`](Self::next_frame_range) returned, until the
    /// decoder is next changed.
    pub(crate) fn body(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.buffer.get(range).unwrap_or_default()
    }

    /// At end of stream: an error if part of a frame (or of a record) is still buffered (rules F4,
    /// R5).
    pub(crate) fn finish(&mut self) -> Result<(), FrameError> {
        // A whole record still unopened may hold a frame's end: open them before judging.
        while self.open_record()? {}
        let unopened = self.buffer.len().saturating_sub(self.unopened);
        let pending = self.pending();
        if pending.is_empty() && unopened == 0 {
            return Ok(());
        }
        let needed = peek_length(pending, self.limit)?.map(|claimed| {
            FRAME_HEADER_LEN.saturating_add(usize::try_from(claimed).unwrap_or(usize::MAX))
        });
        Err(FrameError::Truncated {
            received: pending.len() + unopened,
            needed,
        })
    }

    fn pending(&self) -> &[u8] {
        self.buffer.get(self.start..self.opened).unwrap_or_default()
    }

    /// Without an opener every byte is plaintext.
    fn sync_opened(&mut self) {
        if self.opener.is_none() {
            self.opened = self.buffer.len();
            self.unopened = self.buffer.len();
        }
    }

    /// Opens the next record, if it is all buffered, and makes its plaintext follow the pending
    /// plaintext; whether any plaintext was added.
    ///
    /// Called only when the pending plaintext holds no whole frame, so what is pending is part of
    /// one frame (often nothing: records of this crate's writer start on frame boundaries). If
    /// something is pending, the shorter of it and the new plaintext moves next to the other:
    /// each byte opened is moved at most once, so the copying stays linear.
    fn open_record(&mut self) -> Result<bool, FrameError> {
        let Some(opener) = &mut self.opener else {
            return Ok(false);
        };
        let Some(records) = self.buffer.get_mut(self.unopened..) else {
            return Ok(false);
        };
        let Some(record) = opener.open_next(records).map_err(FrameError::Record)? else {
            return Ok(false);
        };
        let plain_start = self.unopened + record.plaintext.start;
        let plain_end = self.unopened + record.plaintext.end;
        self.unopened += record.consumed;
        let pending = self.opened - self.start;
        if pending == 0 {
            // The record starts a frame: read it where it lies.
            self.start = plain_start;
            self.opened = plain_end;
        } else if pending <= plain_end - plain_start {
            // The pending part of a frame moves up to just before the new plaintext; the header
            // and tag bytes it passes over end up among the consumed bytes.
            let to = plain_start - pending;
            self.buffer.copy_within(self.start..self.opened, to);
            self.start = to;
            self.opened = plain_end;
        } else {
            // A large frame across many records: its new part joins what is pending.
            self.buffer.copy_within(plain_start..plain_end, self.opened);
            self.opened += plain_end - plain_start;
        }
        Ok(true)
    }

    /// Drops consumed bytes, so the buffer only grows with what is still needed.
    ///
    /// Moving the unconsumed tail costs its length, so it is done only once at least as many bytes
    /// have been consumed: the copying stays proportional to the bytes received.
    #[cfg(any(test, feature = "fuzzing"))]
    fn compact(&mut self) {
        let dropped = self.start + (self.unopened - self.opened);
        if dropped >= self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
            self.opened = 0;
            self.unopened = 0;
        } else if dropped >= self.buffer.len() / 2 {
            self.drop_consumed();
        }
    }

    /// Moves the pending plaintext to the front of the buffer and the unopened records right
    /// behind it: what was consumed, and the envelopes of the records opened, are dropped.
    fn drop_consumed(&mut self) {
        let pending = self.opened - self.start;
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.opened, 0);
        }
        if self.unopened > pending {
            self.buffer.copy_within(self.unopened.., pending);
        }
        let kept = pending + (self.buffer.len() - self.unopened);
        self.buffer.truncate(kept);
        self.start = 0;
        self.opened = pending;
        self.unopened = pending;
    }

    /// Drops consumed bytes and makes sure there is room to read what the next frame still needs.
    /// The buffer shrinks back when it holds far more than that, as after a large frame or when
    /// the read chunk grew.
    ///
    /// Called when the buffer does not hold a whole frame, so the pending plaintext is at most one
    /// frame's worth (less than a header, or part of a frame whose length passed the limit), and
    /// unopened bytes at most one record.
    fn make_room(&mut self) -> Result<(), FrameError> {
        self.drop_consumed();
        let frame_len = self.bytes_wanted()?.saturating_add(self.pending().len());
        // Room for the rest of this frame, and at least a read chunk so small frames arrive many
        // per read. Never more: the frame's size has passed the limit check.
        let mut wanted = frame_len.max(self.read_chunk);
        if self.opener.is_some() {
            // Sealed, the frame's bytes come in records, and a record opens only once all of it
            // is here: room for the frame with its records' headers and tags, and for the whole
            // record in progress (as its prefix claims, at most MAX_RECORD_BODY: bounded by
            // constants), then a read chunk beyond.
            let envelopes =
                frame_len.div_ceil(MAX_RECORD_PLAINTEXT) * (RECORD_HEADER_LEN + TAG_LEN);
            let pending = self.opened - self.start;
            let unopened = self.buffer.get(self.unopened..).unwrap_or_default();
            let in_progress = claimed_record_len(unopened).unwrap_or(RECORD_HEADER_LEN);
            wanted = frame_len
                .saturating_add(envelopes)
                .max(pending.saturating_add(in_progress))
                .saturating_add(self.read_chunk);
        }
        if self.buffer.capacity() > SHRINK_ABOVE && self.buffer.capacity() / 2 > wanted {
            // A large frame grew the buffer and is gone; give the memory back.
            self.buffer.shrink_to(wanted);
        }
        // Exact, not amortized: `Vec::reserve` could double past what the frame announced.
        self.buffer
            .reserve_exact(wanted.saturating_sub(self.buffer.len()));
        Ok(())
    }

    /// The buffer's capacity, for tests of its growth and shrinking.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

#[cfg(test)]
#[path = "tests/frame.rs"]
mod tests;
