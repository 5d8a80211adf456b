//! Not outrunning the network: how much is queued for another node, and waiting for room.
//!
//! A cast to a remote actor never blocks: ractor queues it in the proxy's mailbox, and the proxy
//! moves it to the connection's outbound queue. That queue is bounded
//! (`DEFAULT_OUTBOUND_LIMIT`, 32 MiB of casts, calls and replies per peer). When it is full, the
//! proxies of that peer stop taking messages from their mailboxes until the writer has made room,
//! so the queue stays bounded and what waits beyond it waits in ractor's mailboxes, which ractor
//! does not bound. A sender that can produce faster than the network carries (a flood, a bulk
//! transfer) should therefore pace itself with [`wait_for_outbound_room`], as a local sender would
//! with a bounded channel:
//!
//! ```no_run
//! # async fn flood(worker: ractor::ActorRef<Vec<u8>>) {
//! for chunk in std::iter::repeat_n(vec![0u8; 1024], 1_000_000) {
//!     ractor_cluster::backpressure::wait_for_outbound_room(&worker.get_cell()).await;
//!     let _ = worker.cast(chunk);
//! }
//! # }
//! ```
//!
//! Replies and control answers are not paced by a sender: they answer what the peer asked for.
//! They are bounded apart, by the same limit: while they fill it, the session reads nothing more
//! from the peer (whose own senders then wait, since its socket fills), and a peer that reads none
//! of them for `down_after` is declared down. Nor does a session read more of a peer that has
//! 1,024 calls delivered here and not answered yet.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use ractor::ActorCell;

use crate::net::WriterProbe;

/// The outbound queue of the current session to each node, by node id.
static QUEUES: LazyLock<RwLock<HashMap<u64, WriterProbe>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// Records the queue of the session that now carries traffic to `node_id`.
pub(crate) fn register(node_id: u64, probe: WriterProbe) {
    QUEUES
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(node_id, probe);
}

fn probe_of(actor: &ActorCell) -> Option<WriterProbe> {
    let id = actor.get_id();
    if id.is_local() {
        return None;
    }
    QUEUES
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&id.node())
        .cloned()
}

/// Bytes of casts, calls and replies queued for the node that `actor` lives on and not yet
/// written to the network. `None` for a local actor, or when no session to its node is open.
pub fn outbound_backlog(actor: &ActorCell) -> Option<usize> {
    probe_of(actor)?.queued_bytes()
}

/// Waits until the connection to the node that `actor` lives on has room in its outbound queue.
/// Returns at once for a local actor, or when no session to its node is open.
pub async fn wait_for_outbound_room(actor: &ActorCell) {
    if let Some(probe) = probe_of(actor) {
        probe.wait_for_room().await;
    }
}
