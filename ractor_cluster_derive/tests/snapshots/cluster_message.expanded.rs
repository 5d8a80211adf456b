// The input:
//
// enum CounterMessage<T>
// where
//     T: Clone,
// {
//     Add(T, u64),
//     Rename {
//         name: String,
//         /// Shown in the log.
//         reason: Option<String>,
//     },
//     Reset,
//     #[rpc]
//     Get(String, RpcReplyPort<T>),
//     #[rpc]
//     Snapshot { reply: ractor::RpcReplyPort<Vec<T>>, limit: usize },
// }

// expands to:

impl<T: ::core::marker::Send + 'static> ::ractor::Message for CounterMessage<T>
where
    T: Clone,
{
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
                Self::Add(__f0, __f1) => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Add");
                    (&&&::ractor_cluster::__private::Via::<T>::new())
                        .write_field(__f0, &mut out)?;
                    (&&&::ractor_cluster::__private::Via::<u64>::new())
                        .write_field(__f1, &mut out)?;
                    ::core::result::Result::Ok(out.cast())
                }
                Self::Rename { name: __f0, reason: __f1 } => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Rename");
                    (&&&::ractor_cluster::__private::Via::<String>::new())
                        .write_field(__f0, &mut out)?;
                    (&&&::ractor_cluster::__private::Via::<Option<String>>::new())
                        .write_field(__f1, &mut out)?;
                    ::core::result::Result::Ok(out.cast())
                }
                Self::Reset => {
                    ::core::result::Result::Ok(
                        ::ractor_cluster::__private::Outgoing::new("Reset").cast(),
                    )
                }
                Self::Get(__f0, __f1) => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Get");
                    (&&&::ractor_cluster::__private::Via::<String>::new())
                        .write_field(__f0, &mut out)?;
                    ::core::result::Result::Ok(
                        out
                            .call(
                                __f1,
                                |bytes| {
                                    (&&&::ractor_cluster::__private::Via::<T>::new())
                                        .read_reply(bytes)
                                },
                            ),
                    )
                }
                Self::Snapshot { reply: __f0, limit: __f1 } => {
                    let mut out = ::ractor_cluster::__private::Outgoing::new("Snapshot");
                    (&&&::ractor_cluster::__private::Via::<usize>::new())
                        .write_field(__f1, &mut out)?;
                    ::core::result::Result::Ok(
                        out
                            .call(
                                __f0,
                                |bytes| {
                                    (&&&::ractor_cluster::__private::Via::<Vec<T>>::new())
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
                    b"Add" => {
                        incoming.expect_cast()?;
                        ::core::result::Result::Ok(
                            Self::Add(
                                (&&&::ractor_cluster::__private::Via::<T>::new())
                                    .read_field(incoming)?,
                                (&&&::ractor_cluster::__private::Via::<u64>::new())
                                    .read_field(incoming)?,
                            ),
                        )
                    }
                    b"Rename" => {
                        incoming.expect_cast()?;
                        ::core::result::Result::Ok(Self::Rename {
                            name: (&&&::ractor_cluster::__private::Via::<String>::new())
                                .read_field(incoming)?,
                            reason: (&&&::ractor_cluster::__private::Via::<
                                Option<String>,
                            >::new())
                                .read_field(incoming)?,
                        })
                    }
                    b"Reset" => {
                        incoming.expect_cast()?;
                        ::core::result::Result::Ok(Self::Reset)
                    }
                    b"Get" => {
                        ::core::result::Result::Ok(
                            Self::Get(
                                (&&&::ractor_cluster::__private::Via::<String>::new())
                                    .read_field(incoming)?,
                                incoming
                                    .reply(|value| {
                                        (&&&::ractor_cluster::__private::Via::<T>::new())
                                            .write_reply(value)
                                    })?,
                            ),
                        )
                    }
                    b"Snapshot" => {
                        ::core::result::Result::Ok(Self::Snapshot {
                            reply: incoming
                                .reply(|value| {
                                    (&&&::ractor_cluster::__private::Via::<Vec<T>>::new())
                                        .write_reply(value)
                                })?,
                            limit: (&&&::ractor_cluster::__private::Via::<usize>::new())
                                .read_field(incoming)?,
                        })
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
