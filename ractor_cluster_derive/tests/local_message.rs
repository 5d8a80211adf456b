//! `#[derive(RactorMessage)]`: messages that never leave the node.

use ractor::Message;
use ractor_cluster::RactorMessage;

#[derive(RactorMessage)]
#[allow(dead_code)]
struct Tick {
    at: std::time::Instant,
}

#[derive(RactorMessage)]
#[allow(dead_code)]
enum LocalMessage {
    Handle(std::sync::Arc<std::sync::Mutex<u8>>),
    Stop,
}

#[derive(RactorMessage)]
#[allow(dead_code)]
struct Envelope<T, U: Clone>(T, U)
where
    T: std::fmt::Debug;

#[derive(RactorMessage)]
#[allow(dead_code)]
enum NoVariants {}

#[test]
fn local_messages_are_not_serializable() {
    assert!(!Tick::serializable());
    assert!(!LocalMessage::serializable());
    assert!(!Envelope::<String, u8>::serializable());
    assert!(!NoVariants::serializable());
}

#[test]
fn local_messages_refuse_to_serialize() {
    assert!(LocalMessage::Stop.serialize().is_err());
}
