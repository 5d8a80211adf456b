//! Writing frames to the write half of a connection: the outbound queue and its writer task.
//!
//! Senders append whole frames to a shared queue, encoding them in place (a cast is copied once,
//! from the user's bytes into the queue), and wake the writer task, which takes everything queued
//! in one lock and writes it in few system calls.
//!
//! The queue has three parts, written in this order on every turn:
//! - *urgent*: control frames, heartbeats and small replies, in the order sent;
//! - *data*: small casts and calls, in the order sent;
//! - *large*: frames over [`FRAGMENT_ABOVE`], sent one piece (`FRAGMENT_CHUNK`) per turn, so
//!   everything else keeps flowing between the pieces of a 16 MiB message.
//!
//! Ordering is kept where it matters: per target actor (a frame for an actor whose large frame is
//! still queued waits behind it, as its *follower*) and among control frames (never fragmented).
//! Replies and heartbeats have no order to keep.
//!
//! Once the session is sealed ([`WriterHandle::seal_after_queued`]), each turn's bytes are sealed
//! where they were queued into records of at most 64 KiB (`protocol::record`), urgent and data
//! frames apart, and written as header, ciphertext and tag slices of one vectored write: one
//! record, one seal and one write for a turn of small casts, whatever their number, and no copy.
//! A transport without vectored writes gets the records copied into one buffer instead. A turn
//! of more than a megabyte is sealed on tokio's blocking pool while the writer awaits it, so that
//! the tasks sharing the runtime's worker keep running meanwhile (`net::sealing`).
//!
//! Two counts bound what waits here, each against the queue's limit; what a sender does when one
//! is over it is the caller's policy:
//! - *queued*: casts, calls and replies. Proxies take no more casts and calls from their mailboxes
//!   while it is over the limit ([`WriterHandle::is_congested`], [`WriterHandle::wait_for_room`]).
//! - *unpaced*: replies and control frames, which no sender waits for before queuing, because
//!   they answer what the peer asked. The session's reader reads nothing more from the peer while
//!   it is over the limit ([`WriterHandle::is_unpaced_over_limit`],
//!   [`WriterHandle::wait_for_unpaced_room`]): a peer that asks and does not read what it asked
//!   for cannot grow this queue without bound.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::sealing::{release, write_sealed, Sealing, TurnBytes};
use super::BoxWrite;
use crate::protocol::fragment::{self, FRAGMENT_ABOVE};
use crate::protocol::hot_frames::encode_fragment_frame;
use crate::protocol::record::Sealer;

/// How many bytes of casts, calls and replies may wait in one connection's queue by default.
pub(crate) const DEFAULT_OUTBOUND_LIMIT: usize = 32 * 1024 * 1024;

/// Starts the writer task for `write`, with the default queue limit.
#[cfg(test)]
pub(crate) fn spawn_writer(write: BoxWrite) -> (WriterHandle, JoinHandle<WriterExit>) {
    spawn_writer_with_limit(write, DEFAULT_OUTBOUND_LIMIT)
}

/// Starts the writer task for `write`; `limit` bounds the queued bytes of casts, calls and replies.
pub(crate) fn spawn_writer_with_limit(
    write: BoxWrite,
    limit: usize,
) -> (WriterHandle, JoinHandle<WriterExit>) {
    let shared = Shared::new(limit);
    // In the caller's span (a session's), so that what the writer logs says whose it is.
    let task = tokio::spawn(tracing::Instrument::in_current_span(run_writer(
        write,
        Arc::clone(&shared),
    )));
    (WriterHandle { shared }, task)
}

/// Which ordering a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// A cast or call to the peer's actor with this pid: kept in order with the others to it.
    Actor(u64),
    /// A reply: no order to keep.
    Reply,
}

