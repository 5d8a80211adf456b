//! Reading frames from the read half of a connection.
//!
//! The framing rules (length prefix, limit, empty and truncated frames) are decided by
//! [`parse_frame`]; this file only moves bytes from the socket into a buffer and manages that
//! buffer's size.

use std::fmt;
use std::io;

use tokio::io::AsyncReadExt;

use super::BoxRead;
use crate::protocol::frame::{parse_frame, FrameError, FRAME_HEADER_LEN};

/// How much room the buffer keeps for reading, whatever the frames' sizes.
///
/// One read of this size takes in hundreds of small frames at once, which is what keeps the number
/// of read calls low under a flood of small messages. A fixed amount, not chosen by the peer.
const READ_CHUNK: usize = 64 * 1024;

/// Above this capacity the buffer is shrunk back to what the next frame needs (at least
/// [`READ_CHUNK`]) once the large frame that grew it has been consumed, so one 16 MiB message does not pin 16 MiB for the life of the connection.
const SHRINK_ABOVE: usize = 4 * READ_CHUNK;

/// Splits the read half of a connection into frames.
///
/// ```text
/// let mut reader = FrameReader::new(read_half);
/// while let Some(body) = reader.next_frame(limit).await? {
///     handle(body);
/// }
/// // clean end of stream between two frames
/// ```
pub(crate) struct FrameReader {
    read: BoxRead,
    /// Bytes read from the stream; `buf[start..]` are not yet returned as frames.
    buf: Vec<u8>,
    /// Where the unconsumed bytes of `buf` start. Consumed bytes are dropped lazily, when room is
    /// needed for the next read, so returning a frame never moves memory.
    start: usize,
}

impl fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.pending().len())
            .field("capacity", &self.buf.capacity())
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)] // used by the node layer, landing next
impl FrameReader {
    /// A reader over `read`. No memory is reserved until the first read.
    pub(crate) fn new(read: BoxRead) -> Self {
        Self {
            read,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The next frame's body, or `Ok(None)` when the stream ends cleanly between two frames.
    ///
    /// `limit` is the largest body accepted, checked as soon as a frame's length prefix has
    /// arrived and before any room is made for its body; it may differ from call to call (small
    /// before the peer is authenticated, large after).
    ///
    /// After an error the connection must be closed: the framing is lost.
    ///
    /// Cancel safety: this is cancel-safe. If the future is dropped (e.g. in a `select!` against a
    /// shutdown signal), bytes already read stay buffered and the next call picks up from them.
    pub(crate) async fn next_frame(&mut self, limit: u32) -> Result<Option<&[u8]>, ReadError> {
        loop {
            if let Some(consumed) = self.buffered_frame_len(limit)? {
                return Ok(Some(self.take_frame(consumed)));
            }
            self.make_room(limit)?;
            // Reads into the spare capacity only: `make_room` guarantees there is some.
            let read = self.read.read_buf(&mut self.buf).await?;
            if read == 0 {
                return self.end_of_stream(limit);
            }
        }
    }

    /// The next frame's body if it is already buffered whole, without reading: lets a caller
    /// handle every frame that one read brought in before it waits on anything else. `Ok(None)`
    /// says nothing about the stream, only that [`Self::next_frame`] would have to read.
    ///
    /// An error is the same as from [`Self::next_frame`]: the framing is lost.
    pub(crate) fn buffered_frame(&mut self, limit: u32) -> Result<Option<&[u8]>, FrameError> {
        Ok(self
            .buffered_frame_len(limit)?
            .map(|consumed| self.take_frame(consumed)))
    }

    /// Consumes the whole frame of `consumed` bytes (header included) that
    /// [`Self::buffered_frame_len`] just found at the front of the buffer; returns its body.
    fn take_frame(&mut self, consumed: usize) -> &[u8] {
        let frame_start = self.start;
        self.start += consumed;
        // `parse_frame` found a whole frame of `consumed` bytes at `frame_start`, so this range
        // lies within `buf`: the indexing cannot fail.
        &self.buf[frame_start + FRAME_HEADER_LEN..frame_start + consumed]
    }

    /// The length (header included) of the whole frame at the front of the buffer, if there is one.
    fn buffered_frame_len(&self, limit: u32) -> Result<Option<usize>, FrameError> {
        Ok(parse_frame(self.pending(), limit)?.map(|(_, consumed)| consumed))
    }

    /// Drops consumed bytes and makes sure there is room to read what the next frame still needs.
    ///
    /// Called only when the buffer does not hold a whole frame, so the pending bytes are at most
    /// one frame's worth: less than a header, or part of a frame whose length passed the limit.
    fn make_room(&mut self, limit: u32) -> Result<(), FrameError> {
        self.buf.drain(..self.start);
        self.start = 0;

        let frame_len = match parse_frame_len(&self.buf, limit)? {
            Some(len) => len,
            None => FRAME_HEADER_LEN,
        };
        // Room for the rest of this frame, and at least a read chunk so small frames arrive many
        // per read. Never more: the frame's size has passed the limit check.
        let wanted = frame_len.max(READ_CHUNK);

        if self.buf.capacity() > SHRINK_ABOVE && self.buf.capacity() / 2 > wanted {
            // A large frame grew the buffer and is gone; give the memory back.
            self.buf.shrink_to(wanted);
        }
        // Exact, not amortized: `Vec::reserve` could double past what the frame announced.
        self.buf
            .reserve_exact(wanted.saturating_sub(self.buf.len()));
        Ok(())
    }

    /// The stream ended: clean if no part of a frame is buffered (PROTOCOL.md rule F4).
    fn end_of_stream(&mut self, limit: u32) -> Result<Option<&[u8]>, ReadError> {
        let received = self.pending().len();
        if received == 0 {
            return Ok(None);
        }
        let needed = parse_frame_len(self.pending(), limit)?;
        Err(ReadError::Frame(FrameError::Truncated { received, needed }))
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// The buffer's capacity, for tests of its growth and shrinking.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// The full length (header included) announced by the header at the front of `pending`, once the
/// header is in and has passed the limit check.
fn parse_frame_len(pending: &[u8], limit: u32) -> Result<Option<usize>, FrameError> {
    let Some((header, _)) = pending.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Ok(None);
    };
    // `parse_frame` owns the rules: let it judge the header (zero length, over the limit) on its
    // own, without any body bytes.
    parse_frame(header, limit)?;
    let body_len = u32::from_le_bytes(*header);
    Ok(Some(FRAME_HEADER_LEN.saturating_add(
        usize::try_from(body_len).unwrap_or(usize::MAX),
    )))
}

/// Why no more frames can be read from a connection.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum ReadError {
    /// Reading from the transport failed (reset, TLS error, ...).
    Io(io::Error),
    /// The peer sent bytes that are not a valid frame: its fault.
    Frame(FrameError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(err) => write!(f, "cannot read from the connection: {err}"),
            ReadError::Frame(err) => write!(f, "invalid frame: {err}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(err) => Some(err),
            ReadError::Frame(err) => Some(err),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        ReadError::Io(err)
    }
}

impl From<FrameError> for ReadError {
    fn from(err: FrameError) -> Self {
        ReadError::Frame(err)
    }
}
