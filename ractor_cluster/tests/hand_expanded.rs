//! The derive's output written by hand: pins the contract between `ractor_cluster_derive` and
//! `ractor_cluster::__private`, independent of the macro.

// The `&&&Via` borrows are the point: they select the encoding tier (see `__private`).
#![allow(clippy::needless_borrow)]

use ractor::message::SerializedMessage;
use ractor::{Message, RpcReplyPort};

#[derive(Debug)]
enum Msg {
    Text(String, u32),
    Bulk { data: Vec<u8>, tags: Vec<String> },
    Ping,
    Ask(u32, RpcReplyPort<String>),
}

// A non-generic enum registers its type for name forwarding.
::ractor_cluster::__private::inventory::submit! {
    ::ractor_cluster::__private::MessageType::new::<Msg>(::core::concat!(
        ::core::module_path!(),
        "::",
        "Msg"
    ))
}

impl ::ractor::Message for Msg {
    fn serializable() -> bool {
        true
    }

    fn serialize(
        self,
    ) -> ::core::result::Result<
        ::ractor::message::SerializedMessage,
        ::ractor::message::BoxedDowncastErr,
    > {
        ::ractor_cluster::__private::encode_message::<Self>(move || {
            #[allow(unused_imports)]
            use ::ractor_cluster::__private::{
                ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _,
            };
            match self {
                Self::Text(f0, f1) => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Text");
                    (&&&::ractor_cluster::__private::Via::<String>::new())
                        .write_field(f0, &mut out)?;
                    (&&&::ractor_cluster::__private::Via::<u32>::new())
                        .write_field(f1, &mut out)?;
                    Ok(out.cast())
                }
                Self::Bulk { data, tags } => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Bulk");
                    (&&&::ractor_cluster::__private::Via::<Vec<u8>>::new())
                        .write_field(data, &mut out)?;
                    (&&&::ractor_cluster::__private::Via::<Vec<String>>::new())
                        .write_field(tags, &mut out)?;
                    Ok(out.cast())
                }
                Self::Ping => Ok(::ractor_cluster::__private::Outgoing::new("Ping").cast()),
                Self::Ask(f0, reply) => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Ask");
                    (&&&::ractor_cluster::__private::Via::<u32>::new())
                        .write_field(f0, &mut out)?;
                    Ok(out.call(reply, |bytes| {
                        (&&&::ractor_cluster::__private::Via::<String>::new()).read_reply(bytes)
                    }))
                }
            }
        })
    }

    fn deserialize(
        message: ::ractor::message::SerializedMessage,
    ) -> ::core::result::Result<Self, ::ractor::message::BoxedDowncastErr> {
        ::ractor_cluster::__private::decode_message(message, |incoming| {
            #[allow(unused_imports)]
            use ::ractor_cluster::__private::{
                ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _,
            };
            match incoming.variant() {
                b"Text" => {
                    incoming.expect_cast()?;
                    Ok(Self::Text(
                        (&&&::ractor_cluster::__private::Via::<String>::new())
                            .read_field(incoming)?,
                        (&&&::ractor_cluster::__private::Via::<u32>::new()).read_field(incoming)?,
                    ))
                }
                b"Bulk" => {
                    incoming.expect_cast()?;
                    Ok(Self::Bulk {
                        data: (&&&::ractor_cluster::__private::Via::<Vec<u8>>::new())
                            .read_field(incoming)?,
                        tags: (&&&::ractor_cluster::__private::Via::<Vec<String>>::new())
                            .read_field(incoming)?,
                    })
                }
                b"Ping" => {
                    incoming.expect_cast()?;
                    Ok(Self::Ping)
                }
                b"Ask" => Ok(Self::Ask(
                    (&&&::ractor_cluster::__private::Via::<u32>::new()).read_field(incoming)?,
                    incoming.reply(|value| {
                        (&&&::ractor_cluster::__private::Via::<String>::new()).write_reply(value)
                    })?,
                )),
                other => Err(::ractor_cluster::__private::FieldError::unknown_variant(
                    other,
                )),
            }
        })
    }
}

fn cast_round_trip(msg: Msg) -> Msg {
    let serialized = msg.serialize().expect("serializes");
    Msg::deserialize(serialized).expect("deserializes")
}

#[test]
fn the_type_is_registered_under_its_module_path() {
    assert_eq!(
        ractor_cluster::node::registered_message_type::<Msg>(),
        Some("hand_expanded::Msg")
    );
}

#[test]
fn casts_round_trip() {
    match cast_round_trip(Msg::Text("hi".into(), 7)) {
        Msg::Text(s, n) => assert_eq!((s.as_str(), n), ("hi", 7)),
        other => panic!("{other:?}"),
    }
    match cast_round_trip(Msg::Bulk {
        data: vec![1, 2, 3],
        tags: vec!["a".into(), "b".into()],
    }) {
        Msg::Bulk { data, tags } => {
            assert_eq!(data, vec![1, 2, 3]);
            assert_eq!(tags, vec!["a".to_owned(), "b".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(cast_round_trip(Msg::Ping), Msg::Ping));
}

#[tokio::test]
async fn a_call_round_trips_without_a_bridge_on_the_calling_side() {
    let (caller_tx, caller_rx) = ractor::concurrency::oneshot::<String>();
    let SerializedMessage::Call {
        variant,
        args,
        metadata,
        ..
    } = Msg::Ask(41, caller_tx.into()).serialize().unwrap()
    else {
        panic!("an #[rpc] variant serializes as a call")
    };
    assert!(metadata.is_some(), "the call carries its ticket");

    // The receiving node hands the actor a typed port backed by a byte port.
    let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    assert_eq!(variant, "Ask");
    let delivered = Msg::deserialize(SerializedMessage::Call {
        variant,
        args,
        reply: bytes_tx.into(),
        metadata: None,
    })
    .unwrap();
    let Msg::Ask(n, port) = delivered else {
        panic!()
    };
    port.send(format!("answer {}", n + 1)).unwrap();
    let reply_bytes = bytes_rx.await.unwrap();
    assert!(!reply_bytes.is_empty());
    drop(caller_rx);
}

#[test]
fn malformed_payloads_are_errors_not_panics() {
    // No fields, garbage, a string that claims more bytes than there are; and no variant name.
    for (variant, args) in [
        ("Text", vec![]),
        ("Text", vec![0xFF; 3]),
        ("Text", vec![9, b'h', b'i']),
        ("", vec![2, b'h', b'i', 7]),
    ] {
        let message = SerializedMessage::Cast {
            variant: variant.into(),
            args,
            metadata: None,
        };
        assert!(Msg::deserialize(message).is_err());
    }
}
