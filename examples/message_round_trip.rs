//! What a message looks like on the wire, and how an actor receives it from bytes.
//!
//! Run it with:
//!
//! ```text
//! cargo run -p ractor_cluster_examples --example message_round_trip
//! ```
//!
//! It defines a remote-capable message enum, serializes a few messages the way a node does before
//! sending them, and delivers the bytes to a real actor, as the receiving node does. A call's reply
//! comes back as bytes too. To see the same messages cross between nodes, run `demo_cluster`.

#![allow(clippy::print_stdout)] // an example talks to its user

use ractor::message::SerializedMessage;
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};

/// A user type: any serde type can be a message field or a reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    values: Vec<f64>,
}

/// The messages the inventory actor understands, from this node or any other.
#[derive(RactorClusterMessage)]
enum SensorMessage {
    /// A cast: fire and forget.
    Record(Reading),
    /// Tags are a `Vec<String>`, which the published crate could not send.
    Tag { sensor: String, tags: Vec<String> },
    /// A call: the reply is a serde type too.
    #[rpc]
    Average(String, RpcReplyPort<Option<f64>>),
}

struct Sensors;

impl Actor for Sensors {
    type Msg = SensorMessage;
    type State = Vec<Reading>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(Vec::new())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        readings: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SensorMessage::Record(reading) => readings.push(reading),
            SensorMessage::Tag { sensor, tags } => println!("  {sensor} tagged {tags:?}"),
            SensorMessage::Average(sensor, reply) => {
                let values: Vec<f64> = readings
                    .iter()
                    .filter(|r| r.sensor == sensor)
                    .flat_map(|r| r.values.iter().copied())
                    .collect();
                let average =
                    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
                reply.send(average)?;
            }
        }
        Ok(())
    }
}

fn show(message: &SerializedMessage) {
    match message {
        SerializedMessage::Cast { variant, args, .. } => {
            println!("  cast {variant:?}, {} bytes: {args:02x?}", args.len())
        }
        SerializedMessage::Call { variant, args, .. } => {
            println!("  call {variant:?}, {} bytes: {args:02x?}", args.len())
        }
        SerializedMessage::CallReply(..) => {}
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (actor, handle) = Actor::spawn(None, Sensors, ()).await?;

    println!("Serializing two casts, as a node does before sending them:");
    let casts = [
        SensorMessage::Record(Reading {
            sensor: "boiler".into(),
            values: vec![71.5, 72.25],
        }),
        SensorMessage::Tag {
            sensor: "boiler".into(),
            tags: vec!["basement".into(), "critical".into()],
        },
    ];
    for cast in casts {
        let bytes = cast.serialize().map_err(|_| "serialize failed")?;
        show(&bytes);
        // The receiving node hands the bytes to the actor, which decodes them in its own task.
        actor.get_cell().send_serialized(bytes)?;
    }

    println!("Serializing a call; its reply comes back as bytes:");
    let (caller_port, _caller_waits_here) = ractor::concurrency::oneshot();
    let call = SensorMessage::Average("boiler".into(), caller_port.into())
        .serialize()
        .map_err(|_| "serialize failed")?;
    show(&call);
    let SerializedMessage::Call { variant, args, .. } = call else {
        return Err("an #[rpc] variant serializes as a call".into());
    };
    let (reply_bytes_port, reply_bytes) = ractor::concurrency::oneshot();
    actor.get_cell().send_serialized(SerializedMessage::Call {
        variant,
        args,
        reply: reply_bytes_port.into(),
        metadata: None,
    })?;
    let reply_bytes = reply_bytes.await?;
    println!("  reply, {} bytes: {reply_bytes:02x?}", reply_bytes.len());

    println!("Garbage is dropped with a logged reason, and the actor keeps serving:");
    actor.get_cell().send_serialized(SerializedMessage::Cast {
        variant: "Record".into(),
        args: vec![0xFF, 0x00, 0x13],
        metadata: None,
    })?;
    let average = ractor::call!(actor, SensorMessage::Average, "boiler".to_string())?;
    println!("  the actor still answers: average = {average:?}");

    actor.stop(None);
    handle.await?;
    println!("done");
    Ok(())
}
