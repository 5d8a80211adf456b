//! Nodes driven by the in-memory harness (`crate::testing`): no sockets, every wait bounded.

mod bounds;
mod crossed;
mod harness;
mod hidden;
mod probes;
mod traced;
mod views;
mod watching;
