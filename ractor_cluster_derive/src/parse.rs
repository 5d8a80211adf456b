//! From `syn`'s syntax tree to a raw model: what the input contains, before any rule is checked.
//!
//! Nothing here fails. Every `#[rpc]` attribute is recorded where it was found (on the item, a
//! variant or a field) and every field's type is classified as a reply port or not, keeping the
//! syntax nodes so that [`crate::validate`] can point its errors at the exact token.

use syn::visit::{self, Visit};
use syn::{
    Attribute, Data, DeriveInput, Fields, GenericArgument, Member, PathArguments, PathSegment, Type,
};

/// The name of the attribute that marks a variant as a call.
pub(crate) const RPC: &str = "rpc";

/// The last path segment that identifies a reply port, whatever path leads to it.
const REPLY_PORT: &str = "RpcReplyPort";

/// The derive input, sorted into the parts the rules talk about.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    /// The syntax tree as the compiler gave it.
    pub(crate) original: &'a DeriveInput,
    /// `#[rpc]` attributes on the item itself.
    pub(crate) item_rpc: Vec<&'a Attribute>,
    /// What kind of item it is.
    pub(crate) shape: Shape<'a>,
}

/// The kind of item the derive was placed on.
#[derive(Debug)]
pub(crate) enum Shape<'a> {
    /// An enum, with its variants in declaration order.
    Enum(Vec<RawVariant<'a>>),
    /// A struct; the token is the `struct` keyword.
    Struct(&'a syn::token::Struct),
    /// A union; the token is the `union` keyword.
    Union(&'a syn::token::Union),
}

/// A variant as written.
#[derive(Debug)]
pub(crate) struct RawVariant<'a> {
    /// The variant's syntax node.
    pub(crate) original: &'a syn::Variant,
    /// Every `#[rpc]` attribute on the variant, well-formed or not.
    pub(crate) rpc: Vec<&'a Attribute>,
    /// The fields in declaration order.
    pub(crate) fields: Vec<RawField<'a>>,
}

/// A field as written.
#[derive(Debug)]
pub(crate) struct RawField<'a> {
    /// The field's syntax node.
    pub(crate) original: &'a syn::Field,
    /// How the field is addressed: its index in a tuple variant, its name in a struct variant.
    pub(crate) member: Member,
    /// Every `#[rpc]` attribute on the field (always misplaced).
    pub(crate) rpc: Vec<&'a Attribute>,
    /// Whether, and how, the field's type mentions `RpcReplyPort`.
    pub(crate) port: Port<'a>,
}

/// How a field's type relates to `RpcReplyPort`.
#[derive(Debug)]
pub(crate) enum Port<'a> {
    /// The type does not mention `RpcReplyPort`: an argument.
    None,
    /// The field is `RpcReplyPort<reply>` (by any path).
    Direct {
        /// The reply type `T`.
        reply: &'a Type,
    },
    /// The field's type is `RpcReplyPort` without exactly one type argument.
    WithoutReplyType(&'a PathSegment),
    /// `RpcReplyPort` appears inside another type, such as `Option<RpcReplyPort<T>>`.
    Nested(&'a PathSegment),
}

/// Sorts the derive input into the raw model.
pub(crate) fn parse(input: &DeriveInput) -> Input<'_> {
    let shape = match &input.data {
        Data::Enum(data) => Shape::Enum(data.variants.iter().map(parse_variant).collect()),
        Data::Struct(data) => Shape::Struct(&data.struct_token),
        Data::Union(data) => Shape::Union(&data.union_token),
    };
    Input {
        original: input,
        item_rpc: rpc_attributes(&input.attrs),
        shape,
    }
}

fn parse_variant(variant: &syn::Variant) -> RawVariant<'_> {
    RawVariant {
        original: variant,
        rpc: rpc_attributes(&variant.attrs),
        fields: parse_fields(&variant.fields),
    }
}

fn parse_fields(fields: &Fields) -> Vec<RawField<'_>> {
    fields
        .iter()
        .enumerate()
        .map(|(index, field)| RawField {
            original: field,
            member: match &field.ident {
                Some(ident) => Member::Named(ident.clone()),
                None => Member::Unnamed(index.into()),
            },
            rpc: rpc_attributes(&field.attrs),
            port: classify(&field.ty),
        })
        .collect()
}

fn rpc_attributes(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident(RPC))
        .collect()
}

/// Recognises `RpcReplyPort<T>` by its last path segment, so `RpcReplyPort<T>`,
/// `ractor::RpcReplyPort<T>` and `::ractor::port::RpcReplyPort<T>` all count.
fn classify(ty: &Type) -> Port<'_> {
    if let Type::Path(path) = ungroup(ty) {
        if let (None, Some(last)) = (&path.qself, path.path.segments.last()) {
            if last.ident == REPLY_PORT {
                return match single_type_argument(&last.arguments) {
                    Some(reply) => Port::Direct { reply },
                    None => Port::WithoutReplyType(last),
                };
            }
        }
    }
    let mut finder = FindReplyPort { found: None };
    finder.visit_type(ty);
    match finder.found {
        Some(segment) => Port::Nested(segment),
        None => Port::None,
    }
}

/// Looks through the invisible groups that `macro_rules!` wraps around `$ty` and through
/// parentheses.
fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

fn single_type_argument(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(angle) = arguments else {
        return None;
    };
    let mut args = angle.args.iter();
    match (args.next(), args.next()) {
        (Some(GenericArgument::Type(ty)), None) => Some(ty),
        _ => None,
    }
}

/// Finds the first path segment named `RpcReplyPort` anywhere inside a type.
struct FindReplyPort<'a> {
    found: Option<&'a PathSegment>,
}

impl<'a> Visit<'a> for FindReplyPort<'a> {
    fn visit_path_segment(&mut self, segment: &'a PathSegment) {
        if self.found.is_none() && segment.ident == REPLY_PORT {
            self.found = Some(segment);
        }
        visit::visit_path_segment(self, segment);
    }
}
