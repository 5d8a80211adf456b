//! The network layer: the only place in the crate where sockets live.
//!
//! Everything above this module sees a connection as two byte streams, a [`BoxRead`] and a
//! [`BoxWrite`], whatever carries them: plain TCP, TLS over TCP, or a stream the user brings
//! ([`ClusterBidiStream`]). This module provides
//!
//! * the transports ([`NetworkStream`], [`ClusterBidiStream`], [`IncomingEncryptionMode`]),
//! * the listener, whose accept loop gives each connection a slot among those waiting to
//!   authenticate, bounded in total and per source address (`pending`), then hands it out, running
//!   each TLS handshake on its own task so that a peer that stalls its handshake delays no one
//!   (`listener`),
//! * dialing over TCP or TLS (`dial`),
//! * the frame drivers: a reader that feeds the read half to `protocol::frame::FrameDecoder`,
//!   which opens sealed records and splits frames (`frame_reader`), and a writer task that drains
//!   queued frames into few writes (`frame_writer`), sealing each batch once the session is
//!   sealed, a large batch off the runtime's worker (`sealing`).
//!
//! ```text
//!  Listener::run ──accept──► NetworkStream ──split──► BoxRead  ──► FrameReader::next_frame ──► session
//!  dial_tcp / dial_tls ────►               └────────► BoxWrite ◄── writer task ◄── WriterHandle::send
//! ```
//!
//! The protocol itself (what the frames mean) has no I/O and lives in `protocol`.

mod counting;
mod dial;
mod frame_reader;
mod frame_writer;
mod listener;
mod pending;
mod sealing;
mod stream;

pub use stream::{BoxRead, BoxWrite, ClusterBidiStream, IncomingEncryptionMode, NetworkStream};

// The crate-internal API the node layer drives.
pub(crate) use counting::{counting_read, counting_write};
pub(crate) use dial::{dial_tcp, dial_tls, DialError};
pub(crate) use frame_reader::{FrameReader, ReadError};
#[cfg(test)]
pub(crate) use frame_writer::spawn_writer;
pub(crate) use frame_writer::{
    spawn_writer_with_limit, Lane, WriterClosed, WriterExit, WriterHandle, WriterProbe,
    DEFAULT_OUTBOUND_LIMIT,
};
pub(crate) use listener::{AcceptOptions, Accepted, Listener, ListenerHandle};
pub(crate) use pending::PendingSlot;

#[cfg(test)]
mod tests;
