//! Derive macros for [`ractor`](https://docs.rs/ractor) messages, re-exported by `ractor_cluster`.
//!
//! - [`RactorMessage`]: a message that never leaves its node. Works on any struct, enum or union,
//!   generic or not; it only implements `ractor::Message` with the default (non-serializable)
//!   methods.
//! - [`RactorClusterMessage`]: a message enum that can also be sent to an actor on another node.
//!   Each variant is one message; a variant marked `#[rpc]` is a call, whose `RpcReplyPort<T>`
//!   field carries the reply back to the caller.
//!
//! # A local message
//!
//! ```
//! use ractor_cluster::RactorMessage;
//!
//! #[derive(RactorMessage)]
//! enum TickerMessage<T> {
//!     Tick(T),
//!     Stop,
//! }
//!
//! assert!(!<TickerMessage<u8> as ractor::Message>::serializable());
//! ```
//!
//! # A message that crosses nodes
//!
//! ```
//! use ractor::RpcReplyPort;
//! use ractor_cluster::RactorClusterMessage;
//!
//! #[derive(RactorClusterMessage)]
//! enum CounterMessage {
//!     /// A cast: one-way.
//!     Add(u64),
//!     /// Struct-style and unit variants work too.
//!     Rename { name: String },
//!     Reset,
//!     /// A call: the reply port may be at any position, and there is exactly one.
//!     #[rpc]
//!     Get(RpcReplyPort<u64>),
//!     #[rpc]
//!     Describe { verbose: bool, reply: RpcReplyPort<String> },
//! }
//!
//! use ractor::Message;
//! let bytes = CounterMessage::Add(3).serialize().unwrap();
//! assert!(matches!(CounterMessage::deserialize(bytes), Ok(CounterMessage::Add(3))));
//! ```
//!
//! A generic message enum gets `Send + 'static` added to each type parameter; any other bound
//! the encoding needs (such as `serde::Serialize + serde::de::DeserializeOwned`) is the user's to
//! write, on the parameter or in a where clause.
//!
//! # How fields are encoded
//!
//! A message is written as its variant's name, then each field in declaration order (the reply
//! port is not a field on the wire). Each field type, and each reply type, is encoded by the
//! first of these it implements:
//!
//! 1. `ractor_cluster`'s own wire encoding: `Vec<u8>` as raw bytes, and prost messages registered
//!    with `derive_serialization_for_prost_type!`;
//! 2. `serde::Serialize + serde::de::DeserializeOwned`;
//! 3. `ractor::BytesConvertable`, written by hand.
//!
//! A type that implements none of them is a compile error at the field
//! (`no method named write_field found for reference &&&Via<...>`).
//!
//! # Versioning
//!
//! Nodes running different builds of a message enum interoperate only as far as the wire
//! identity allows:
//!
//! - a variant's **name** is its identity on the wire (not its position), so reordering variants
//!   is compatible;
//! - **adding** a variant is compatible: a node that does not know it drops the message and logs
//!   why (a call's caller sees its reply port closed);
//! - **renaming** or **removing** a variant, or changing a variant's **field list** (adding,
//!   removing or reordering fields) or any **field type** or reply type, is not compatible:
//!   upgrade every node, or add a new variant and retire the old one once no node sends it.
//!
//! # What is rejected
//!
//! `RactorClusterMessage` reports every problem at once, each at the token to change, and
//! still emits a plain `Message` impl so that no other error follows from its absence:
//!
//! - a struct or union (derive `RactorMessage`, or use an enum);
//! - lifetime parameters (also for `RactorMessage`): messages are `'static`;
//! - `#[rpc]` on the enum or on a field, with arguments, repeated, or on a unit variant;
//! - a `#[rpc]` variant with no `RpcReplyPort<T>` field, or with more than one;
//! - an `RpcReplyPort` field in a variant without `#[rpc]`;
//! - an `RpcReplyPort` without its reply type, or nested inside another type
//!   (`Option<RpcReplyPort<T>>`): it must be a field of its own.
//!
//! A reply port is recognised by the last segment of its path, so `RpcReplyPort<T>`,
//! `ractor::RpcReplyPort<T>` and `::ractor::port::RpcReplyPort<T>` all count.

mod codegen;
mod expand;
mod fallback;
mod model;
mod parse;
mod validate;

use proc_macro::TokenStream;

/// Implements `ractor::Message` for a type whose values never leave the node.
///
/// Adds `Send + 'static` to each type parameter. See the [crate docs](crate).
#[proc_macro_derive(RactorMessage)]
pub fn derive_ractor_message(input: TokenStream) -> TokenStream {
    expand::local_message(input.into()).into()
}

/// Implements `ractor::Message` for an enum whose values can be sent to another node; `#[rpc]`
/// marks the variants that are calls.
///
/// See the [crate docs](crate) for the encoding, the versioning rules and what is rejected.
#[proc_macro_derive(RactorClusterMessage, attributes(rpc))]
pub fn derive_ractor_cluster_message(input: TokenStream) -> TokenStream {
    expand::cluster_message(input.into()).into()
}
