// The input:
//
// enum r#PingMessage {
//     Ping,
//     #[rpc]
//     Pong(RpcReplyPort<u8>),
// }

// expands to:

::ractor_cluster::__private::inventory::submit! {
    ::ractor_cluster::__private::MessageType::new:: < r#PingMessage >
    (::core::concat!(::core::module_path!(), "::", "PingMessage"))
}
impl ::ractor::Message for r#PingMessage {
    fn serializable() -> bool {
        true
    }
    fn serialize(
        self,
    ) -> ::core::result::Result<
        ::ractor::message::SerializedMessage,
        ::ractor::message::BoxedDowncastErr,
    > {
        ::ractor_cluster::__private::encode_message::<
            Self,
        >(move || {
            #[allow(unused_imports)]
            use ::ractor_cluster::__private::{
                ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _,
            };
            match self {
                Self::Ping => {
                    ::core::result::Result::Ok(
                        ::ractor_cluster::__private::Outgoing::new("Ping").cast(),
                    )
                }
                Self::Pong(__f0) => {
                    ::core::result::Result::Ok(
                        ::ractor_cluster::__private::Outgoing::new("Pong")
                            .call(
                                __f0,
                                |bytes| {
                                    (&&&::ractor_cluster::__private::Via::<u8>::new())
                                        .read_reply(bytes)
                                },
                            ),
                    )
                }
            }
        })
    }
    fn deserialize(
        message: ::ractor::message::SerializedMessage,
    ) -> ::core::result::Result<Self, ::ractor::message::BoxedDowncastErr> {
        ::ractor_cluster::__private::decode_message(
            message,
            |incoming| {
                #[allow(unused_imports)]
                use ::ractor_cluster::__private::{
                    ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _,
                };
                match incoming.variant() {
                    b"Ping" => {
                        incoming.expect_cast()?;
                        ::core::result::Result::Ok(Self::Ping)
                    }
                    b"Pong" => {
                        ::core::result::Result::Ok(
                            Self::Pong(
                                incoming
                                    .reply(|value| {
                                        (&&&::ractor_cluster::__private::Via::<u8>::new())
                                            .write_reply(value)
                                    })?,
                            ),
                        )
                    }
                    other => {
                        ::core::result::Result::Err(
                            ::ractor_cluster::__private::FieldError::unknown_variant(
                                other,
                            ),
                        )
                    }
                }
            },
        )
    }
}
