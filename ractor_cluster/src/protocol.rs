//! The wire protocol, with no I/O in it.
//!
//! Everything here takes bytes or values in and gives values or bytes out: framing
//! ([`frame`]), sealed records ([`record`]) and their keys ([`keys`]), the binary format
//! ([`codec`]) and the shape a value in it may take ([`shape`]), the messages ([`message`]) and a call's answer
//! ([`reply`]), the hot path's frames encoded by hand ([`hot_frames`]), the frame of a traced message
//! ([`traced`]), what one control message may ask for ([`limits`]) and the authentication
//! handshake ([`handshake`]). There are no sockets, no tokio and no clock in this module; time
//! and randomness are passed in, so every transition can be replayed in a plain `#[test]`.
//!
//! Each check that rejects peer bytes cites the rule of `PROTOCOL.md` (at the repository root) that it
//! enforces.

// Peer bytes must never panic this module (DESIGN.md, practice 4); tests may unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub(crate) mod codec;
pub(crate) mod fragment;
pub(crate) mod frame;
pub(crate) mod frame_protection;
pub(crate) mod handshake;
pub(crate) mod hot_frames;
pub(crate) mod identity;
pub(crate) mod keys;
pub(crate) mod limits;
pub(crate) mod listed;
pub(crate) mod message;
pub(crate) mod record;
pub(crate) mod reference;
pub(crate) mod rejection;
pub(crate) mod reply;
pub(crate) mod shape;
pub(crate) mod traced;
pub(crate) mod version;

#[cfg(test)]
#[path = "protocol/tests/hex.rs"]
pub(crate) mod test_hex;

#[cfg(test)]
#[path = "protocol/tests/proptests.rs"]
mod proptests;

#[cfg(test)]
#[path = "protocol/tests/fuzz_seeds.rs"]
mod fuzz_seeds;