#[derive(Debug, Default)]
struct Queue {
    urgent: Vec<u8>,
    /// Bytes of replies in `urgent` (control frames there are not counted).
    urgent_counted: usize,
    data: Vec<u8>,
    large: VecDeque<LargeFrame>,
    /// Set when the writer stopped or every handle is gone.
    closed: bool,
    /// Sealing starts after the first this-many bytes of `urgent`: the frames queued before it
    /// (the handshake's) go out as they are, everything after in records. Boxed: a sealer holds
    /// the expanded AES key (hundreds of bytes), and the writer moves this field out on every
    /// turn; unboxed, each move was a copy of it, even while it is `None` (four copies per
    /// request and reply, ~350 instructions, measured with callgrind).
    seal_after: Option<(usize, Box<Sealer>)>,
}

#[derive(Debug)]
struct LargeFrame {
    lane: Lane,
    frame: Vec<u8>,
    /// Pieces already written.
    sent: usize,
    /// Frames for the same actor sent after this one, released in order when it is done.
    followers: Vec<Follower>,
}

#[derive(Debug)]
struct Follower {
    large: bool,
    frame: Vec<u8>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer: something was queued, or the last handle went away.
    work: Notify,
    /// Wakes senders waiting for the queue to drain below the limit.
    room: Notify,
    handles: AtomicUsize,
    /// Bytes of casts, calls and replies queued and not written yet.
    queued: AtomicUsize,
    /// Bytes of replies and control frames queued and not written yet.
    unpaced: AtomicUsize,
    /// Frames queued so far, heartbeats excepted: the liveness task sends a heartbeat only when
    /// this has not moved for a heartbeat interval.
    frames: AtomicU64,
    limit: usize,
}

impl Shared {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Notify::new(),
            room: Notify::new(),
            handles: AtomicUsize::new(1),
            queued: AtomicUsize::new(0),
            unpaced: AtomicUsize::new(0),
            frames: AtomicU64::new(0),
            limit,
        })
    }

    /// Waits until the queue is below its limit, or the writer has stopped.
    async fn wait_for_room(&self) {
        self.wait_below_limit(&self.queued, || {}).await;
    }

    /// Waits until `count` is below the limit, or the writer has stopped; calls `on_write` after
    /// every write the writer makes meanwhile.
    async fn wait_below_limit(&self, count: &AtomicUsize, mut on_write: impl FnMut()) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before the check, so a wake-up between the check and the wait is kept.
            room.as_mut().enable();
            if count.load(Ordering::Relaxed) < self.limit || self.lock().closed {
                return;
            }
            room.await;
            on_write();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every update of the queue is a plain append or take: it is consistent even if a holder
        // panicked.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Queues frames for the writer task. Cheap to clone; the writer finishes what is queued and shuts
/// the connection down when the last handle is dropped.
pub(crate) struct WriterHandle {
    shared: Arc<Shared>,
}

impl Clone for WriterHandle {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.lock().closed = true;
            self.shared.work.notify_one();
        }
    }
}

