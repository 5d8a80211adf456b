//! What the derive macros' output calls, and nothing else. Not a public API: names here may change in
//! any release.
//!
//! # How a message becomes bytes
//! A `#[derive(RactorClusterMessage)]` enum serializes as the variant's name, in
//! `SerializedMessage`'s `variant`, and each field in declaration order, in `args`; a session puts
//! the name in front of the fields on the wire (`PROTOCOL.md`, "User message payloads").
//!
//! How one field is written depends on what its type implements, chosen at compile time by
//! *autoref specialization*: the derive calls `(&&&Via::<FieldType>::new()).write_field(value, out)`
//! with all three `Via*` traits in scope, and method resolution picks the first tier the type
//! qualifies for:
//!
//! 1. [`ViaWire`] for [`WireField`] types: raw byte payloads (`Vec<u8>`) and prost messages
//!    (`derive_serialization_for_prost_type!`), written as a length-prefixed byte string;
//! 2. [`ViaSerde`] for `serde::Serialize + DeserializeOwned` types, written through the codec;
//! 3. [`ViaBytes`] for hand-written [`BytesConvertable`] impls (the published crate's way), written as
//!    a length-prefixed byte string.
//!
//! Tiers 1 and 2 decode without panicking. Tier 3 calls user code whose signature cannot fail; its
//! panics are caught and turned into a decode error (which a `panic = "abort"` build cannot do,
//! so such impls should not panic).
//!
//! The choice is made where the field's type is known, in the generated code, because a blanket impl
//! over serde types next to `ractor`'s own [`BytesConvertable`] impls would not be coherent.

use std::marker::PhantomData;

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::{ActorCell, ActorRef, BytesConvertable, Message, RpcReplyPort};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::call;
use crate::protocol::codec;

pub use crate::error::FieldError;

/// A message being serialized: the variant's name, and its fields appended one by one.
///
/// The name travels in [`SerializedMessage`]'s `variant`, as the published derive put it, so
/// middleware and hand-written remote cells can route on it; `args` holds the fields only.
#[derive(Debug)]
pub struct Outgoing {
    variant: &'static str,
    args: Vec<u8>,
}

impl Outgoing {
    /// Starts the payload of `variant`. Nothing is allocated until a field is written: a unit
    /// variant's `args` stay empty.
    pub fn new(variant: &'static str) -> Self {
        Self {
            variant,
            args: Vec::new(),
        }
    }

    /// Finishes a one-way message.
    pub fn cast(self) -> SerializedMessage {
        // With `trace-context`, the sender's trace context, if any, rides in the metadata as far
        // as the proxy (`crate::trace`).
        #[cfg(feature = "trace-context")]
        let metadata = crate::trace::with_current_context(None);
        #[cfg(not(feature = "trace-context"))]
        let metadata = None;
        SerializedMessage::Cast {
            variant: self.variant.to_owned(),
            args: self.args,
            metadata,
        }
    }

    /// Finishes a call whose reply, once it comes back as bytes, is decoded with `decode` and sent
    /// to `reply`. No task waits for it: the session that carries the call completes the
    /// [`CallTicket`] recorded in the message's metadata.
    pub fn call<R: Send + 'static>(
        self,
        reply: RpcReplyPort<R>,
        decode: fn(&[u8]) -> Result<R, FieldError>,
    ) -> SerializedMessage {
        let (ticket, placeholder) = call::register_pending_call(reply, decode);
        #[cfg(feature = "trace-context")]
        let metadata = crate::trace::with_current_context(Some(ticket.to_metadata()));
        #[cfg(not(feature = "trace-context"))]
        let metadata = Some(ticket.to_metadata());
        SerializedMessage::Call {
            variant: self.variant.to_owned(),
            args: self.args,
            reply: placeholder,
            metadata,
        }
    }
}

/// The reply channel of an incoming call and the metadata that came with it.
type IncomingReply = (RpcReplyPort<Vec<u8>>, Option<Vec<u8>>);

/// A message being deserialized: the variant's name (from `variant`) and the fields still to read.
#[derive(Debug)]
pub struct Incoming<'a> {
    variant: &'a [u8],
    rest: &'a [u8],
    reply: Option<IncomingReply>,
}

