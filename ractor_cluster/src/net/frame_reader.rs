//! Reading frames from the read half of a connection.
//!
//! Everything about the bytes (framing rules, limits, opening sealed records, how much buffer to
//! keep) is decided by `protocol::frame::FrameDecoder`, the same decoder the fuzz targets and the
//! in-memory tests drive; this file only moves bytes from the socket into the decoder's buffer.

use std::fmt;
use std::io;

use tokio::io::AsyncReadExt;

use super::BoxRead;
use crate::protocol::frame::{FrameDecoder, FrameError, FRAME_HEADER_LEN, HANDSHAKE_MAX_FRAME};
use crate::protocol::record::Opener;

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
    decoder: FrameDecoder,
}

impl fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

impl FrameReader {
    /// A reader over `read`. No memory is reserved until the first read.
    pub(crate) fn new(read: BoxRead) -> Self {
        Self {
            read,
            // Every call names its limit; this one is never used.
            decoder: FrameDecoder::new(0),
        }
    }

    /// A reader for a connection whose peer has not authenticated yet: it reads at most one
    /// handshake frame's worth at a time (`HANDSHAKE_MAX_FRAME` and its length prefix), so a
    /// connection that has proven nothing makes the node hold no more than that, until
    /// [`authenticated`](Self::authenticated) lets it read in large chunks.
    pub(crate) fn unauthenticated(read: BoxRead) -> Self {
        let mut reader = Self::new(read);
        reader
            .decoder
            .set_read_chunk(HANDSHAKE_MAX_FRAME as usize + FRAME_HEADER_LEN);
        reader
    }

    /// The peer has authenticated: read in chunks that grow while reads fill them, so that under
    /// a flood many small frames arrive per read, and an idle session keeps little buffer.
    pub(crate) fn authenticated(&mut self) {
        self.decoder.set_growing_read_chunk();
    }

    /// From the next frame on, the stream is sealed: records are opened with `opener` before
    /// their frames are returned (PROTOCOL.md rule R1). Bytes already read behind the last frame
    /// returned are taken as records.
    pub(crate) fn start_opening(&mut self, opener: Opener) {
        self.decoder.start_opening(opener);
    }

    /// The next frame's body, or `Ok(None)` when the stream ends cleanly between two frames.
    ///
    /// `limit` is the largest body accepted, checked as soon as a frame's length prefix has
    /// arrived and before any room is made for its body; it may differ from call to call (small
    /// before the peer is authenticated, large after).
    ///
    /// After an error the connection must be closed: the framing is lost, or a record did not
    /// open.
    ///
    /// Cancel safety: this is cancel-safe. If the future is dropped (e.g. in a `select!` against a
    /// shutdown signal), bytes already read stay buffered and the next call picks up from them.
    pub(crate) async fn next_frame(&mut self, limit: u32) -> Result<Option<&[u8]>, ReadError> {
        self.decoder.set_limit(limit);
        loop {
            if let Some(range) = self.decoder.next_frame_range()? {
                return Ok(Some(self.decoder.body(range)));
            }
            // Reads into the spare capacity only: `read_buffer` guarantees there is some.
            let read = self.read.read_buf(self.decoder.read_buffer()?).await?;
            self.decoder.bytes_read();
            if read == 0 {
                self.decoder.finish()?;
                return Ok(None);
            }
        }
    }

    /// The next frame's body if it is already buffered whole, without reading: lets a caller
    /// handle every frame that one read brought in before it waits on anything else. `Ok(None)`
    /// says nothing about the stream, only that [`Self::next_frame`] would have to read.
    ///
    /// An error is the same as from [`Self::next_frame`]: the connection must be closed.
    pub(crate) fn buffered_frame(&mut self, limit: u32) -> Result<Option<&[u8]>, FrameError> {
        self.decoder.set_limit(limit);
        self.decoder.next_frame()
    }

    /// The buffer's capacity, for tests of its growth and shrinking.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.decoder.buffer_capacity()
    }
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