impl fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterHandle")
            .field("queued_bytes", &self.queued_bytes())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl WriterHandle {
    /// Queues a whole frame as control traffic: in order with other control frames, never
    /// fragmented, counted as unpaced.
    pub(crate) fn send(&self, frame: Vec<u8>) -> Result<(), WriterClosed> {
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        self.send_uncounted(frame)
    }

    /// Queues a heartbeat: as [`send`](Self::send), but not counted in
    /// [`frames_queued`](Self::frames_queued).
    pub(crate) fn send_heartbeat(&self, frame: Vec<u8>) -> Result<(), WriterClosed> {
        self.send_uncounted(frame)
    }

    /// Frames queued so far, heartbeats excepted.
    pub(crate) fn frames_queued(&self) -> u64 {
        self.shared.frames.load(Ordering::Relaxed)
    }

    fn send_uncounted(&self, frame: Vec<u8>) -> Result<(), WriterClosed> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(WriterClosed);
        }
        self.shared
            .unpaced
            .fetch_add(frame.len(), Ordering::Relaxed);
        if queue.urgent.is_empty() {
            // Nothing to append to: take the frame's buffer as it is.
            let spare = std::mem::replace(&mut queue.urgent, frame);
            drop(spare);
        } else {
            queue.urgent.extend_from_slice(&frame);
        }
        drop(queue);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Queues the frame that `encode` appends to the buffer it is given: a cast, a call or a reply.
    /// `size_hint` (the payload's length) says whether it will be fragmented; small frames are
    /// encoded straight into the queue. If `encode` fails it must leave the buffer as it was.
    pub(crate) fn push<E>(
        &self,
        lane: Lane,
        size_hint: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<Result<(), E>, WriterClosed> {
        let large = size_hint > FRAGMENT_ABOVE;
        // Called once, on whichever path below; the wrapper lets each path name it.
        let mut encode = Some(encode);
        let mut encode = move |buffer: &mut Vec<u8>| encode.take().map_or(Ok(()), |e| e(buffer));
        let mut own = Vec::new();
        if large {
            // Encoded outside the lock: it is a large copy.
            if let Err(err) = encode(&mut own) {
                return Ok(Err(err));
            }
        }
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(WriterClosed);
        }
        let follows = match lane {
            Lane::Actor(_) => queue.large.iter().rposition(|l| l.lane == lane),
            Lane::Reply => None,
        };
        let added = match (large, follows) {
            (true, Some(index)) => queue.follow(index, true, own),
            (true, None) => {
                let len = own.len();
                queue.large.push_back(LargeFrame {
                    lane,
                    frame: own,
                    sent: 0,
                    followers: Vec::new(),
                });
                len
            }
            (false, Some(index)) => {
                let mut frame = Vec::with_capacity(size_hint + 32);
                if let Err(err) = encode(&mut frame) {
                    return Ok(Err(err));
                }
                queue.follow(index, false, frame)
            }
            (false, None) => {
                let queue = &mut *queue;
                let buffer = match lane {
                    Lane::Actor(_) => &mut queue.data,
                    Lane::Reply => &mut queue.urgent,
                };
                let before = buffer.len();
                if let Err(err) = encode(buffer) {
                    return Ok(Err(err));
                }
                let len = buffer.len() - before;
                if lane == Lane::Reply {
                    queue.urgent_counted += len;
                }
                len
            }
        };
        drop(queue);
        self.shared.frames.fetch_add(1, Ordering::Relaxed);
        self.shared.queued.fetch_add(added, Ordering::Relaxed);
        if lane == Lane::Reply {
            self.shared.unpaced.fetch_add(added, Ordering::Relaxed);
        }
        self.shared.work.notify_one();
        Ok(Ok(()))
    }

    /// Bytes of casts, calls and replies queued and not written yet.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Whether the queue holds its limit or more.
    pub(crate) fn is_congested(&self) -> bool {
        self.queued_bytes() >= self.shared.limit
    }

    /// Waits until the queue is below its limit, or the writer has stopped.
    pub(crate) async fn wait_for_room(&self) {
        self.shared.wait_for_room().await;
    }

    /// Whether the replies and control frames queued reach the limit: the peer does not read
    /// what it asked for as fast as it asks.
    pub(crate) fn is_unpaced_over_limit(&self) -> bool {
        self.shared.unpaced.load(Ordering::Relaxed) >= self.shared.limit
    }

    /// Waits until the replies and control frames queued are below the limit, or the writer has
    /// stopped. `on_write` is called after every write the writer makes meanwhile: each one is
    /// a sign that the peer reads.
    pub(crate) async fn wait_for_unpaced_room(&self, on_write: impl FnMut()) {
        self.shared
            .wait_below_limit(&self.shared.unpaced, on_write)
            .await;
    }

    /// Whether the writer has stopped (the connection failed or was shut down).
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// Seals everything queued after the frames already queued with `sealer` (PROTOCOL.md rule
    /// R1): those go out as they are, the rest in records. Called once, by the handshake, when the
    /// session's keys are known and nothing but handshake frames has been queued.
    pub(crate) fn seal_after_queued(&self, sealer: Sealer) -> Result<(), WriterClosed> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(WriterClosed);
        }
        let plain = queue.urgent.len();
        queue.seal_after = Some((plain, Box::new(sealer)));
        Ok(())
    }
}

