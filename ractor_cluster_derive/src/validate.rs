//! Every rule an input must satisfy, checked on the raw model from [`crate::parse`].
//!
//! Each broken rule becomes a [`syn::Error`] spanned on the offending token, worded to say how to
//! fix it. All rules are checked before giving up, and their errors are combined, so one build
//! shows every problem at once.

use std::fmt::Display;

use quote::ToTokens;
use syn::{Fields, GenericParam, Generics, Meta};

use crate::model::{Field, Kind, MessageEnum, Style, Variant};
use crate::parse::{Input, Port, RawVariant, Shape};

/// Checks an input to `#[derive(RactorClusterMessage)]` and, if it passes, builds its model.
pub(crate) fn cluster_message<'a>(input: &Input<'a>) -> syn::Result<MessageEnum<'a>> {
    let mut errors = Errors::default();
    not_borrowing(input.original.generics.params.iter(), &mut errors);
    for attr in &input.item_rpc {
        errors.push(
            attr,
            "`#[rpc]` goes on a variant, not on the enum: put it above each variant that has an \
             `RpcReplyPort<T>` field",
        );
    }
    let variants = match &input.shape {
        Shape::Enum(variants) => variants
            .iter()
            .filter_map(|variant| check_variant(variant, &mut errors))
            .collect(),
        Shape::Struct(keyword) => {
            errors.push(keyword, not_an_enum("struct"));
            Vec::new()
        }
        Shape::Union(keyword) => {
            errors.push(keyword, not_an_enum("union"));
            Vec::new()
        }
    };
    errors.finish()?;
    Ok(MessageEnum {
        ident: &input.original.ident,
        generics: &input.original.generics,
        variants,
    })
}

/// Checks an input to `#[derive(RactorMessage)]`: any struct, enum or union, as long as it does
/// not borrow.
pub(crate) fn local_message(generics: &Generics) -> syn::Result<()> {
    let mut errors = Errors::default();
    not_borrowing(generics.params.iter(), &mut errors);
    errors.finish()
}

fn not_an_enum(keyword: &str) -> String {
    format!(
        "`RactorClusterMessage` can only be derived for an enum, whose variants are the messages \
         an actor accepts: make this {keyword} a variant of an enum, or derive `RactorMessage` \
         instead if it never leaves this node"
    )
}

/// Messages are `'static` (`ractor::Message: Any`), so a type with a lifetime parameter can never
/// be one.
fn not_borrowing<'a>(params: impl Iterator<Item = &'a GenericParam>, errors: &mut Errors) {
    for param in params {
        if let GenericParam::Lifetime(lifetime) = param {
            errors.push(
                lifetime,
                format!(
                    "a message must be `'static`, so it cannot borrow: remove the lifetime \
                     parameter `{}` and use owned types (`String` for `&str`, `Vec<T>` for `&[T]`)",
                    lifetime.lifetime
                ),
            );
        }
    }
}

fn check_variant<'a>(variant: &RawVariant<'a>, errors: &mut Errors) -> Option<Variant<'a>> {
    let before = errors.count;
    let name = &variant.original.ident;

    for attr in &variant.rpc {
        if !matches!(attr.meta, Meta::Path(_)) {
            errors.push(
                attr,
                "`#[rpc]` takes no arguments: write `#[rpc]` alone; the reply type comes from \
                 the variant's `RpcReplyPort<T>` field",
            );
        }
    }
    for repeated in variant.rpc.iter().skip(1) {
        errors.push(
            repeated,
            format!("`#[rpc]` is repeated on `{name}`: remove this one"),
        );
    }
    for field in &variant.fields {
        for attr in &field.rpc {
            errors.push(
                attr,
                format!("`#[rpc]` goes on the variant, not on a field: move it above `{name}`"),
            );
        }
    }

    let ports = reply_ports(variant, errors);
    let kind = match (variant.rpc.first(), ports.as_slice()) {
        (None, []) => Some(Kind::Cast),
        // A `#[rpc]` misplaced on a field already says where it belongs.
        (None, [(_, field, _), ..]) if !has_misplaced_rpc(variant) => {
            errors.push(
                &field.ty,
                format!(
                    "`{name}` has an `RpcReplyPort` field but is not marked `#[rpc]`: add \
                     `#[rpc]` above `{name}` to make it a call"
                ),
            );
            None
        }
        (None, _) => None,
        (Some(attr), []) => {
            if matches!(variant.original.fields, Fields::Unit) {
                errors.push(
                    attr,
                    format!(
                        "`#[rpc]` on unit variant `{name}`: a call carries its reply port as a \
                         field; write `{name}(RpcReplyPort<T>)`, or remove `#[rpc]`"
                    ),
                );
            } else if !has_malformed_port(variant) {
                errors.push(
                    attr,
                    format!(
                        "`#[rpc]` variant `{name}` has no `RpcReplyPort<T>` field: add one to \
                         carry the reply, or remove `#[rpc]` to make it a one-way message"
                    ),
                );
            }
            None
        }
        (Some(_), [(port, _, reply)]) => Some(Kind::Call { port: *port, reply }),
        (Some(_), [_, extra @ ..]) => {
            for (_, field, _) in extra {
                errors.push(
                    &field.ty,
                    format!(
                        "`#[rpc]` variant `{name}` has a second `RpcReplyPort`: a call has \
                         exactly one reply; remove this field, or reply with a tuple or struct \
                         through the first port"
                    ),
                );
            }
            None
        }
    };

    if errors.count > before {
        return None;
    }
    Some(Variant {
        ident: name,
        style: match variant.original.fields {
            Fields::Unit => Style::Unit,
            Fields::Unnamed(_) => Style::Tuple,
            Fields::Named(_) => Style::Struct,
        },
        fields: variant
            .fields
            .iter()
            .map(|field| Field {
                member: field.member.clone(),
                ty: &field.original.ty,
            })
            .collect(),
        kind: kind?,
    })
}

/// The well-formed reply ports of a variant, as (field index, field, reply type); reports the
/// malformed ones.
fn reply_ports<'a>(
    variant: &RawVariant<'a>,
    errors: &mut Errors,
) -> Vec<(usize, &'a syn::Field, &'a syn::Type)> {
    let mut ports = Vec::new();
    for (index, field) in variant.fields.iter().enumerate() {
        match field.port {
            Port::None => {}
            Port::Direct { reply } => ports.push((index, field.original, reply)),
            Port::WithoutReplyType(segment) => errors.push(
                segment,
                "`RpcReplyPort` needs the type of its reply: write `RpcReplyPort<T>`, where `T` \
                 is what the handler sends back",
            ),
            Port::Nested(segment) => errors.push(
                segment,
                "`RpcReplyPort` must be a field of the variant itself, not nested inside another \
                 type: make `RpcReplyPort<T>` the field's whole type",
            ),
        }
    }
    ports
}

fn has_misplaced_rpc(variant: &RawVariant<'_>) -> bool {
    variant.fields.iter().any(|field| !field.rpc.is_empty())
}

fn has_malformed_port(variant: &RawVariant<'_>) -> bool {
    variant
        .fields
        .iter()
        .any(|field| matches!(field.port, Port::WithoutReplyType(_) | Port::Nested(_)))
}

/// Collects errors so that all of them are reported together.
#[derive(Default)]
struct Errors {
    combined: Option<syn::Error>,
    count: usize,
}

impl Errors {
    fn push(&mut self, tokens: impl ToTokens, message: impl Display) {
        let error = syn::Error::new_spanned(tokens, message);
        self.count += 1;
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
