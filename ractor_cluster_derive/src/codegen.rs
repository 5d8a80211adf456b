//! From a checked model to Rust code.
//!
//! The output calls only `::core`, `::ractor` and `::ractor_cluster::__private`, whatever the user
//! has imported, and binds only names that cannot clash with the user's (`__f0`, `__f1`, ... for
//! fields). Its shape is pinned by `ractor_cluster/tests/hand_expanded.rs` and by the snapshot in
//! `tests/snapshots/`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{GenericParam, Generics, Ident, LitByteStr, LitStr, Type, TypeParamBound};

use crate::model::{Field, Kind, MessageEnum, Style, Variant};

/// `impl ::ractor::Message for X {}`: a message that never leaves its node. Also the stub that
/// [`crate::fallback`] emits.
pub(crate) fn local_message(ident: &Ident, generics: &Generics) -> TokenStream {
    let generics = with_message_bounds(generics);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        impl #impl_generics ::ractor::Message for #ident #ty_generics #where_clause {}
    }
}

/// The `ractor::Message` impl of a `#[derive(RactorClusterMessage)]` enum.
pub(crate) fn cluster_message(message: &MessageEnum<'_>) -> TokenStream {
    let ident = message.ident;
    let generics = with_message_bounds(message.generics);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let serialize_arms = message.variants.iter().map(serialize_arm);
    let deserialize_arms = message.variants.iter().map(deserialize_arm);
    let registration = type_registration(message);
    quote! {
        #registration

        impl #impl_generics ::ractor::Message for #ident #ty_generics #where_clause {
            fn serializable() -> bool {
                true
            }

            fn serialize(
                self,
            ) -> ::core::result::Result<
                ::ractor::message::SerializedMessage,
                ::ractor::message::BoxedDowncastErr,
            > {
                ::ractor_cluster::__private::encode_message::<Self>(move || {
                    #[allow(unused_imports)]
                    use ::ractor_cluster::__private::{ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _};
                    match self {
                        #(#serialize_arms)*
                    }
                })
            }

            fn deserialize(
                message: ::ractor::message::SerializedMessage,
            ) -> ::core::result::Result<Self, ::ractor::message::BoxedDowncastErr> {
                ::ractor_cluster::__private::decode_message(message, |incoming| {
                    #[allow(unused_imports)]
                    use ::ractor_cluster::__private::{ViaBytes as _, ViaRef as _, ViaSerde as _, ViaWire as _};
                    match incoming.variant() {
                        #(#deserialize_arms)*
                        other => ::core::result::Result::Err(
                            ::ractor_cluster::__private::FieldError::unknown_variant(other),
                        ),
                    }
                })
            }
        }
    }
}

/// Registers a non-generic enum as a message type whose named actors can be found by name on
/// other nodes (`ractor_cluster::node::register_message_type`), under `module::path::Name`. A
/// generic enum has no single type to register: its users call that function themselves.
fn type_registration(message: &MessageEnum<'_>) -> TokenStream {
    if !message.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = message.ident;
    let name = LitStr::new(&wire_name(ident), ident.span());
    quote! {
        ::ractor_cluster::__private::inventory::submit! {
            ::ractor_cluster::__private::MessageType::new::<#ident>(::core::concat!(
                ::core::module_path!(),
                "::",
                #name
            ))
        }
    }
}