impl WriterHandle {
    /// A probe that watches this queue without keeping the connection open.
    pub(crate) fn probe(&self) -> WriterProbe {
        WriterProbe {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// Watches a connection's queue from outside: its backlog, and when it has room.
#[derive(Clone)]
pub(crate) struct WriterProbe {
    shared: std::sync::Weak<Shared>,
}

impl fmt::Debug for WriterProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterProbe")
            .field("queued_bytes", &self.queued_bytes())
            .finish()
    }
}

impl WriterProbe {
    /// Queued bytes of casts, calls and replies; `None` once the writer is gone.
    pub(crate) fn queued_bytes(&self) -> Option<usize> {
        let shared = self.shared.upgrade()?;
        Some(shared.queued.load(Ordering::Relaxed))
    }

    /// Frames queued so far, heartbeats excepted; `None` once the writer is gone.
    pub(crate) fn frames_queued(&self) -> Option<u64> {
        let shared = self.shared.upgrade()?;
        Some(shared.frames.load(Ordering::Relaxed))
    }

    /// Waits until the queue is below its limit, or the writer is gone.
    pub(crate) async fn wait_for_room(&self) {
        // The wait holds the queue alive; the writer wakes waiters on every write and at its end.
        if let Some(shared) = self.shared.upgrade() {
            shared.wait_for_room().await;
        }
    }
}

impl Queue {
    /// Queues `frame` behind the large frame at `index`; returns its length.
    fn follow(&mut self, index: usize, large: bool, frame: Vec<u8>) -> usize {
        let len = frame.len();
        if let Some(leader) = self.large.get_mut(index) {
            leader.followers.push(Follower { large, frame });
        }
        len
    }

    /// A large frame is written: its followers go out next, in order. Small ones join the data
    /// buffer (empty but for them, as the writer just took it); the first large one becomes a
    /// large frame of its own, leading the followers after it.
    fn release(&mut self, done: LargeFrame) {
        let mut followers = done.followers.into_iter();
        while let Some(follower) = followers.next() {
            if follower.large {
                self.large.push_back(LargeFrame {
                    lane: done.lane,
                    frame: follower.frame,
                    sent: 0,
                    followers: followers.collect(),
                });
                return;
            }
            self.data.extend_from_slice(&follower.frame);
        }
    }
}

/// The writer has stopped; nothing more can be sent on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterClosed;

impl fmt::Display for WriterClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection's writer has stopped")
    }
}

impl std::error::Error for WriterClosed {}

/// How the writer task ended.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum WriterExit {
    /// Every handle was dropped; what was queued was written and the stream shut down.
    Finished,
    /// A write failed; the connection is unusable.
    Failed(io::Error),
}

impl fmt::Display for WriterExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterExit::Finished => f.write_str("all frames written, connection shut down"),
            WriterExit::Failed(err) => write!(f, "cannot write to the connection: {err}"),
        }
    }
}

/// What the writer takes from the queue in one turn.
#[derive(Default)]
struct Turn {
    urgent: Vec<u8>,
    data: Vec<u8>,
    /// Sealing starts in this turn, after these many bytes of `urgent`.
    seal_after: Option<(usize, Box<Sealer>)>,
    /// Counted bytes this turn writes (of `data`, a large frame, and replies).
    counted: usize,
    /// Unpaced bytes this turn writes (all of `urgent`, and a large reply).
    unpaced: usize,
}

