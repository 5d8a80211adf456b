//! The frames of the hot path (casts, calls, replies, fragments), encoded by hand: byte for byte
//! what the codec gives for the owned `SessionMessage`, without its per-variant machinery, which
//! cost as much as the rest of framing a small cast. The tests in `tests/message.rs`
//! (`hot_path_frames_equal_owned_frames`) check the bytes against the codec's; decoding stays with
//! the messages (`SessionMessage::decode`).

use super::codec::{self, CodecError};
use super::frame::{self, FrameEncodeError};
use super::message::CallFailure;
#[cfg(feature = "trace-context")]
use super::message::TraceParent;

/// The tags of the hot-path variants of `SessionMessage` and of `ReplyOutcome` (their positions in
/// the enums), for the frames written by hand below.
const CAST_TAG: u64 = 0;
const CALL_TAG: u64 = 1;
const REPLY_TAG: u64 = 2;
const CAST_WITH_METADATA_TAG: u64 = 5;
const CALL_WITH_METADATA_TAG: u64 = 6;
/// `SessionMessage::Traced`, and the tags of `TracedMessage`'s casts and calls (each plus 2 with
/// metadata).
#[cfg(feature = "trace-context")]
const TRACED_TAG: u64 = 7;
const TRACED_CAST_TAG: u64 = 0;
const TRACED_CALL_TAG: u64 = 1;
/// `TracedMessage::Reply` (2.9).
#[cfg(feature = "trace-context")]
const TRACED_REPLY_TAG: u64 = 4;
const VALUE_TAG: u64 = 0;
const FAILED_TAG: u64 = 1;

/// A user message as `ractor` serialized it, before it is framed: the `args` of a `Cast` or `Call`
/// on the wire are the variant's name followed by these fields (PROTOCOL.md, "User message
/// payloads").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Payload<'a> {
    /// `SerializedMessage`'s `variant`.
    pub(crate) variant: &'a str,
    /// `SerializedMessage`'s `args`.
    pub(crate) fields: &'a [u8],
    /// `SerializedMessage`'s `metadata`, when it is to travel (to a peer of 2.6 or later): the
    /// frame is then a `CastWithMetadata` or `CallWithMetadata`.
    pub(crate) metadata: Option<&'a [u8]>,
    /// The sender's trace context, when it travels (to a peer of 2.8 or later): the frame is
    /// then a `Traced` one around the cast or call.
    #[cfg(feature = "trace-context")]
    pub(crate) trace: Option<TraceParent>,
}

impl Payload<'_> {
    /// The length of the wire's `args`.
    fn len(&self) -> usize {
        let name = self.variant.len();
        codec::varint_len(name as u64) + name + self.fields.len()
    }

    /// The frame's tag: `plain`, or its twin with metadata.
    fn tag(&self, plain: u64, with_metadata: u64) -> u64 {
        if self.metadata.is_some() {
            with_metadata
        } else {
            plain
        }
    }

    /// Appends the frame's tag (see [`Self::tag`]). A traced payload appends the `Traced` tag and
    /// the context instead, then `TracedMessage`'s tag: `traced`, or `traced + 2` with metadata.
    #[inline]
    fn write_tag(&self, plain: u64, with_metadata: u64, traced: u64, body: &mut Vec<u8>) {
        #[cfg(feature = "trace-context")]
        if let Some(context) = self.trace {
            write_traced_tag(context, self.tag(traced, traced + 2), body);
            return;
        }
        // Without the feature, no frame is traced.
        let _ = traced;
        codec::write_varint(self.tag(plain, with_metadata), body);
    }

    /// The body's length at most, given `fixed` for the tag and the integers before the `args`.
    fn body_hint(&self, fixed: usize) -> usize {
        #[cfg(feature = "trace-context")]
        let fixed = fixed + self.trace.map_or(0, |_| TRACED_OVERHEAD);
        self.len() + fixed + self.metadata.map_or(0, |metadata| metadata.len() + 9)
    }

    /// Appends the wire's `args`: one byte string holding the name, as a string, and the fields;
    /// then the metadata, if it travels.
    fn write(&self, body: &mut Vec<u8>) {
        codec::write_varint(self.len() as u64, body);
        codec::write_byte_string(self.variant.as_bytes(), body);
        body.extend_from_slice(self.fields);
        if let Some(metadata) = self.metadata {
            codec::write_byte_string(metadata, body);
        }
    }
}

/// The bytes a `Traced` frame adds to the cast or call it carries: its tag and the 25 bytes of
/// the context (the carried message's tag takes the place of the plain frame's).
#[cfg(feature = "trace-context")]
pub(crate) const TRACED_OVERHEAD: usize = 26;

/// Splits the wire's `args` of a `Cast` or `Call` into the variant's name and the fields, the
/// `variant` and `args` that the sender's message type produced. Reuses the buffer for the fields.
///
/// The name is read by hand, as the frames are written: decoding a `String` with the codec
/// zero-filled a buffer, copied into it and went through its generic machinery, about 300
/// instructions per message (callgrind), as much as the rest of delivering a small call. The
/// bytes accepted are the same (`split_payload_reads_what_the_codec_reads`).
pub(crate) fn split_payload(mut args: Vec<u8>) -> Result<(String, Vec<u8>), CodecError> {
    let (variant, rest) = codec::read_str(&args)?;
    let variant = variant.to_owned();
    let used = args.len() - rest.len();
    args.drain(..used);
    Ok((variant, args))
}

