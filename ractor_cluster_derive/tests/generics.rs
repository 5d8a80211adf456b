//! Generic message enums: the user's bounds and where clauses are kept, `Send + 'static` added.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::hash::Hash;

use common::{cast_round_trip, deliver_call, reply_port};
use ractor::{Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, RactorClusterMessage)]
enum CacheMessage<T: Serialize + DeserializeOwned + Send + 'static> {
    Insert(String, T),
    Many {
        items: Vec<T>,
    },
    Maybe(Option<T>),
    #[rpc]
    Get(String, RpcReplyPort<Option<T>>),
    Flush,
}

#[derive(Debug, RactorClusterMessage)]
enum MapMessage<K, V>
where
    K: Serialize + DeserializeOwned + Eq + Hash + Send + 'static,
    V: Serialize + DeserializeOwned,
{
    Replace(HashMap<K, V>),
    #[rpc]
    Len(RpcReplyPort<usize>),
}

#[derive(Debug, PartialEq, RactorClusterMessage)]
enum Fixed<const N: usize> {
    Block(Vec<u8>),
}

#[test]
fn a_generic_enum_round_trips() {
    assert!(CacheMessage::<u32>::serializable());
    assert!(matches!(
        cast_round_trip(CacheMessage::Insert("a".into(), 5u32)),
        CacheMessage::Insert(key, 5) if key == "a"
    ));
    assert!(matches!(
        cast_round_trip(CacheMessage::Many { items: vec!["x".to_owned()] }),
        CacheMessage::Many { items } if items == ["x"]
    ));
    assert!(matches!(
        cast_round_trip(CacheMessage::<Vec<u8>>::Maybe(Some(vec![1]))),
        CacheMessage::Maybe(Some(bytes)) if bytes == [1]
    ));
    assert!(matches!(
        cast_round_trip(CacheMessage::<()>::Flush),
        CacheMessage::Flush
    ));
}

#[tokio::test]
async fn a_generic_reply_travels() {
    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(CacheMessage::<String>::Get("k".into(), port));
    let CacheMessage::Get(key, port) = delivered else {
        panic!("{delivered:?}")
    };
    port.send(Some(format!("value of {key}"))).unwrap();
    assert_eq!(
        decode_reply!(Option<String>, reply.await.unwrap()),
        Some("value of k".to_owned())
    );
}

#[tokio::test]
async fn where_clauses_are_kept() {
    let mut map = HashMap::new();
    map.insert(1u8, "one".to_owned());
    assert!(matches!(
        cast_round_trip(MapMessage::Replace(map.clone())),
        MapMessage::Replace(decoded) if decoded == map
    ));

    let (port, _caller) = reply_port();
    let (delivered, reply) = deliver_call(MapMessage::<u8, String>::Len(port));
    let MapMessage::Len(port) = delivered else {
        panic!("{delivered:?}")
    };
    port.send(1).unwrap();
    assert_eq!(decode_reply!(usize, reply.await.unwrap()), 1);
}

#[test]
fn const_generics_are_kept() {
    assert_eq!(
        cast_round_trip(Fixed::<3>::Block(vec![1, 2, 3])),
        Fixed::Block(vec![1, 2, 3])
    );
}

/// A non-generic enum registers its type for name forwarding by itself, under its module path;
/// a generic one cannot, and is registered by hand, once per instantiation.
#[test]
fn only_non_generic_enums_register_their_type() {
    #[derive(RactorClusterMessage)]
    enum Plain {
        Tick,
    }
    let _ = Plain::Tick;
    assert_eq!(
        ractor_cluster::node::registered_message_type::<Plain>(),
        Some("generics::Plain")
    );

    assert_eq!(
        ractor_cluster::node::registered_message_type::<MapMessage<u8, u8>>(),
        None
    );
    ractor_cluster::node::register_message_type::<MapMessage<u8, u8>>();
    assert_eq!(
        ractor_cluster::node::registered_message_type::<MapMessage<u8, u8>>(),
        Some(std::any::type_name::<MapMessage<u8, u8>>())
    );
    assert_eq!(
        ractor_cluster::node::registered_message_type::<MapMessage<u8, u16>>(),
        None
    );
}