impl<'a> Incoming<'a> {
    /// The variant name, compared by the generated code against the names it knows.
    pub fn variant(&self) -> &'a [u8] {
        self.variant
    }

    /// Takes the reply channel of a call: values the actor sends into the returned port are encoded
    /// with `encode` and travel back to the caller.
    pub fn reply<R: Send + 'static>(
        &mut self,
        encode: fn(R) -> Result<Vec<u8>, FieldError>,
    ) -> Result<RpcReplyPort<R>, FieldError> {
        match self.reply.take() {
            Some((port, metadata)) => Ok(call::typed_reply_port(port, metadata.as_deref(), encode)),
            None => Err(FieldError::wrong_kind(self.variant, "cast")),
        }
    }

    /// Fails if this is a call: a cast variant must not swallow a caller's reply channel.
    pub fn expect_cast(&self) -> Result<(), FieldError> {
        match self.reply {
            Some(_) => Err(FieldError::wrong_kind(self.variant, "call")),
            None => Ok(()),
        }
    }

    fn take_byte_string(&mut self) -> Result<&'a [u8], FieldError> {
        let (bytes, rest) = codec::read_byte_string(self.rest)?;
        self.rest = rest;
        Ok(bytes)
    }
}

/// Runs the generated serializer and logs why it failed, if it did.
pub fn encode_message<M>(
    encode: impl FnOnce() -> Result<SerializedMessage, FieldError>,
) -> Result<SerializedMessage, BoxedDowncastErr> {
    encode().map_err(|err| {
        tracing::warn!(
            message_type = std::any::type_name::<M>(),
            %err,
            "cannot serialize a message for a remote actor; it is not sent"
        );
        BoxedDowncastErr
    })
}

