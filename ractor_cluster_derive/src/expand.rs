//! Runs the stages in order: `syn` input, [`parse`], [`validate`], then [`codegen`] on success or
//! [`fallback`] on error.

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::{codegen, fallback, parse, validate};

/// Expands `#[derive(RactorClusterMessage)]`.
pub(crate) fn cluster_message(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let raw = parse::parse(&input);
    match validate::cluster_message(&raw) {
        Ok(message) => codegen::cluster_message(&message),
        Err(error) => fallback::expand(&input, &error),
    }
}

/// Expands `#[derive(RactorMessage)]`.
pub(crate) fn local_message(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    match validate::local_message(&input.generics) {
        Ok(()) => codegen::local_message(&input.ident, &input.generics),
        Err(error) => fallback::expand(&input, &error),
    }
}

#[cfg(test)]
mod tests {
    //! Snapshot of the expansion of a representative enum. Run with `UPDATE_SNAPSHOTS=1` to
    //! rewrite the snapshot after an intended change, then review the diff.

    use std::path::Path;

    use quote::quote;

    const SNAPSHOT: &str = "tests/snapshots/cluster_message.expanded.rs";
    const REGISTERED_SNAPSHOT: &str = "tests/snapshots/registered_message.expanded.rs";

    fn pretty(tokens: proc_macro2::TokenStream) -> String {
        let file: syn::File = syn::parse2(tokens).expect("the expansion is a valid file");
        prettyplease::unparse(&file)
    }

    #[test]
    fn cluster_message_expansion_matches_the_snapshot() {
        let input = quote! {
            enum CounterMessage<T>
            where
                T: Clone,
            {
                Add(T, u64),
                Rename { name: String, #[doc = " Shown in the log."] reason: Option<String> },
                Reset,
                #[rpc]
                Get(String, RpcReplyPort<T>),
                #[rpc]
                Snapshot { reply: ractor::RpcReplyPort<Vec<T>>, limit: usize },
            }
        };
        assert_matches_snapshot(input, SNAPSHOT);
    }

    /// A non-generic enum also registers its type for name forwarding (`inventory::submit!`).
    #[test]
    fn a_non_generic_enum_registers_its_type() {
        let input = quote! {
            enum r#PingMessage {
                Ping,
                #[rpc]
                Pong(RpcReplyPort<u8>),
            }
        };
        assert_matches_snapshot(input, REGISTERED_SNAPSHOT);
    }

    fn assert_matches_snapshot(input: proc_macro2::TokenStream, snapshot: &str) {
        let expanded = super::cluster_message(input.clone());
        let actual = format!(
            "// The input:\n//\n{}\n// expands to:\n\n{}",
            pretty(input)
                .lines()
                .map(|line| format!("// {line}").trim_end().to_owned() + "\n")
                .collect::<String>(),
            pretty(expanded)
        );

        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(snapshot);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
            std::fs::write(&path, &actual).expect("writes the snapshot");
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            expected == actual,
            "the expansion differs from {snapshot}; if the change is intended, rerun with \
             UPDATE_SNAPSHOTS=1 and review the diff.\n\nactual:\n{actual}"
        );
    }

    #[test]
    fn local_message_adds_send_and_static_to_type_parameters() {
        let expanded = super::local_message(quote! {
            struct Wrapper<T: Send, U, const N: usize> where U: Clone { t: T, u: [U; N] }
        });
        let expected = quote! {
            impl<T: Send + 'static, U: ::core::marker::Send + 'static, const N: usize>
                ::ractor::Message for Wrapper<T, U, N>
            where
                U: Clone
            {}
        };
        assert_eq!(expanded.to_string(), expected.to_string());
    }
}
