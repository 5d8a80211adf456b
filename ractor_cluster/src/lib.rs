//! Actors of [`ractor`] that talk across machines, as Erlang nodes do.
//!
//! A *node* is a process that runs a [`NodeServer`] and connects to other nodes that share its
//! *magic cookie*. Every actor whose message type supports remoting is then reachable from the
//! other nodes through a proxy: found through [`ractor::pg`] groups or by name
//! ([`node::where_is`], or ractor's own [`ractor::registry::where_is`] on a node built
//! [`with_remote_names_in_registry`](NodeServer::with_remote_names_in_registry)), cast to and
//! called with `#[rpc]` like a local actor, monitored like a local actor, and gone when its node
//! goes.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ractor::Actor;
//! use ractor_cluster::NodeServer;
//!
//! // None, None: TCP (every session sealed with keys from the cookie), Isolated mode (only the
//! // peers you connect), as in the published crate.
//! let server = NodeServer::new(0, "cookie".into(), "alpha".into(), "localhost".into(), None, None);
//! let (node, _handle) = Actor::spawn(None, server, ()).await?;
//! let session = ractor_cluster::client_connect_and_wait(
//!     &node,
//!     "10.0.0.2:4697",
//!     std::time::Duration::from_secs(5),
//! )
//! .await?;
//! println!("connected to {:?}", session.peer_name);
//! # Ok(()) }
//! ```
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
//! # Supervision tree
//!
//! ```text
//! NodeServer ─┬─ accept loop (a task: a slot per connection waiting to authenticate, bounded
//!             │  in total and per address; TLS handshakes on tasks of their own; one deadline
//!             │  from the accept covers TLS and authentication)
//!             ├─ local events (one actor: hears ractor's spawns and group changes, hands
//!             │  those of local actors that support remoting to every session, once each,
//!             │  and keeps the snapshot of them a new session's initial sync announces)
//!             ├─ redial tasks (one per lost peer this node had dialed)
//!             ├─ discovery task (with a discovery source: asks it once per interval; the
//!             │  server dials each address found that it has no session with, 16 at once,
//!             │  those whose node is to dial first after a one-second grace, and passes
//!             │  over one dial of a node whose hello on an accepted connection says it is
//!             │  dialing)
//!             ├─ downing timer (with a downing policy: wakes the server when the view has
//!             │  been stable long enough to decide which side of a partition stays)
//!             └─ NodeSession (one per connection) ─┬─ reader task   (decodes, delivers, replies)
//!                                                  ├─ writer task   (outbound queue → socket;
//!                                                  │  a sealed batch over 1 MiB is sealed
//!                                                  │  on tokio's blocking pool meanwhile)
//!                                                  ├─ liveness task (heartbeats while the peer
//!                                                  │  watches this node, down detection while
//!                                                  │  this node watches the peer, round-trip
//!                                                  │  probes, the probe that checks a report
//!                                                  │  of the peer's silence; else asleep)
//!                                                  ├─ RemoteActor proxies (one per peer actor)
//!                                                  └─ actors the peer spawned here (stopped
//!                                                     with the session)
//!
//! graveyard (one per process) ─┬─ gone cells (references to actors that cannot be reached)
//!                              └─ waiting proxies (references to actors of a node not connected
//!                                 yet; handed to that node's session once it is up)
//!
//! name keeper (one per process, on nodes that put remote names in ractor's registry)
//!   └─ name forwarders (one per remote name it registers; each monitors its proxy)
//! ```
//!
//! # Data flow of a cast
//!
//! ```text
//!  sending node                                           receiving node
//!  ActorRef::cast(msg)                                    reader task: open records in place,
//!    └─ Message::serialize (derive): the variant's          decode frame where it lies, split
//!       name, and the fields in one buffer                   off the variant name
//!                                                             └─ send_serialized to the target
//!         └─ proxy mailbox (ractor)                               (looked up by pid)
//!              └─ proxy: frame (name, fields) encoded in place      └─ actor task:
//!                 into the session's outbound queue                    Message::deserialize
//!                   └─ writer task: the batch sealed in place          (fallible: a bad payload
//!                      as one record, one write ─► wire ─►             is dropped with a reason)
//! ```
//!
//! A call travels the same way. Its reply port stays on the calling node, filed under a ticket
//! that travels with the call; on the serving node, the reader task waits for the actor's answer
//! (no task per call on either side), and the reply's bytes complete the ticket directly. A call
//! whose session ends, whose target is gone or whose reply cannot be decoded fails at once. A call
//! whose message lost its ticket (a ractor factory `Job` keeps its own metadata there) is filed by
//! the proxy under a new one, and its reply goes into the message's own reply port.
//! Everything a call needs beyond the cast's path (tickets, the calls in flight per session, the
//! forwarding of answers, every way a call fails) lives in one module, `src/call.rs`, whose docs
//! trace the round trip file by file.
//!
//! With the `trace-context` feature (module `trace`), a derived message serialized inside a sampled
//! span carries that span's W3C trace context in its metadata as far as the proxy, which sends it
//! to a peer of protocol 2.8 in a `Traced` frame (26 bytes more). The peer's reader decodes such a
//! message itself, inside a span whose parent is that context, and hands it to the actor as a
//! local message, so that ractor runs the handler inside that span (`node/traced.rs`); a call's
//! reply goes back to a 2.9 peer with that span's context, and the caller's reader completes the
//! call inside a span whose parent it is. Without the feature none of this is compiled, and
//! frames are unchanged.
//!
//! Every session not over TLS is sealed by default: the handshake's X25519 exchange, the cookie
//! and both hellos give one key per direction, and the writer seals each batch as AES-256-GCM
//! records of at most 64 KiB (PROTOCOL.md, "Sealed records"). A record that does not open ends the
//! session with nothing of it delivered. [`NodeServer::with_plaintext_frames`] opts out.
//!
//! Messages over 64 KiB travel in pieces, so heartbeats, replies and other actors' messages pass
//! between them; the outbound queue per peer is bounded, and a sender can wait for room in it and
//! in the proxy's mailbox with [`backpressure::paced_cast`]. What a peer can make a node hold for
//! it is bounded too: the reader task reads nothing more from a peer that has 1,024 calls
//! unanswered here ([`node::NodeServer::with_max_unanswered_calls`]), or whose replies and control
//! answers fill the outbound bound, until they are answered or read; nor while 256 of its control
//! messages wait for the session actor. Proxies, process groups, remote spawns, transitive dials
//! and `where is` answers have per-peer bounds of their own (README, "Failure model").
//!
//! # Forming a cluster
//!
//! A node connects where it is told ([`client_connect`] and friends), to the peers of its peers
//! in [`NodeConnectionMode::Transitive`], and to every node that a [`discovery::Discovery`]
//! source finds ([`NodeServer::with_discovery`]): static seeds, DNS (a Kubernetes headless
//! service), or a source of your own. The discovery task asks the source once per interval; the
//! server dials every address it has no session with (never itself), again at every round while
//! it is missing, with the reconnect policy's backoff between failed dials.
//!
//! Each node keeps a [`membership`] view: itself and every peer it was connected to, each up,
//! unreachable, leaving, left or down, with a subscription to the changes.
//!
//! With a [`downing`] policy ([`NodeServer::with_downing`]; off by default), a lost peer stays
//! unreachable until the view has been stable for a while; then the policy decides which side of
//! a partition stays: the other side is downed (sessions closed, that run of each node refused
//! from then on), and a node on the losing side sees its own member go down, and its application
//! decides what to do.
//!
//! # Observing a node
//!
//! [`node::peer_stats`] gives every session's figures: bytes, frames, casts, calls and replies
//! each way, the bytes waiting in its outbound queue, round-trip times from its probes, when the
//! peer was last heard, and how the link is protected. Each session counts them as it runs (one
//! relaxed atomic add per event; the node server only reads them). Every event a node logs is
//! inside a `node_server` span (field `node`), and every event of a session inside a `session`
//! span below it (`local`, `session`, `direction`, `addr`, and once authenticated `peer`,
//! `peer_node_id`, `incarnation`), entered by the session's actor and by its handshake, reader,
//! writer and liveness tasks. See the README's "Observing a cluster".
//!
//! A *hidden* node ([`NodeServer::with_hidden`], as Erlang's) observes a cluster without joining
//! it: its peers list it in no membership view, count it for no downing decision, name it to no
//! one, and exchange no actors or process groups with it; it says so in the handshake, under the
//! proofs. Its peers tell it of every member they meet, so a transitive hidden node has a link to
//! every member (the `cluster_top` example).
//!
//! # Features
//!
//! - `message_span_propogation` (default): ractor's feature of the same name; a local message's
//!   handler runs inside the span it was sent in.
//! - `dns` (default): `discovery::DnsDiscovery`.
//! - `prost` (default): prost messages as message fields (`derive_serialization_for_prost_type!`).
//! - `metrics`: every session's figures through the `metrics` facade (README, "Exporting them").
//! - `trace-context`: traces across nodes (module `trace`); turns on `message_span_propogation`.
//! - `opentelemetry`: `trace-context` with `trace::OpenTelemetry`, through
//!   `tracing-opentelemetry`.
//! - `monitors`, `async-trait`: accepted for the published crate's `features` lines (monitors are
//!   always on; `async-trait` does nothing).
//!
//! # Failure model
//!
//! A peer that sends nothing for half of `down_after` is *unreachable* in the membership view; one
//! that sends nothing for `down_after` (5 s by default; heartbeats every second keep an idle
//! session alive) is declared down: its session ends, its proxies stop (monitors see
//! [`node::NODE_LOST`]), pending calls to it fail, and a peer this node had dialed is dialed again
//! with backoff. A watcher that declares a peer down tells the other nodes, each of which asks the
//! peer (a probe) and ends its own session with it only if it hears nothing within one heartbeat
//! interval. A node that stops on purpose (its `NodeServer` is stopped) tells its peers first:
//! they show it as left, not down, and do not dial it again. With a [`downing`] policy, a peer
//! lost without a word is unreachable, not down, until the policy downs it. See the README's
//! "Failure model" for what can be lost.
//!
//! # Versioning of messages
//! The wire identity of a variant is its name. Adding a variant is compatible: a node that does not
//! know it drops it with a logged reason (and a caller gets an error at once). Renaming or removing
//! a variant, or changing its fields, is not. The protocol itself is described in `PROTOCOL.md`.
#![warn(clippy::print_stdout, clippy::print_stderr)]
// No panic reachable from peer input (DESIGN.md, practice 4): outside tests, the whole crate
// does without unwrap, expect, panic and unchecked indexing; tests may use them.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
// On docs.rs (built with every feature), each feature-gated item says which feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub(crate) mod call;
pub(crate) mod error;
pub(crate) mod net;
pub(crate) mod protocol;
pub(crate) mod remote_actor;