/// Opens a serialized message, runs the generated field decoder on it, checks that nothing is left
/// over, and logs why the message is dropped if anything failed. A call's reply channel that is not
/// taken is dropped, so the caller learns at once that no reply will come.
pub fn decode_message<M>(
    message: SerializedMessage,
    decode: impl FnOnce(&mut Incoming<'_>) -> Result<M, FieldError>,
) -> Result<M, BoxedDowncastErr> {
    let (variant, args, reply) = match message {
        SerializedMessage::Cast { variant, args, .. } => (variant, args, None),
        SerializedMessage::Call {
            variant,
            args,
            reply,
            metadata,
        } => (variant, args, Some((reply, metadata))),
        SerializedMessage::CallReply(..) => {
            return Err(log_undecodable::<M>(&FieldError::new(
                "a call reply is not a message",
            )))
        }
    };
    let mut incoming = Incoming {
        variant: variant.as_bytes(),
        rest: &args,
        reply,
    };
    decode_fields(&mut incoming, decode).map_err(|err| log_undecodable::<M>(&err))
}

fn decode_fields<M>(
    incoming: &mut Incoming<'_>,
    decode: impl FnOnce(&mut Incoming<'_>) -> Result<M, FieldError>,
) -> Result<M, FieldError> {
    let message = decode(incoming)?;
    if incoming.rest.is_empty() {
        Ok(message)
    } else {
        Err(codec::CodecError::trailing(incoming.rest.len()).into())
    }
}

fn log_undecodable<M>(err: &FieldError) -> BoxedDowncastErr {
    tracing::warn!(
        message_type = std::any::type_name::<M>(),
        %err,
        "dropping a remote message that cannot be decoded"
    );
    BoxedDowncastErr
}

/// A type that has its own byte encoding, preferred over serde: raw byte buffers (copied once, not
/// element by element) and prost messages.
pub trait WireField: Sized {
    /// How many bytes [`WireField::write_wire`] appends.
    fn wire_len(&self) -> usize;
    /// Appends the encoding.
    fn write_wire(&self, out: &mut Vec<u8>);
    /// Decodes the exact bytes written by `write_wire`.
    fn read_wire(bytes: &[u8]) -> Result<Self, FieldError>;
}

impl WireField for Vec<u8> {
    fn wire_len(&self) -> usize {
        self.len()
    }
    fn write_wire(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn read_wire(bytes: &[u8]) -> Result<Self, FieldError> {
        Ok(bytes.to_vec())
    }
}

/// The type-level tag that autoref specialization dispatches on; see the module docs.
pub struct Via<T>(PhantomData<fn() -> T>);

impl<T> Via<T> {
    /// The tag for `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> std::fmt::Debug for Via<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Via<{}>", std::any::type_name::<T>())
    }
}

macro_rules! tier_trait {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub trait $name<T> {
            /// Appends `value` to the message being built.
            fn write_field(&self, value: T, out: &mut Outgoing) -> Result<(), FieldError>;
            /// Reads the next field of the message being decoded.
            fn read_field(&self, input: &mut Incoming<'_>) -> Result<T, FieldError>;
            /// Encodes a call's reply value.
            fn write_reply(&self, value: T) -> Result<Vec<u8>, FieldError>;
            /// Decodes a call's reply value; bytes left over are an error.
            fn read_reply(&self, bytes: &[u8]) -> Result<T, FieldError>;
        }
    };
}

tier_trait!(
    /// Tier 1: [`WireField`] types.
    ViaWire
);
tier_trait!(
    /// Tier 2: serde types.
    ViaSerde
);
tier_trait!(
    /// Tier 3: hand-written [`BytesConvertable`] types.
    ViaBytes
);

impl<T: WireField> ViaWire<T> for &&Via<T> {
    fn write_field(&self, value: T, out: &mut Outgoing) -> Result<(), FieldError> {
        let len = value.wire_len();
        // The length prefix takes at most 9 bytes; one allocation for a message of one such field.
        out.args.reserve(len + 9);
        codec::write_varint(len as u64, &mut out.args);
        value.write_wire(&mut out.args);
        Ok(())
    }
    fn read_field(&self, input: &mut Incoming<'_>) -> Result<T, FieldError> {
        T::read_wire(input.take_byte_string()?)
    }
    fn write_reply(&self, value: T) -> Result<Vec<u8>, FieldError> {
        let mut out = Vec::with_capacity(value.wire_len());
        value.write_wire(&mut out);
        Ok(out)
    }
    fn read_reply(&self, bytes: &[u8]) -> Result<T, FieldError> {
        T::read_wire(bytes)
    }
}

impl<T: Serialize + DeserializeOwned> ViaSerde<T> for &Via<T> {
    fn write_field(&self, value: T, out: &mut Outgoing) -> Result<(), FieldError> {
        Ok(codec::encode_into(&value, &mut out.args)?)
    }
    fn read_field(&self, input: &mut Incoming<'_>) -> Result<T, FieldError> {
        let (value, used) = codec::decode_prefix(input.rest)?;
        input.rest = input.rest.get(used..).unwrap_or_default();
        Ok(value)
    }
    fn write_reply(&self, value: T) -> Result<Vec<u8>, FieldError> {
        Ok(codec::encode_to_vec(&value)?)
    }
    fn read_reply(&self, bytes: &[u8]) -> Result<T, FieldError> {
        Ok(codec::decode_exact(bytes)?)
    }
}

impl<T: BytesConvertable> ViaBytes<T> for Via<T> {
    fn write_field(&self, value: T, out: &mut Outgoing) -> Result<(), FieldError> {
        codec::write_byte_string(&value.into_bytes(), &mut out.args);
        Ok(())
    }
    fn read_field(&self, input: &mut Incoming<'_>) -> Result<T, FieldError> {
        let bytes = input.take_byte_string()?;
        from_bytes_catching_panics(bytes.to_vec())
    }
    fn write_reply(&self, value: T) -> Result<Vec<u8>, FieldError> {
        Ok(value.into_bytes())
    }
    fn read_reply(&self, bytes: &[u8]) -> Result<T, FieldError> {
        from_bytes_catching_panics(bytes.to_vec())
    }
}

/// Tier 1 too, for actor references: `ActorRef<M>`, `ActorCell` and their `Option`s (which have no
/// serde impls, and cannot be given any). Encoded as `(node id, incarnation, pid)` and resolved on
/// arrival: see [`crate::node::references`](crate::node::where_is) and PROTOCOL.md, "Actor
/// references". A reference to a local actor of a type other than `M` fails to decode.
pub trait ViaRef<T> {
    /// Appends `value` to the message being built.
    fn write_field(&self, value: T, out: &mut Outgoing) -> Result<(), FieldError>;
    /// Reads the next field of the message being decoded.
    fn read_field(&self, input: &mut Incoming<'_>) -> Result<T, FieldError>;
    /// Encodes a call's reply value.
    fn write_reply(&self, value: T) -> Result<Vec<u8>, FieldError>;
    /// Decodes a call's reply value; bytes left over are an error.
    fn read_reply(&self, bytes: &[u8]) -> Result<T, FieldError>;
}

/// How a reference type is written and resolved; implemented for the four forms [`ViaRef`] accepts.
pub trait Reference: Sized {
    /// The wire form.
    fn to_wire(&self) -> Result<Option<WireReference>, FieldError>;
    /// Resolves the wire form.
    fn from_wire(wire: Option<WireReference>) -> Result<Self, FieldError>;
}

/// The wire form of an actor reference (PROTOCOL.md, "Actor references").
pub use crate::protocol::reference::WireReference;

/// Registers the message types of non-generic `#[derive(RactorClusterMessage)]` enums, whose
/// named actors other nodes make findable with `ractor::registry::where_is` (see
/// `node::register_message_type`).
pub use crate::node::names::MessageType;
pub use inventory;

/// The wire form of a reference to `cell`. A name forwarder travels as the remote actor it stands
/// for: it is local to this node and means nothing elsewhere.
fn encode_reference(cell: &ActorCell) -> Result<Option<WireReference>, FieldError> {
    let forwarded = crate::node::names::forwarded_to(cell);
    crate::node::references::encode(forwarded.as_ref().unwrap_or(cell)).map(Some)
}

fn required(wire: Option<WireReference>) -> Result<WireReference, FieldError> {
    wire.ok_or_else(|| FieldError::new("expected an actor reference, found none"))
}

impl Reference for ActorCell {
    fn to_wire(&self) -> Result<Option<WireReference>, FieldError> {
        encode_reference(self)
    }
    fn from_wire(wire: Option<WireReference>) -> Result<Self, FieldError> {
        crate::node::references::resolve(required(wire)?)
    }
}

impl<M: Message> Reference for ActorRef<M> {
    fn to_wire(&self) -> Result<Option<WireReference>, FieldError> {
        encode_reference(&self.get_cell())
    }
    fn from_wire(wire: Option<WireReference>) -> Result<Self, FieldError> {
        let cell = crate::node::references::resolve(required(wire)?)?;
        if cell.is_message_type_of::<M>() == Some(false) {
            return Err(FieldError::new(format!(
                "the referenced actor {} does not take {}",
                cell.get_id(),
                std::any::type_name::<M>()
            )));
        }
        Ok(cell.into())
    }
}

impl<R: Reference> Reference for Option<R>
where
    Option<R>: OptionalReference,
{
    fn to_wire(&self) -> Result<Option<WireReference>, FieldError> {
        match self {
            Some(reference) => reference.to_wire(),
            None => Ok(None),
        }
    }
    fn from_wire(wire: Option<WireReference>) -> Result<Self, FieldError> {
        wire.map(|wire| R::from_wire(Some(wire))).transpose()
    }
}

/// Marks `Option<ActorRef<M>>` and `Option<ActorCell>` (and not `Option<Option<..>>`).
pub trait OptionalReference {}
impl OptionalReference for Option<ActorCell> {}
impl<M: Message> OptionalReference for Option<ActorRef<M>> {}

impl<T: Reference> ViaRef<T> for &&Via<T> {
    fn write_field(&self, value: T, out: &mut Outgoing) -> Result<(), FieldError> {
        Ok(codec::encode_into(&value.to_wire()?, &mut out.args)?)
    }
    fn read_field(&self, input: &mut Incoming<'_>) -> Result<T, FieldError> {
        let (wire, used) = codec::decode_prefix::<Option<WireReference>>(input.rest)?;
        input.rest = input.rest.get(used..).unwrap_or_default();
        T::from_wire(wire)
    }
    fn write_reply(&self, value: T) -> Result<Vec<u8>, FieldError> {
        Ok(codec::encode_to_vec(&value.to_wire()?)?)
    }
    fn read_reply(&self, bytes: &[u8]) -> Result<T, FieldError> {
        T::from_wire(codec::decode_exact(bytes)?)
    }
}

/// `BytesConvertable::from_bytes` cannot report failure, and its documentation allows panics, so
/// a panic is caught here and reported as a decode error. Only hand-written impls take this path.
fn from_bytes_catching_panics<T: BytesConvertable>(bytes: Vec<u8>) -> Result<T, FieldError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| T::from_bytes(bytes))).map_err(|_| {
        FieldError::new(format!(
            "BytesConvertable::from_bytes for {} panicked",
            std::any::type_name::<T>()
        ))
    })
}

#[cfg(feature = "prost")]
pub use prost;

/// Appends a prost message; used by `derive_serialization_for_prost_type!`.
#[cfg(feature = "prost")]
pub fn encode_prost<T: prost::Message>(value: &T, out: &mut Vec<u8>) {
    // Encoding into a Vec only fails for lack of capacity, which a Vec grows.
    let _ = value.encode(out);
}

/// Decodes a prost message; used by `derive_serialization_for_prost_type!`.
#[cfg(feature = "prost")]
pub fn decode_prost<T: prost::Message + Default>(bytes: &[u8]) -> Result<T, FieldError> {
    T::decode(bytes).map_err(|err| {
        FieldError::new(format!(
            "malformed {} payload: {err}",
            std::any::type_name::<T>()
        ))
    })
}
