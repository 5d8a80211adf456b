//! The variant's name travels in `SerializedMessage`'s `variant`, as the published derive put it:
//! middleware and hand-written remote cells route on it, and `args` holds the fields alone.

#[macro_use]
mod common;

use std::collections::HashSet;

use common::reply_port;
use ractor::message::SerializedMessage;
use ractor::{Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

#[derive(Debug, RactorClusterMessage)]
enum DoorMessage {
    Open,
    Close(),
    Lock {
        code: u32,
    },
    Label(String, Vec<u8>),
    #[rpc]
    IsOpen(RpcReplyPort<bool>),
    #[rpc]
    Code(String, RpcReplyPort<u32>),
}

#[derive(Debug, RactorClusterMessage)]
enum Wrapper<T: ractor::BytesConvertable> {
    Item(T),
}

/// The tag and the kind of every variant, in declaration order.
fn tags() -> Vec<(String, &'static str)> {
    let (is_open, _a) = reply_port();
    let (code, _b) = reply_port();
    let messages = vec![
        DoorMessage::Open,
        DoorMessage::Close(),
        DoorMessage::Lock { code: 1234 },
        DoorMessage::Label("front".into(), vec![1, 2]),
        DoorMessage::IsOpen(is_open),
        DoorMessage::Code("front".into(), code),
    ];
    messages
        .into_iter()
        .map(|message| match message.serialize().expect("serializes") {
            SerializedMessage::Cast { variant, .. } => (variant, "cast"),
            SerializedMessage::Call { variant, .. } => (variant, "call"),
            SerializedMessage::CallReply(..) => panic!("a message is not a reply"),
        })
        .collect()
}

#[test]
fn each_variant_is_tagged_with_its_own_name() {
    let expected = [
        ("Open", "cast"),
        ("Close", "cast"),
        ("Lock", "cast"),
        ("Label", "cast"),
        ("IsOpen", "call"),
        ("Code", "call"),
    ];
    let tags = tags();
    let got: Vec<(&str, &str)> = tags
        .iter()
        .map(|(tag, kind)| (tag.as_str(), *kind))
        .collect();
    assert_eq!(got, expected);
    let distinct: HashSet<&str> = got.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(distinct.len(), expected.len());
}

#[test]
fn a_generic_enum_is_tagged_without_its_parameters() {
    let Ok(SerializedMessage::Cast { variant, .. }) = Wrapper::Item(5u8).serialize() else {
        panic!("a variant without #[rpc] serializes as a cast")
    };
    assert_eq!(variant, "Item");
}

#[test]
fn args_hold_the_fields_alone() {
    for unit in [DoorMessage::Open, DoorMessage::Close()] {
        let Ok(SerializedMessage::Cast { args, .. }) = unit.serialize() else {
            panic!("a unit variant serializes as a cast")
        };
        assert!(args.is_empty(), "{args:?}");
    }
    let Ok(SerializedMessage::Cast { args, .. }) = DoorMessage::Lock { code: 7 }.serialize() else {
        panic!("a variant without #[rpc] serializes as a cast")
    };
    // The codec's variable-length integer for 7, and nothing else.
    assert_eq!(args, [7]);
}

#[test]
fn a_message_built_from_its_name_decodes() {
    let open = SerializedMessage::Cast {
        variant: "Open".into(),
        args: Vec::new(),
        metadata: None,
    };
    assert!(matches!(
        DoorMessage::deserialize(open),
        Ok(DoorMessage::Open)
    ));

    let (bytes_tx, _bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    let is_open = SerializedMessage::Call {
        variant: "IsOpen".into(),
        args: Vec::new(),
        reply: bytes_tx.into(),
        metadata: None,
    };
    assert!(matches!(
        DoorMessage::deserialize(is_open),
        Ok(DoorMessage::IsOpen(_))
    ));

    // A call's name delivered as a cast, and an unknown name, are errors.
    for variant in ["IsOpen", "Shut", ""] {
        let cast = SerializedMessage::Cast {
            variant: variant.into(),
            args: Vec::new(),
            metadata: None,
        };
        assert!(DoorMessage::deserialize(cast).is_err(), "{variant:?}");
    }
}