#[doc(hidden)]
pub mod __private;

pub mod backpressure;
pub mod discovery;
pub mod macros;
pub mod node;
#[cfg(feature = "trace-context")]
#[cfg_attr(docsrs, doc(cfg(feature = "trace-context")))]
pub mod trace;

pub use net::{BoxRead, BoxWrite, ClusterBidiStream, IncomingEncryptionMode, NetworkStream};
pub use node::client::connect as client_connect;
pub use node::client::connect_and_wait as client_connect_and_wait;
pub use node::client::connect_enc as client_connect_enc;
pub use node::client::connect_enc_and_wait as client_connect_enc_and_wait;
pub use node::client::connect_external as client_connect_external;
pub use node::client::{ClientConnectErr, ConnectError};
pub use node::downing;
pub use node::membership;
pub use node::SessionEnd;
pub use node::{
    NodeConnectionMode, NodeEventSubscription, NodeId, NodeInfo, NodeServer, NodeServerMessage,
    NodeSession, NodeSessionMessage, DEFAULT_MAX_INBOUND_FRAME_SIZE,
};
pub use ractor::serialization::BytesConvertable;
pub use ractor_cluster_derive::{RactorClusterMessage, RactorMessage};

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

// Real nodes over in-memory pipes, and a scripted peer that plays a hostile authenticated node.
#[cfg(test)]
pub(crate) mod testing;

// The README's code blocks run as doc tests, so its quick start cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
