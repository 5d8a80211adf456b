//! Tests of the network layer over real sockets (127.0.0.1, Unix socket pairs) and in-memory pipes.
//!
//! Every wait is bounded by [`within`], so a regression fails the test instead of hanging it.

use std::future::Future;
use std::time::Duration;

mod frames;
mod listener;
mod sealed;
mod streams;
mod tls;

/// Longest any single step of a test may take before the test fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`STEP_TIMEOUT`].
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .expect("test step timed out")
}

/// Encodes one frame the way the protocol does: `u32` little-endian body length, then the body.
fn frame(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("test frame too large");
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A body whose bytes depend on `seed` and position, so a reordering or corruption shows.
fn patterned_body(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(31).wrapping_add(i) % 251) as u8)
        .collect()
}
