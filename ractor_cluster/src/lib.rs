//! Actors of [`ractor`] that talk across machines, as Erlang nodes do.
//!
//! A *node* is a process that runs a `NodeServer` and connects to other nodes that share its
//! *magic cookie*. Every actor whose message type supports remoting is then reachable from the
//! other nodes through a proxy, found through [`ractor::pg`] groups, cast to and called with
//! `#[rpc]` like a local actor.
//!
//! This release carries the foundation: remote-capable messages ([`RactorClusterMessage`]), the
//! serialization of their fields ([`BytesConvertable`] or any serde type), and the wire protocol
//! (framing, codec and authentication handshake, documented in `PROTOCOL.md`). The node layer
//! (`NodeServer`, sessions, remote actor proxies) builds on it next, with the API of the published
//! `ractor_cluster` 0.16.
//!
//! # Remote-capable messages
//!
//! ```
//! use ractor::{Message, RpcReplyPort};
//! use ractor_cluster::RactorClusterMessage;
//!
//! #[derive(RactorClusterMessage)]
//! enum CounterMessage {
//!     /// A cast: any serde type (or `BytesConvertable` type) can be a field.
//!     Add(u64),
//!     /// Struct-style variants work too.
//!     Label { name: String, tags: Vec<String> },
//!     /// A call: exactly one `RpcReplyPort<T>`, anywhere among the fields.
//!     #[rpc]
//!     Get(RpcReplyPort<u64>),
//! }
//!
//! // What a node does before sending a message to a remote actor, and after receiving it:
//! let bytes = CounterMessage::Add(7).serialize().unwrap();
//! let back = CounterMessage::deserialize(bytes).unwrap();
//! assert!(matches!(back, CounterMessage::Add(7)));
//! ```
//!
//! # Data flow of a message
//!
//! ```text
//!  sending node                                      receiving node
//!  ActorRef::cast(msg)                               actor task: Message::deserialize(bytes)
//!    └─ Message::serialize (derive)                    ▲  fields decoded in order, fallibly;
//!         variant name + fields ──► frame ──► wire ──► │  a malformed payload is dropped with a
//!         (one buffer per message)                     │  logged reason, the actor keeps serving
//! ```
//!
//! A call's reply port stays on the calling node, filed under a ticket that travels with the call;
//! the reply's bytes complete the ticket directly, so no task waits per call on the calling side.
//!
//! # Versioning of messages
//! The wire identity of a variant is its name. Adding a variant is compatible: a node that does not
//! know it drops it with a logged reason (and a caller gets an error at once). Renaming or removing
//! a variant, or changing its fields, is not.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub(crate) mod net;
pub(crate) mod protocol;
pub(crate) mod remote_actor;
pub(crate) mod reply;

#[doc(hidden)]
pub mod __private;

pub mod backpressure;
pub mod macros;
pub mod node;

pub use net::{BoxRead, BoxWrite, ClusterBidiStream, IncomingEncryptionMode, NetworkStream};
pub use node::client::connect as client_connect;
pub use node::client::connect_and_wait as client_connect_and_wait;
pub use node::client::connect_enc as client_connect_enc;
pub use node::client::connect_enc_and_wait as client_connect_enc_and_wait;
pub use node::client::connect_external as client_connect_external;
pub use node::client::{ClientConnectErr, ConnectError};
pub use node::{
    NodeConnectionMode, NodeEventSubscription, NodeId, NodeInfo, NodeServer, NodeServerMessage,
    NodeSession, NodeSessionMessage, DEFAULT_MAX_INBOUND_FRAME_SIZE,
};
pub use ractor::serialization::BytesConvertable;
pub use ractor_cluster_derive::{RactorClusterMessage, RactorMessage};

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
