//! The variant name is the wire identity: what two builds of a message enum can exchange.

mod common;

use common::{as_cast, cast_args};
use ractor::Message;
use ractor_cluster::RactorClusterMessage;

mod v1 {
    use super::RactorClusterMessage;

    #[derive(Debug, PartialEq, RactorClusterMessage)]
    pub(crate) enum StoreMessage {
        Put(String, u32),
        Clear,
    }
}

mod v2 {
    use super::RactorClusterMessage;

    /// v1 with the variants reordered, one added and a field type changed under a new name.
    #[derive(Debug, PartialEq, RactorClusterMessage)]
    pub(crate) enum StoreMessage {
        Clear,
        Compact { level: u8 },
        Put(String, u32),
        Bump(String, u64),
    }
}

#[test]
fn reordered_variants_still_match_by_name() {
    let args = cast_args(v2::StoreMessage::Put("k".into(), 1));
    assert_eq!(
        v1::StoreMessage::deserialize(as_cast(args)).unwrap(),
        v1::StoreMessage::Put("k".into(), 1)
    );
    let args = cast_args(v1::StoreMessage::Clear);
    assert_eq!(
        v2::StoreMessage::deserialize(as_cast(args)).unwrap(),
        v2::StoreMessage::Clear
    );
}

#[test]
fn an_unknown_variant_is_an_error() {
    let args = cast_args(v2::StoreMessage::Compact { level: 3 });
    assert!(v1::StoreMessage::deserialize(as_cast(args)).is_err());
}

#[test]
fn a_changed_field_list_is_an_error_not_a_wrong_value() {
    #[derive(Debug, RactorClusterMessage)]
    enum Wider {
        Put(String, u32, bool),
    }
    let args = cast_args(Wider::Put("k".into(), 1, true));
    assert!(v1::StoreMessage::deserialize(as_cast(args)).is_err());
}

#[test]
fn malformed_payloads_are_errors() {
    // `Put` with no fields, with garbage, with a string that claims more bytes than there are.
    for args in [vec![], vec![0xFF; 3], vec![3, b'P', b'u']] {
        assert!(v1::StoreMessage::deserialize(as_cast(("Put".into(), args))).is_err());
    }
}
