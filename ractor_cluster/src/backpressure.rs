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
//! `wait_for_outbound_room` sees the connection's queue, not the proxy's mailbox in front of it,
//! which ractor does not bound or measure: a sender that casts faster than the proxy takes
//! (ractor gives an actor about 128 messages per turn of the worker) fills that mailbox instead.
//! [`paced_cast`] closes that gap: it waits for the queue's room *and* for the proxy to have taken
//! all but [`PACED_MAILBOX_BYTES`] of what was cast through it, so a flood holds at most that
//! plus the queue's bound in memory on the sending node, as a bounded channel would:
//!
//! ```no_run
//! # async fn flood(worker: ractor::ActorRef<Vec<u8>>) {
//! for chunk in std::iter::repeat_n(vec![0u8; 1024], 1_000_000) {
//!     if ractor_cluster::backpressure::paced_cast(&worker, chunk).await.is_err() {
//!         break; // the actor is gone
//!     }
//! }
//! # }
//! ```
//!
//! Replies and control answers are not paced by a sender: they answer what the peer asked for.
//! They are bounded apart, by the same limit: while they fill it, the session reads nothing more
//! from the peer (whose own senders then wait, since its socket fills), and a peer that reads none
//! of them for `down_after` is declared down. Nor does a session read more of a peer that has
//! 1,024 calls (by default) delivered here and not answered yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use ractor::message::SerializedMessage;
use ractor::{ActorCell, ActorId, ActorRef, Message, MessagingErr};
use tokio::sync::Notify;

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

/// How many bytes of casts made with [`paced_cast`] may wait in a remote actor's proxy mailbox
/// (not yet taken into the connection's outbound queue) before `paced_cast` waits. A cast counts
/// for its serialized size, and at least 1 KiB, so at most 1,024 casts wait there.
pub const PACED_MAILBOX_BYTES: u64 = 1024 * 1024;

/// Casts `message` to `actor` once the way to it has room, and waits for that room without
/// blocking the thread, as sending on a bounded channel does. For an actor on another node that is
/// once the connection's outbound queue is below its bound
/// ([`wait_for_outbound_room`]) and the actor's proxy has taken all but
/// [`PACED_MAILBOX_BYTES`] of what was cast to it this way; a local actor gets the message at once.
///
/// So a sender that floods a remote actor with `paced_cast` holds at most the queue's bound plus
/// `PACED_MAILBOX_BYTES` on its node, where [`ActorRef::cast`] would let ractor's unbounded
/// mailbox take the whole flood. Casts made without it to the same actor are not counted and make
/// the pacing looser, never stuck.
///
/// # Errors
/// As [`ActorRef::cast`]: the actor has stopped, or the message cannot be serialized for a remote
/// actor.
pub async fn paced_cast<M: Message>(
    actor: &ActorRef<M>,
    message: M,
) -> Result<(), MessagingErr<M>> {
    let cell = actor.get_cell();
    if cell.get_id().is_local() {
        return actor.cast(message);
    }
    if cell.get_status() >= ractor::ActorStatus::Draining {
        return Err(MessagingErr::SendErr(message));
    }
    let Some(pace) = pace_of(cell.get_id()) else {
        // Not a proxy of a session (a waiting one, or one that has ended): only the queue of its
        // node, if there is one, to wait on.
        wait_for_outbound_room(&cell).await;
        return actor.cast(message);
    };
    pace.queue.wait_for_room().await;
    if pace.behind() >= PACED_MAILBOX_BYTES {
        pace.wait_for_catch_up().await;
    }
    let Ok(serialized) = message.serialize() else {
        return Err(MessagingErr::InvalidActorType);
    };
    if let SerializedMessage::Cast { args, .. } = &serialized {
        pace.sent(args.len());
    }
    // What `ActorRef::cast` does for a remote actor, once the message is serialized.
    cell.send_serialized(serialized)
        .map_err(|_| MessagingErr::ChannelClosed)
}