async fn run_writer(mut write: BoxWrite, shared: Arc<Shared>) -> WriterExit {
    let mut turn = Turn::default();
    // Set when the handshake switches the session to records.
    let mut sealing: Option<Box<Sealing>> = None;
    loop {
        let finished = take_turn(&shared, &mut turn);
        if !turn.urgent.is_empty() || !turn.data.is_empty() || turn.seal_after.is_some() {
            if let Err(err) = write_turn(&mut write, &mut turn, &mut sealing).await {
                shared.lock().closed = true;
                shared.room.notify_waiters();
                return WriterExit::Failed(err);
            }
            shared.queued.fetch_sub(turn.counted, Ordering::Relaxed);
            shared.unpaced.fetch_sub(turn.unpaced, Ordering::Relaxed);
            shared.room.notify_waiters();
            continue;
        }
        if finished {
            break;
        }
        shared.work.notified().await;
    }
    shared.room.notify_waiters();
    match write.shutdown().await {
        Ok(()) => WriterExit::Finished,
        Err(err) => WriterExit::Failed(err),
    }
}

/// Moves everything ready from the queue into `turn`: all urgent and data frames and one piece of
/// the first large frame. Returns whether the queue is closed and empty.
fn take_turn(shared: &Shared, turn: &mut Turn) -> bool {
    let mut queue = shared.lock();
    // Swapping keeps both sides' capacity: no copy, no allocation in the steady state.
    std::mem::swap(&mut queue.urgent, &mut turn.urgent);
    std::mem::swap(&mut queue.data, &mut turn.data);
    turn.seal_after = queue.seal_after.take();
    turn.counted = std::mem::take(&mut queue.urgent_counted) + turn.data.len();
    turn.unpaced = turn.urgent.len();
    if let Some(head) = queue.large.front_mut() {
        let piece = fragment::pieces(&head.frame).nth(head.sent);
        if let Some((more, chunk)) = piece {
            // A piece is smaller than the whole frame, which passed the limit when encoded.
            let _ = encode_fragment_frame(more, chunk, u32::MAX, &mut turn.data);
            head.sent += 1;
        }
        if piece.is_none_or(|(more, _)| !more) {
            if let Some(done) = queue.large.pop_front() {
                turn.counted += done.frame.len();
                if done.lane == Lane::Reply {
                    turn.unpaced += done.frame.len();
                }
                queue.release(done);
            }
        }
    }
    queue.closed && queue.urgent.is_empty() && queue.data.is_empty() && queue.large.is_empty()
}

async fn write_turn(
    write: &mut BoxWrite,
    turn: &mut Turn,
    sealing: &mut Option<Box<Sealing>>,
) -> io::Result<()> {
    let mut plain = 0;
    if let Some((before, sealer)) = turn.seal_after.take() {
        // The handshake's last frames, queued before the keys were known, go out as they are.
        plain = before.min(turn.urgent.len());
        if let Some(frames) = turn.urgent.get(..plain).filter(|f| !f.is_empty()) {
            write.write_all(frames).await?;
        }
        *sealing = Some(Box::new(Sealing::new(*sealer)));
    }
    if sealing.is_some() {
        let mut bytes = TurnBytes {
            urgent: std::mem::take(&mut turn.urgent),
            plain,
            data: std::mem::take(&mut turn.data),
        };
        let written = write_sealed(write, sealing, &mut bytes).await;
        // The buffers come back even after a failure: the writer ends then, but keeps its state
        // consistent.
        turn.urgent = bytes.urgent;
        turn.data = bytes.data;
        written?;
        release(&mut turn.urgent);
        release(&mut turn.data);
    } else {
        for buffer in [&mut turn.urgent, &mut turn.data] {
            if !buffer.is_empty() {
                write.write_all(buffer).await?;
                release(buffer);
            }
        }
    }
    write.flush().await
}

#[cfg(test)]
#[path = "tests/frame_writer.rs"]
mod tests;
