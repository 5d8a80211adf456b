//! The checked shape of a message enum: what [`crate::codegen`] needs and nothing more.
//!
//! A [`MessageEnum`] is only built by [`crate::validate`], after every rule holds, so code
//! generation never has to handle a malformed input. Each part keeps a reference to the syntax
//! node it came from, so generated code can carry the user's spans.

use syn::{Generics, Ident, Member, Type};

/// An enum that `#[derive(RactorClusterMessage)]` accepted.
#[derive(Debug)]
pub(crate) struct MessageEnum<'a> {
    /// The enum's name.
    pub(crate) ident: &'a Ident,
    /// Its generic parameters and where clause, as written (no lifetimes: validation rejects them).
    pub(crate) generics: &'a Generics,
    /// The variants in declaration order.
    pub(crate) variants: Vec<Variant<'a>>,
}

/// One variant: one kind of message.
#[derive(Debug)]
pub(crate) struct Variant<'a> {
    /// The variant's name, which is also its identity on the wire.
    pub(crate) ident: &'a Ident,
    /// Unit, tuple or struct-style: decides how the variant is matched and built.
    pub(crate) style: Style,
    /// Every field in declaration order, the reply port included.
    pub(crate) fields: Vec<Field<'a>>,
    /// Whether the message expects a reply.
    pub(crate) kind: Kind<'a>,
}

/// How a variant's fields are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `Ping`
    Unit,
    /// `Text(String, u32)`
    Tuple,
    /// `Bulk { data: Vec<u8> }`
    Struct,
}

/// Whether a variant is a one-way message or a request with a reply.
#[derive(Debug)]
pub(crate) enum Kind<'a> {
    /// A one-way message: every field is an argument.
    Cast,
    /// A `#[rpc]` variant: the field at `port` is an `RpcReplyPort<reply>`, every other field is
    /// an argument.
    Call {
        /// Index into [`Variant::fields`] of the reply port.
        port: usize,
        /// The `T` of `RpcReplyPort<T>`.
        reply: &'a Type,
    },
}

/// One field of a variant.
#[derive(Debug)]
pub(crate) struct Field<'a> {
    /// How the field is named in a pattern or constructor: `0`, `1`, ... or its ident.
    pub(crate) member: Member,
    /// The field's type as written.
    pub(crate) ty: &'a Type,
}

impl Variant<'_> {
    /// The index of the reply port, if this variant is a call.
    pub(crate) fn port(&self) -> Option<usize> {
        match self.kind {
            Kind::Cast => None,
            Kind::Call { port, .. } => Some(port),
        }
    }
}