/// `Self::Ask(__f0, __f1) => { ...write each argument...; Ok(out.call(__f1, ...)) }`
fn serialize_arm(variant: &Variant<'_>) -> TokenStream {
    let name = LitStr::new(&wire_name(variant.ident), variant.ident.span());
    let bindings: Vec<Ident> = (0..variant.fields.len()).map(binding).collect();
    let pattern = constructor(variant, &bindings);
    let writes: Vec<TokenStream> = variant
        .fields
        .iter()
        .zip(&bindings)
        .enumerate()
        .filter(|(index, _)| Some(*index) != variant.port())
        .map(|(_, (field, binding))| {
            let via = via(field.ty);
            quote_spanned!(user_span(field.ty)=> #via.write_field(#binding, &mut out)?;)
        })
        .collect();
    let outgoing = if writes.is_empty() {
        quote!(::ractor_cluster::__private::Outgoing::new(#name))
    } else {
        quote!(out)
    };
    let finish = match &variant.kind {
        Kind::Cast => quote!(#outgoing.cast()),
        Kind::Call { port, reply } => {
            let port = binding(*port);
            let via = via(reply);
            quote!(#outgoing.call(#port, |bytes| #via.read_reply(bytes)))
        }
    };
    if writes.is_empty() {
        quote! {
            #pattern => ::core::result::Result::Ok(#finish),
        }
    } else {
        quote! {
            #pattern => {
                let mut out = ::ractor_cluster::__private::Outgoing::new(#name);
                #(#writes)*
                ::core::result::Result::Ok(#finish)
            }
        }
    }
}

/// `b"Ask" => Ok(Self::Ask(<read>?, incoming.reply(...)?))`; a cast first checks that no reply
/// port came with it.
fn deserialize_arm(variant: &Variant<'_>) -> TokenStream {
    let name = LitByteStr::new(wire_name(variant.ident).as_bytes(), variant.ident.span());
    let values: Vec<TokenStream> = variant
        .fields
        .iter()
        .enumerate()
        .map(|(index, field)| match &variant.kind {
            Kind::Call { port, reply } if *port == index => {
                let via = via(reply);
                quote_spanned!(user_span(field.ty)=>
                    incoming.reply(|value| #via.write_reply(value))?
                )
            }
            _ => {
                let via = via(field.ty);
                quote_spanned!(user_span(field.ty)=> #via.read_field(incoming)?)
            }
        })
        .collect();
    let value = constructor(variant, &values);
    match variant.kind {
        Kind::Cast => quote! {
            #name => {
                incoming.expect_cast()?;
                ::core::result::Result::Ok(#value)
            }
        },
        Kind::Call { .. } => quote! {
            #name => ::core::result::Result::Ok(#value),
        },
    }
}

/// `Self::V`, `Self::V(a, b)` or `Self::V { x: a, y: b }`, as a pattern or an expression.
fn constructor<T: quote::ToTokens>(variant: &Variant<'_>, parts: &[T]) -> TokenStream {
    let ident = variant.ident;
    match variant.style {
        Style::Unit => quote!(Self::#ident),
        Style::Tuple => quote!(Self::#ident(#(#parts),*)),
        Style::Struct => {
            let members = variant.fields.iter().map(|field: &Field<'_>| &field.member);
            quote!(Self::#ident { #(#members: #parts),* })
        }
    }
}

/// `(&&&Via::<T>::new())`: the autoref-specialization probe that picks how `T` is encoded.
fn via(ty: &Type) -> TokenStream {
    quote_spanned!(user_span(ty)=> (&&&::ractor_cluster::__private::Via::<#ty>::new()))
}

/// Points at the user's type, so "no method `write_field`" lands on the field that needs serde,
/// while still counting as macro output (lints skip it).
fn user_span(ty: &Type) -> Span {
    Span::call_site().located_at(ty.span())
}

fn binding(index: usize) -> Ident {
    format_ident!("__f{}", index)
}

/// The variant's identity on the wire: its name, without any `r#`.
fn wire_name(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// Adds `Send + 'static` to every type parameter that does not already say so: a message moves
/// between threads and outlives whoever sent it.
fn with_message_bounds(generics: &Generics) -> Generics {
    let mut generics = generics.clone();
    for param in &mut generics.params {
        if let GenericParam::Type(param) = param {
            let has = |wanted: &dyn Fn(&TypeParamBound) -> bool| param.bounds.iter().any(wanted);
            let needs_send = !has(&|bound| match bound {
                TypeParamBound::Trait(bound) => bound
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "Send"),
                _ => false,
            });
            let needs_static = !has(
                &|bound| matches!(bound, TypeParamBound::Lifetime(lifetime) if lifetime.ident == "static"),
            );
            if needs_send {
                param.bounds.push(syn::parse_quote!(::core::marker::Send));
            }
            if needs_static {
                param.bounds.push(syn::parse_quote!('static));
            }
        }
    }
    generics
}
