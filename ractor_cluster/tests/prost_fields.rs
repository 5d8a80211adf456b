//! prost messages as fields and replies of a derived message (feature `prost`).
#![cfg(feature = "prost")]

use ractor::message::SerializedMessage;
use ractor::{Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

/// A reading, as a prost message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Temperature {
    /// Degrees.
    #[prost(double, tag = "1")]
    pub celsius: f64,
    /// Where it was read.
    #[prost(string, tag = "2")]
    pub sensor: String,
}
ractor_cluster::derive_serialization_for_prost_type! {Temperature}

#[derive(Debug, RactorClusterMessage)]
enum ThermostatMessage {
    Report(Temperature, u32),
    #[rpc]
    Latest(String, RpcReplyPort<Temperature>),
}

#[test]
fn a_prost_field_round_trips() {
    let reading = Temperature {
        celsius: 21.5,
        sensor: "hall".into(),
    };
    let bytes = ThermostatMessage::Report(reading.clone(), 3)
        .serialize()
        .unwrap();
    match ThermostatMessage::deserialize(bytes).unwrap() {
        ThermostatMessage::Report(back, n) => assert_eq!((back, n), (reading, 3)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_prost_reply_travels_back_as_bytes() {
    let (caller, _caller_rx) = ractor::concurrency::oneshot();
    let SerializedMessage::Call { variant, args, .. } =
        ThermostatMessage::Latest("hall".into(), caller.into())
            .serialize()
            .unwrap()
    else {
        panic!("an #[rpc] variant serializes as a call")
    };
    let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot();
    let delivered = ThermostatMessage::deserialize(SerializedMessage::Call {
        variant,
        args,
        reply: bytes_tx.into(),
        metadata: None,
    })
    .unwrap();
    let ThermostatMessage::Latest(sensor, port) = delivered else {
        panic!("wrong variant")
    };
    let reply = Temperature {
        celsius: 19.0,
        sensor,
    };
    port.send(reply.clone()).unwrap();
    let bytes = bytes_rx.await.unwrap();
    assert_eq!(
        <Temperature as prost::Message>::decode(bytes.as_slice()).unwrap(),
        reply
    );
}

#[test]
fn a_malformed_prost_field_is_an_error_not_a_panic() {
    // "Report": a byte string holding an invalid protobuf (a truncated varint), then a u32.
    let message = SerializedMessage::Cast {
        variant: "Report".into(),
        args: vec![2, 0x08, 0xFF, 3],
        metadata: None,
    };
    assert!(ThermostatMessage::deserialize(message).is_err());
}
