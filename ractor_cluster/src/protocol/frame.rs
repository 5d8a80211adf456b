//! The envelope: every message travels as one frame, a `u32` little-endian body length followed by
//! the body (PROTOCOL.md, "Framing").
//!
//! The length is checked against the receiver's limit as soon as its four bytes are in, before a
//! single byte of the body is buffered or waited for, so a peer cannot make a node reserve memory
//! by merely claiming a large frame.

use serde::Serialize;

use super::codec::{self, CodecError};

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
    /// The stream ended inside a frame (rule F4).
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

impl std::error::Error for FrameError {}

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

/// Splits a byte stream into frames, reusing one buffer.
///
/// The driver appends what it reads with [`push`](Self::push) (or reads straight into
/// [`read_buffer`](Self::read_buffer)), then takes frames with [`next_frame`](Self::next_frame)
/// until it returns `Ok(None)`. At end of stream, [`finish`](Self::finish) reports a frame cut
/// short. The limit can be raised once the peer is authenticated ([`set_limit`](Self::set_limit));
/// bytes already buffered are kept, so nothing that arrived right behind the handshake is lost.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    buffer: Vec<u8>,
    /// Where the unconsumed bytes of `buffer` start; consumed bytes are dropped lazily.
    start: usize,
    limit: u32,
}

impl FrameDecoder {
    /// A decoder accepting bodies of at most `limit` bytes.
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            buffer: Vec::new(),
            start: 0,
            limit,
        }
    }

    /// The current limit.
    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// Changes the limit for frames not yet returned.
    pub(crate) fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
    }

    /// Appends bytes read from the stream.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buffer.extend_from_slice(bytes);
    }

    /// The buffer to append freshly read bytes to (e.g. with tokio's `read_buf`), after dropping
    /// the bytes of frames already returned. Only append to it.
    pub(crate) fn read_buffer(&mut self) -> &mut Vec<u8> {
        self.compact();
        &mut self.buffer
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
    /// After an error the stream is unusable: framing is lost, and the connection must be closed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let found = parse_frame(self.pending(), self.limit)?.map(|(body, consumed)| {
            // Record where the body lies before advancing, to hand it out after.
            (self.start + FRAME_HEADER_LEN, body.len(), consumed)
        });
        let Some((body_start, body_len, consumed)) = found else {
            return Ok(None);
        };
        self.start += consumed;
        Ok(self.buffer.get(body_start..body_start + body_len))
    }

    /// At end of stream: an error if part of a frame is still buffered (rule F4).
    pub(crate) fn finish(&self) -> Result<(), FrameError> {
        let pending = self.pending();
        if pending.is_empty() {
            return Ok(());
        }
        let needed = peek_length(pending, self.limit)?.map(|claimed| {
            FRAME_HEADER_LEN.saturating_add(usize::try_from(claimed).unwrap_or(usize::MAX))
        });
        Err(FrameError::Truncated {
            received: pending.len(),
            needed,
        })
    }

    fn pending(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or_default()
    }

    /// Drops consumed bytes, so the buffer only grows with what is still needed.
    ///
    /// Moving the unconsumed tail costs its length, so it is done only once at least as many bytes
    /// have been consumed: the copying stays proportional to the bytes received.
    fn compact(&mut self) {
        if self.start >= self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
#[path = "tests/frame.rs"]
mod tests;