/// Appends the frame of `SessionMessage::Cast { to, args }` (or `CastWithMetadata`, when the
/// payload's metadata travels; inside a `Traced` frame when its trace context does) to `out`,
/// where `payload` gives the `args`, byte for byte what encoding the owned message would give;
/// `out` is left as it was on
/// error. Written by hand, as casts and calls are nearly every frame: the generic encoder cost as
/// much as the rest of framing a small cast. The test `hot_path_frames_equal_owned_frames` checks
/// the bytes against the codec's.
pub(crate) fn encode_cast_frame(
    to: u64,
    payload: Payload<'_>,
    limit: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    encode_frame_by_hand(limit, out, payload.body_hint(19), |body| {
        payload.write_tag(CAST_TAG, CAST_WITH_METADATA_TAG, TRACED_CAST_TAG, body);
        codec::write_varint(to, body);
        payload.write(body);
    })
}

/// Appends the frame of `SessionMessage::Call { to, call, args }` (or `CallWithMetadata`) to
/// `out` (see [`encode_cast_frame`]).
pub(crate) fn encode_call_frame(
    to: u64,
    call: u64,
    payload: Payload<'_>,
    limit: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    encode_frame_by_hand(limit, out, payload.body_hint(28), |body| {
        payload.write_tag(CALL_TAG, CALL_WITH_METADATA_TAG, TRACED_CALL_TAG, body);
        codec::write_varint(to, body);
        codec::write_varint(call, body);
        payload.write(body);
    })
}

/// Appends one frame whose body `write` appends by hand, after reserving room for the header and
/// `body_hint` bytes (see [`frame::encode_frame_with`]).
fn encode_frame_by_hand(
    limit: u32,
    out: &mut Vec<u8>,
    body_hint: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> Result<(), FrameEncodeError> {
    out.reserve(frame::FRAME_HEADER_LEN + body_hint);
    frame::encode_frame_with(limit, out, |body| {
        write(body);
        Ok(())
    })
}

/// Appends the frame of `SessionMessage::Reply { call, outcome }` to `out`, where `Ok(bytes)` stands
/// for `ReplyOutcome::Value(bytes)` (see [`encode_cast_frame`]).
pub(crate) fn encode_reply_frame(
    call: u64,
    outcome: Result<&[u8], CallFailure>,
    limit: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    let hint = outcome.map_or(0, <[u8]>::len) + 20;
    encode_frame_by_hand(limit, out, hint, |body| {
        codec::write_varint(REPLY_TAG, body);
        write_reply(call, outcome, body);
    })
}

/// Appends the frame of `SessionMessage::Traced { context, message: TracedMessage::Reply { call,
/// outcome } }` (2.9) to `out`: the reply of [`encode_reply_frame`], [`TRACED_OVERHEAD`] bytes
/// longer.
#[cfg(feature = "trace-context")]
pub(crate) fn encode_traced_reply_frame(
    call: u64,
    outcome: Result<&[u8], CallFailure>,
    context: TraceParent,
    limit: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    let hint = outcome.map_or(0, <[u8]>::len) + 20 + TRACED_OVERHEAD;
    encode_frame_by_hand(limit, out, hint, |body| {
        write_traced_tag(context, TRACED_REPLY_TAG, body);
        write_reply(call, outcome, body);
    })
}

/// Appends the `Traced` tag, `context`, and `TracedMessage`'s tag `inner`.
#[cfg(feature = "trace-context")]
#[inline]
fn write_traced_tag(context: TraceParent, inner: u64, body: &mut Vec<u8>) {
    codec::write_varint(TRACED_TAG, body);
    body.extend_from_slice(&context.trace_id);
    body.extend_from_slice(&context.span_id);
    body.push(context.flags);
    codec::write_varint(inner, body);
}

/// Appends the fields of a `Reply`, after its tag.
fn write_reply(call: u64, outcome: Result<&[u8], CallFailure>, body: &mut Vec<u8>) {
    codec::write_varint(call, body);
    match outcome {
        Ok(value) => {
            codec::write_varint(VALUE_TAG, body);
            codec::write_byte_string(value, body);
        }
        Err(failure) => {
            codec::write_varint(FAILED_TAG, body);
            // A unit variant is its index, which for this field-less enum is its discriminant.
            codec::write_varint(failure as u64, body);
        }
    }
}

/// The tag of `SessionMessage::Fragment` (its position in the enum).
const FRAGMENT_TAG: u64 = 4;

/// Appends the frame of `SessionMessage::Fragment { more, chunk }` to `out`, byte for byte what
/// encoding the owned message would give; written by hand because a borrowed twin would need the
/// four variants before it.
pub(crate) fn encode_fragment_frame(
    more: bool,
    chunk: &[u8],
    limit: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    encode_frame_by_hand(limit, out, chunk.len() + 11, |body| {
        codec::write_varint(FRAGMENT_TAG, body);
        body.push(u8::from(more));
        codec::write_byte_string(chunk, body);
    })
}
