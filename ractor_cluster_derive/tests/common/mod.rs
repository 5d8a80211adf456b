//! Helpers shared by the pass tests: play the two ends of a message without any network.

#![allow(dead_code, unreachable_pub)]

use ractor::concurrency::OneshotReceiver;
use ractor::message::SerializedMessage;
use ractor::Message;

/// Serializes a cast and deserializes it, as the sending and receiving nodes would.
pub fn cast_round_trip<M: Message>(message: M) -> M {
    let serialized = message.serialize().expect("serializes");
    assert!(
        matches!(serialized, SerializedMessage::Cast { .. }),
        "a variant without #[rpc] serializes as a cast"
    );
    M::deserialize(serialized).expect("deserializes")
}

/// Serializes a call and delivers it as the receiving node does: with a byte port for the reply.
/// Returns the message the actor would get and the receiver of the encoded reply.
pub fn deliver_call<M: Message>(message: M) -> (M, OneshotReceiver<Vec<u8>>) {
    let SerializedMessage::Call {
        variant,
        args,
        metadata,
        ..
    } = message.serialize().expect("serializes")
    else {
        panic!("an #[rpc] variant serializes as a call")
    };
    assert!(metadata.is_some(), "the call carries its ticket");
    let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    let delivered = M::deserialize(SerializedMessage::Call {
        variant,
        args,
        reply: bytes_tx.into(),
        metadata: None,
    })
    .expect("deserializes");
    (delivered, bytes_rx)
}

/// What a message serializes to: the variant's name and the payload bytes.
pub type Parts = (String, Vec<u8>);

/// The variant name and payload bytes of a cast, to replay them under another message type.
pub fn cast_args<M: Message>(message: M) -> Parts {
    match message.serialize().expect("serializes") {
        SerializedMessage::Cast { variant, args, .. } => (variant, args),
        other => panic!("expected a cast, got {other:?}"),
    }
}

/// Wraps a variant name and payload bytes as a received cast.
pub fn as_cast((variant, args): Parts) -> SerializedMessage {
    SerializedMessage::Cast {
        variant,
        args,
        metadata: None,
    }
}

/// Wraps a variant name and payload bytes as a received call, whose reply nobody reads.
pub fn as_call((variant, args): Parts) -> SerializedMessage {
    let (bytes_tx, _bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    SerializedMessage::Call {
        variant,
        args,
        reply: bytes_tx.into(),
        metadata: None,
    }
}

/// A caller's reply port; the receiver is kept so the port stays open.
pub fn reply_port<T>() -> (ractor::RpcReplyPort<T>, OneshotReceiver<T>) {
    let (tx, rx) = ractor::concurrency::oneshot::<T>();
    (tx.into(), rx)
}

/// A temperature with a hand-written byte encoding and no serde: the published crate's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Celsius(pub i32);

impl ractor_cluster::BytesConvertable for Celsius {
    fn into_bytes(self) -> Vec<u8> {
        self.0.to_le_bytes().to_vec()
    }

    fn from_bytes(bytes: Vec<u8>) -> Self {
        let array: [u8; 4] = bytes.try_into().expect("four bytes");
        Self(i32::from_le_bytes(array))
    }
}

/// Decodes the bytes of a reply of type `$ty` the way the caller's node does, through the same
/// `__private` probe that derived code uses.
#[allow(unused_macros)]
macro_rules! decode_reply {
    ($ty:ty, $bytes:expr) => {{
        #[allow(unused_imports)]
        use ractor_cluster::__private::{ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _};
        (&&&ractor_cluster::__private::Via::<$ty>::new())
            .read_reply(&$bytes)
            .expect("the reply decodes")
    }};
}
