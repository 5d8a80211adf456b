//! Macros for carrying types that serde does not cover.

/// Lets a [prost](https://docs.rs/prost) message type travel in cluster messages (requires the
/// `prost` feature, on by default).
///
/// As a field of a `#[derive(RactorClusterMessage)]` enum the type is encoded with prost and decoded
/// fallibly: a malformed payload drops the message with a logged reason. The macro also implements
/// [`BytesConvertable`](crate::BytesConvertable), as the published crate did, so the type can still
/// be used directly as an actor's whole message; on that path `ractor` decodes with
/// `BytesConvertable::from_bytes`, which cannot fail, so a malformed payload panics there (and
/// `ractor` catches the panic and drops the message).
///
/// ```
/// #[derive(Clone, PartialEq, prost::Message)]
/// pub struct Temperature {
///     #[prost(double, tag = "1")]
///     pub celsius: f64,
/// }
/// ractor_cluster::derive_serialization_for_prost_type! {Temperature}
///
/// use ractor_cluster::BytesConvertable;
/// let bytes = Temperature { celsius: 21.5 }.into_bytes();
/// assert_eq!(Temperature::from_bytes(bytes).celsius, 21.5);
/// ```
#[cfg(feature = "prost")]
#[cfg_attr(docsrs, doc(cfg(feature = "prost")))]
#[macro_export]
macro_rules! derive_serialization_for_prost_type {
    {$ty:ty} => {
        impl $crate::BytesConvertable for $ty {
            fn into_bytes(self) -> ::std::vec::Vec<u8> {
                <Self as $crate::__private::prost::Message>::encode_to_vec(&self)
            }
            fn from_bytes(bytes: ::std::vec::Vec<u8>) -> Self {
                match <Self as $crate::__private::prost::Message>::decode(bytes.as_slice()) {
                    ::std::result::Result::Ok(value) => value,
                    ::std::result::Result::Err(err) => ::std::panic!(
                        "malformed {} payload: {}", ::std::any::type_name::<Self>(), err
                    ),
                }
            }
        }
        impl $crate::__private::WireField for $ty {
            fn wire_len(&self) -> usize {
                <Self as $crate::__private::prost::Message>::encoded_len(self)
            }
            fn write_wire(&self, out: &mut ::std::vec::Vec<u8>) {
                $crate::__private::encode_prost(self, out)
            }
            fn read_wire(bytes: &[u8]) -> ::std::result::Result<Self, $crate::__private::FieldError> {
                $crate::__private::decode_prost(bytes)
            }
        }
    };
}
