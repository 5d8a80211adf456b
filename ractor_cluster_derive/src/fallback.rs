//! What to emit when the input breaks a rule.
//!
//! The errors alone are not enough: every use of the type as an actor's message would then fail
//! too ("the trait `Message` is not implemented"), burying the real problem under a cascade. So the
//! errors come with a stub `impl ::ractor::Message` (the local-only one), and the user sees only
//! what to fix.

use proc_macro2::TokenStream;
use syn::{DeriveInput, GenericParam};

use crate::codegen;

/// The `compile_error!`s for `error`, plus a stub `Message` impl where one can be written.
pub(crate) fn expand(input: &DeriveInput, error: &syn::Error) -> TokenStream {
    let mut tokens = error.to_compile_error();
    // A type with a lifetime parameter is never `'static`, so no impl of it can compile; its
    // error already says so.
    let borrows = input
        .generics
        .params
        .iter()
        .any(|param| matches!(param, GenericParam::Lifetime(_)));
    if !borrows {
        tokens.extend(codegen::local_message(&input.ident, &input.generics));
    }
    tokens
}
