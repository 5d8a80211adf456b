//! `#[rpc]` variants: the reply port at any position, in tuple and struct-style variants, and the
//! reply travelling back as bytes.

#[macro_use]
mod common;

use common::{deliver_call, reply_port, Celsius};
use ractor::RpcReplyPort;
use ractor_cluster::RactorClusterMessage;

#[derive(Debug, RactorClusterMessage)]
enum ThermostatMessage {
    #[rpc]
    Only(RpcReplyPort<u32>),
    #[rpc]
    First(ractor::RpcReplyPort<String>, u8, String),
    #[rpc]
    Middle(u8, ::ractor::port::RpcReplyPort<Vec<String>>, String),
    #[rpc]
    Last(u8, String, RpcReplyPort<Option<u64>>),
    #[rpc]
    Named {
        reply: RpcReplyPort<(u8, String)>,
        zone: String,
    },
    #[rpc]
    NamedMiddle {
        zone: String,
        reply: RpcReplyPort<Celsius>,
        offset: Celsius,
    },
    #[rpc]
    NamedLast {
        zone: String,
        raw: Vec<u8>,
        reply: RpcReplyPort<Vec<u8>>,
    },
    Set(u8),
}

#[tokio::test]
async fn a_reply_port_alone_carries_the_reply() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::Only(port));
    let ThermostatMessage::Only(port) = delivered else {
        panic!("{delivered:?}")
    };
    port.send(42).unwrap();
    assert_eq!(decode_reply!(u32, reply.await.unwrap()), 42);
}

#[tokio::test]
async fn the_reply_port_may_come_first() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::First(port, 7, "seven".into()));
    let ThermostatMessage::First(port, n, text) = delivered else {
        panic!("{delivered:?}")
    };
    assert_eq!((n, text.as_str()), (7, "seven"));
    port.send(format!("{text}!")).unwrap();
    assert_eq!(decode_reply!(String, reply.await.unwrap()), "seven!");
}

#[tokio::test]
async fn the_reply_port_may_sit_in_the_middle() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::Middle(2, port, "ab".into()));
    let ThermostatMessage::Middle(n, port, text) = delivered else {
        panic!("{delivered:?}")
    };
    port.send(vec![text; n.into()]).unwrap();
    assert_eq!(
        decode_reply!(Vec<String>, reply.await.unwrap()),
        vec!["ab".to_owned(), "ab".to_owned()]
    );
}

#[tokio::test]
async fn the_reply_port_may_come_last() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::Last(3, "x".into(), port));
    let ThermostatMessage::Last(n, text, port) = delivered else {
        panic!("{delivered:?}")
    };
    assert_eq!((n, text.as_str()), (3, "x"));
    port.send(Some(u64::MAX)).unwrap();
    assert_eq!(
        decode_reply!(Option<u64>, reply.await.unwrap()),
        Some(u64::MAX)
    );
}

#[tokio::test]
async fn struct_style_calls_carry_their_reply() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::Named {
        reply: port,
        zone: "hall".into(),
    });
    let ThermostatMessage::Named { reply: port, zone } = delivered else {
        panic!("{delivered:?}")
    };
    port.send((1, zone)).unwrap();
    assert_eq!(
        decode_reply!((u8, String), reply.await.unwrap()),
        (1, "hall".to_owned())
    );
}

#[tokio::test]
async fn a_bytes_convertable_type_works_as_argument_and_reply() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::NamedMiddle {
        zone: "attic".into(),
        reply: port,
        offset: Celsius(-3),
    });
    let ThermostatMessage::NamedMiddle {
        zone,
        reply: port,
        offset,
    } = delivered
    else {
        panic!("{delivered:?}")
    };
    assert_eq!((zone.as_str(), offset), ("attic", Celsius(-3)));
    port.send(Celsius(20 + offset.0)).unwrap();
    assert_eq!(decode_reply!(Celsius, reply.await.unwrap()), Celsius(17));
}

#[tokio::test]
async fn raw_bytes_work_as_argument_and_reply() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(ThermostatMessage::NamedLast {
        zone: "z".into(),
        raw: vec![1, 2, 3],
        reply: port,
    });
    let ThermostatMessage::NamedLast {
        zone,
        raw,
        reply: port,
    } = delivered
    else {
        panic!("{delivered:?}")
    };
    assert_eq!(zone, "z");
    port.send(raw.into_iter().rev().collect()).unwrap();
    assert_eq!(decode_reply!(Vec<u8>, reply.await.unwrap()), vec![3, 2, 1]);
}

#[test]
fn a_call_delivered_as_a_cast_is_rejected() {
    use ractor::message::SerializedMessage;
    use ractor::Message;

    let (port, _caller) = reply_port();
    let SerializedMessage::Call { variant, args, .. } =
        ThermostatMessage::Only(port).serialize().unwrap()
    else {
        panic!("an #[rpc] variant serializes as a call")
    };
    assert!(ThermostatMessage::deserialize(common::as_cast((variant, args))).is_err());
}

#[test]
fn a_cast_delivered_as_a_call_is_rejected() {
    use ractor::Message;

    let args = common::cast_args(ThermostatMessage::Set(1));
    assert!(ThermostatMessage::deserialize(common::as_call(args.clone())).is_err());
    assert!(ThermostatMessage::deserialize(common::as_cast(args)).is_ok());
}

/// Serializes and deserializes `message` in this process, as a user's unit test of a message type
/// does (and the published crate's own tests do): no session in between.
fn local_round_trip(message: ThermostatMessage) -> ThermostatMessage {
    use ractor::Message;
    ThermostatMessage::deserialize(message.serialize().unwrap()).unwrap()
}

// A plain #[test]: no runtime, so nothing can be spawned to carry the answer.
#[test]
fn a_call_serialized_and_deserialized_here_answers_the_original_caller() {
    let (port, mut caller) = reply_port();
    let ThermostatMessage::NamedMiddle {
        zone,
        reply,
        offset,
    } = local_round_trip(ThermostatMessage::NamedMiddle {
        zone: "cellar".into(),
        reply: port,
        offset: Celsius(2),
    })
    else {
        panic!("the same variant comes back")
    };
    assert_eq!((zone.as_str(), offset), ("cellar", Celsius(2)));
    reply.send(Celsius(14)).unwrap();
    assert_eq!(caller.try_recv().unwrap(), Celsius(14));
}

#[tokio::test]
async fn a_local_round_trip_keeps_the_callers_timeout_and_answers_an_awaiting_caller() {
    use std::time::Duration;

    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let port: RpcReplyPort<u32> = (tx, Duration::from_secs(5)).into();
    let ThermostatMessage::Only(reply) = local_round_trip(ThermostatMessage::Only(port)) else {
        panic!("the same variant comes back")
    };
    assert_eq!(reply.get_timeout(), Some(Duration::from_secs(5)));
    // Answered from another task, as an actor would.
    tokio::spawn(async move { reply.send(21) });
    let answer = tokio::time::timeout(Duration::from_secs(5), rx).await;
    assert_eq!(answer.unwrap().unwrap(), 21);
}
