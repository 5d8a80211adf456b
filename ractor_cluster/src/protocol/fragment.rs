//! Cutting large messages into pieces and putting them back together (PROTOCOL.md, "Fragments").
//!
//! A frame whose body is larger than [`FRAGMENT_ABOVE`] is sent as a run of
//! `SessionMessage::Fragment` frames of at most [`FRAGMENT_CHUNK`] body bytes each. Between two
//! pieces the sender may send any other whole frame, so a 16 MiB message delays a heartbeat or a
//! reply by one piece, not by the whole message. Only one fragmented message is in flight per
//! direction at a time, so the receiver needs one buffer and no ids.

use super::codec::CodecError;
use super::frame::FRAME_HEADER_LEN;
use super::message::SessionMessage;

/// Bodies larger than this are fragmented.
pub(crate) const FRAGMENT_ABOVE: usize = 64 * 1024;

/// The most body bytes in one piece. Small enough for any sensible frame limit, large enough that
/// the per-piece overhead (a few bytes and one wake-up) is negligible.
pub(crate) const FRAGMENT_CHUNK: usize = 32 * 1024;

/// The pieces of one encoded frame (header and body), as `(more, chunk)`: chunks of its body in
/// order, `more` false on the last. The frame is assumed well formed (we encoded it).
pub(crate) fn pieces(frame: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    pieces_of(frame, FRAGMENT_CHUNK)
}

/// [`pieces`] with chunks of at most `chunk` bytes (at least one), so that the fuzz target can cut
/// small messages into many pieces.
pub(crate) fn pieces_of(frame: &[u8], chunk: usize) -> impl Iterator<Item = (bool, &[u8])> {
    let chunk = chunk.max(1);
    let body = frame.get(FRAME_HEADER_LEN..).unwrap_or_default();
    let count = body.len().div_ceil(chunk);
    body.chunks(chunk)
        .enumerate()
        .map(move |(index, chunk)| (index + 1 < count, chunk))
}

/// Why the pieces a peer sent cannot be a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FragmentError {
    /// The pieces add up to more than the frame limit (rule S5).
    Oversized {
        /// Bytes received so far, this piece included.
        size: usize,
        /// The limit for one message body.
        limit: u32,
    },
    /// The reassembled body is itself a fragment (rule S5).
    Nested,
}

impl std::fmt::Display for FragmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FragmentError::Oversized { size, limit } => write!(
                f,
                "a fragmented message grew to {size} bytes, over the limit of {limit}"
            ),
            FragmentError::Nested => f.write_str("a fragmented message contained a fragment"),
        }
    }
}

impl std::error::Error for FragmentError {}

/// Why a frame body of a session is not a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReceiveError {
    /// The body, or the body its pieces add up to, does not decode (rules C2 to C5, S1).
    Malformed(CodecError),
    /// The pieces break rule S5.
    Fragment(FragmentError),
}

/// Puts the pieces of one message back together.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    body: Vec<u8>,
}

impl Reassembly {
    /// Adds a piece. Returns the whole body once the last piece arrived. The buffer grows with the
    /// pieces actually received, never to a size the peer merely claims.
    pub(crate) fn push(
        &mut self,
        more: bool,
        chunk: &[u8],
        limit: u32,
    ) -> Result<Option<Vec<u8>>, FragmentError> {
        let size = self.body.len().saturating_add(chunk.len());
        if u32::try_from(size).map_or(true, |size| size > limit) {
            self.body = Vec::new();
            return Err(FragmentError::Oversized { size, limit });
        }
        self.body.extend_from_slice(chunk);
        if more {
            Ok(None)
        } else {
            Ok(Some(std::mem::take(&mut self.body)))
        }
    }

    /// Decodes one frame body of a session: the message it holds, or, for the last piece of a
    /// fragmented message, the whole message; `None` for any other piece, which is kept.
    ///
    /// This is the session reader's first step for every frame (and what the `fragments` fuzz
    /// target drives): the messages it returns are never fragments (rule S5).
    pub(crate) fn receive(
        &mut self,
        body: &[u8],
        limit: u32,
    ) -> Result<Option<SessionMessage>, ReceiveError> {
        match SessionMessage::decode(body).map_err(ReceiveError::Malformed)? {
            SessionMessage::Fragment { more, chunk } => {
                let Some(whole) = self
                    .push(more, &chunk, limit)
                    .map_err(ReceiveError::Fragment)?
                else {
                    return Ok(None);
                };
                match SessionMessage::decode(&whole).map_err(ReceiveError::Malformed)? {
                    SessionMessage::Fragment { .. } => {
                        Err(ReceiveError::Fragment(FragmentError::Nested))
                    }
                    message => Ok(Some(message)),
                }
            }
            message => Ok(Some(message)),
        }
    }

    /// Bytes of the message being received, held until its last piece.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn pending_len(&self) -> usize {
        self.body.len()
    }

    /// Whether a message is half received.
    #[cfg(test)]
    pub(crate) fn is_pending(&self) -> bool {
        !self.body.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(body_len: usize) -> Vec<u8> {
        let mut frame = (body_len as u32).to_le_bytes().to_vec();
        frame.extend((0..body_len).map(|i| i as u8));
        frame
    }

    #[test]
    fn pieces_reassemble_into_the_body() {
        for len in [
            1,
            FRAGMENT_CHUNK,
            FRAGMENT_CHUNK + 1,
            5 * FRAGMENT_CHUNK + 7,
        ] {
            let frame = frame_of(len);
            let mut reassembly = Reassembly::default();
            let mut whole = None;
            let count = pieces(&frame).count();
            assert_eq!(count, len.div_ceil(FRAGMENT_CHUNK));
            for (more, chunk) in pieces(&frame) {
                assert!(chunk.len() <= FRAGMENT_CHUNK);
                assert!(whole.is_none(), "nothing is complete before the last piece");
                whole = reassembly.push(more, chunk, u32::MAX).unwrap();
            }
            assert_eq!(whole.as_deref(), Some(&frame[FRAME_HEADER_LEN..]));
            assert!(!reassembly.is_pending());
        }
    }

    #[test]
    fn pieces_over_the_limit_are_refused_as_they_arrive() {
        let mut reassembly = Reassembly::default();
        assert_eq!(reassembly.push(true, &[0; 60], 100), Ok(None));
        assert_eq!(
            reassembly.push(true, &[0; 60], 100),
            Err(FragmentError::Oversized {
                size: 120,
                limit: 100
            })
        );
        assert!(!reassembly.is_pending(), "the buffer is released");
    }
}
