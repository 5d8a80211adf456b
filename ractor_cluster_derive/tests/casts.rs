//! Casts of every accepted shape and argument type survive serialize + deserialize.

#[macro_use]
mod common;

use std::collections::HashMap;

use common::{cast_round_trip, Celsius};
use ractor_cluster::RactorClusterMessage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Position {
    x: f64,
    y: f64,
    label: Option<String>,
}

#[derive(Debug, PartialEq, RactorClusterMessage)]
enum SensorMessage {
    Text(String),
    Numbers(u8, i64, u128),
    Names(Vec<String>),
    Maybe(Option<u32>),
    Pair((u16, String)),
    Table(HashMap<String, u32>),
    Moved(Position),
    Raw(Vec<u8>),
    Reading(Celsius),
    Mixed {
        id: u64,
        raw: Vec<u8>,
        temperature: Celsius,
        at: Position,
    },
    Empty {},
    Nothing(),
    Stop,
}

/// One message of each variant, two of some.
fn every_sensor_message() -> Vec<SensorMessage> {
    let mut table = HashMap::new();
    table.insert("a".to_owned(), 1);
    table.insert("b".to_owned(), 2);
    let position = Position {
        x: 1.5,
        y: -2.0,
        label: Some("dock".into()),
    };
    vec![
        SensorMessage::Text("hello".into()),
        SensorMessage::Numbers(255, -42, u128::MAX),
        SensorMessage::Names(vec!["a".into(), String::new(), "ü".into()]),
        SensorMessage::Maybe(Some(7)),
        SensorMessage::Maybe(None),
        SensorMessage::Pair((9, "nine".into())),
        SensorMessage::Table(table),
        SensorMessage::Moved(position.clone()),
        SensorMessage::Raw(vec![0, 1, 2, 255]),
        SensorMessage::Raw(Vec::new()),
        SensorMessage::Reading(Celsius(-40)),
        SensorMessage::Mixed {
            id: 3,
            raw: vec![9; 100],
            temperature: Celsius(21),
            at: position,
        },
        SensorMessage::Empty {},
        SensorMessage::Nothing(),
        SensorMessage::Stop,
    ]
}

#[test]
fn tuple_struct_and_unit_variants_round_trip() {
    for (message, expected) in every_sensor_message()
        .into_iter()
        .zip(every_sensor_message())
    {
        assert_eq!(cast_round_trip(message), expected);
    }
}

#[derive(Debug, PartialEq, RactorClusterMessage)]
enum Signal {
    Start,
    Pause,
    Stop,
}

#[test]
fn an_enum_of_unit_variants_round_trips() {
    for signal in [Signal::Start, Signal::Pause, Signal::Stop] {
        let expected = format!("{signal:?}");
        assert_eq!(format!("{:?}", cast_round_trip(signal)), expected);
    }
}

#[derive(RactorClusterMessage)]
enum Never {}

#[test]
fn an_enum_without_variants_is_a_message_that_decodes_to_nothing() {
    use ractor::Message;
    assert!(Never::serializable());
    let args = common::cast_args(Signal::Start);
    assert!(Never::deserialize(common::as_cast(args)).is_err());
}

#[test]
fn raw_identifiers_are_named_without_the_prefix() {
    #[derive(Debug, RactorClusterMessage)]
    #[allow(non_camel_case_types)]
    enum Keywords {
        r#type(String),
    }
    #[derive(Debug, RactorClusterMessage)]
    #[allow(non_camel_case_types)]
    enum Plain {
        r#type(String),
    }
    let parts = common::cast_args(Keywords::r#type("t".into()));
    assert_eq!(parts.0, "type");
    let decoded = <Plain as ractor::Message>::deserialize(common::as_cast(parts)).unwrap();
    let Plain::r#type(text) = decoded;
    assert_eq!(text, "t");
}

#[test]
fn field_names_that_match_generated_locals_do_not_clash() {
    #[derive(Debug, PartialEq, RactorClusterMessage)]
    enum Clashing {
        Names {
            out: u8,
            incoming: u8,
            message: u8,
            bytes: u8,
            value: u8,
            other: u8,
        },
    }
    let message = Clashing::Names {
        out: 1,
        incoming: 2,
        message: 3,
        bytes: 4,
        value: 5,
        other: 6,
    };
    assert_eq!(
        cast_round_trip(message),
        Clashing::Names {
            out: 1,
            incoming: 2,
            message: 3,
            bytes: 4,
            value: 5,
            other: 6,
        }
    );
}

mod shadowed_prelude {
    //! The generated code names `Ok`, `Err` and `Result` by full path, so a user's own do not
    //! confuse it.
    #![allow(dead_code)]

    use ractor_cluster::RactorClusterMessage;

    enum Outcome {
        Ok,
        Err,
    }
    use Outcome::{Err, Ok};
    type Result = ();

    #[derive(RactorClusterMessage)]
    pub(super) enum Shadowed {
        Value(u8),
    }

    #[test]
    fn round_trips() {
        let Shadowed::Value(n) = super::common::cast_round_trip(Shadowed::Value(4));
        assert_eq!(n, 4);
        let _ = (Ok, Err);
        let _: Result = ();
    }
}