/// How far a proxy's taking of casts lags behind the casts made through [`paced_cast`], and the
/// queue of its session (so that a paced cast finds both with one lookup).
#[derive(Debug)]
pub(crate) struct Pace {
    queue: WriterProbe,
    /// Bytes cast through `paced_cast`, brought up to `taken` whenever that got ahead.
    sent: AtomicU64,
    /// Bytes of casts the proxy has taken from its mailbox.
    taken: AtomicU64,
    /// Set by a sender about to wait, cleared by the proxy when it wakes the senders.
    waiting: AtomicBool,
    /// Set when the proxy has stopped: nobody will take anything any more.
    closed: AtomicBool,
    caught_up: Notify,
}

impl Pace {
    fn behind(&self) -> u64 {
        let taken = self.taken.load(Ordering::SeqCst);
        self.sent.load(Ordering::SeqCst).saturating_sub(taken)
    }

    fn sent(&self, bytes: usize) {
        let bytes = charge(bytes);
        // Casts made without `paced_cast` were taken but not counted as sent: start from what was
        // taken, so that they loosen the pacing instead of leaving it without effect.
        self.sent
            .fetch_max(self.taken.load(Ordering::SeqCst), Ordering::SeqCst);
        self.sent.fetch_add(bytes as u64, Ordering::SeqCst);
    }

    /// Called by the proxy for every cast it has taken from its mailbox.
    pub(crate) fn taken(&self, bytes: usize) {
        self.taken.fetch_add(charge(bytes) as u64, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) && self.behind() <= PACED_MAILBOX_BYTES / 2 {
            self.waiting.store(false, Ordering::SeqCst);
            self.caught_up.notify_waiters();
        }
    }

    /// Waits until the proxy is at most half the allowance behind, or has stopped. Half, so that
    /// a flood alternates between long runs of casts and long runs of taking them.
    async fn wait_for_catch_up(&self) {
        loop {
            let caught_up = self.caught_up.notified();
            tokio::pin!(caught_up);
            caught_up.as_mut().enable();
            self.waiting.store(true, Ordering::SeqCst);
            if self.behind() <= PACED_MAILBOX_BYTES / 2 || self.closed.load(Ordering::SeqCst) {
                return;
            }
            caught_up.await;
        }
    }
}

/// What a cast of `bytes` counts for against the allowance: at least 1 KiB, so that small casts
/// are bounded in number too (each also costs ractor an envelope and a mailbox slot).
fn charge(bytes: usize) -> usize {
    bytes.max(1024)
}

/// The pace of each proxy of this process, by actor id.
static PACES: LazyLock<RwLock<HashMap<ActorId, Arc<Pace>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

fn pace_of(id: ActorId) -> Option<Arc<Pace>> {
    PACES
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&id)
        .cloned()
}

/// A proxy's entry in the pace table, removed (and its waiting senders released) when the proxy's
/// state is dropped, however the proxy ends.
#[derive(Debug)]
pub(crate) struct PaceEntry {
    id: ActorId,
    pace: Arc<Pace>,
}

impl PaceEntry {
    /// Files a fresh pace for the proxy `id`, which sends through `queue`.
    pub(crate) fn file(id: ActorId, queue: WriterProbe) -> Self {
        let pace = Arc::new(Pace {
            queue,
            sent: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            caught_up: Notify::new(),
        });
        PACES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, Arc::clone(&pace));
        Self { id, pace }
    }

    pub(crate) fn pace(&self) -> &Pace {
        &self.pace
    }
}

impl Drop for PaceEntry {
    fn drop(&mut self) {
        let mut paces = PACES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A newer proxy of the same id (the same actor after a reconnection) keeps its own.
        if paces
            .get(&self.id)
            .is_some_and(|p| Arc::ptr_eq(p, &self.pace))
        {
            paces.remove(&self.id);
        }
        drop(paces);
        self.pace.closed.store(true, Ordering::SeqCst);
        self.pace.caught_up.notify_waiters();
    }
}
