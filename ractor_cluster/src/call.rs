//! Everything about a remote call: its ticket, the table of callers waiting, the calls in flight
//! on each session, the forwarding of the target's answer, and every way a call fails.
//!
//! # A call's round trip
//!
//! ```text
//!  calling node                                            serving node
//!  ractor::call!(proxy, Msg::Get)
//!   └─ __private::Outgoing::call (derive's serialize):
//!      register_pending_call files the typed reply port,
//!      the CallTicket rides in the message metadata
//!       └─ proxy (remote_actor): InFlightCalls::take_on,
//!          Call frame into the session's writer ──────────► reader task (node::reader):
//!                                                            deliverable() gives the target a
//!                                                            byte reply port + a route (this
//!                                                            reader, a key in DeliveredCalls)
//!                                                             └─ target actor: deserialize
//!                                                                (__private::Incoming::reply →
//!                                                                typed_reply_port: the Answer,
//!                                                                sent to the reader's inbox)
//!                                                             └─ reader takes the call out of
//!                                                                its DeliveredCalls, polls the
//!                                                                answer; Reply frame
//!  reader task: InFlightCalls::complete ◄─────────────────────── into the writer
//!   └─ complete_call: decode, send to the caller's port
//! ```
//!
//! A call whose message carries metadata of its own instead of the ticket (a ractor factory `Job`)
//! or a hand-written reply port is filed by the proxy under a ticket of its own; see
//! [`placeholder`]. A call serialized and deserialized in this process never meets a session: the
//! target gets the caller's own port ([`typed_reply_port`]).
//!
//! No task waits per call on either side. A call fails at once, with its caller's port dropped,
//! when: its session ends ([`InFlightCalls::close_and_fail_all`]); it cannot be sent
//! ([`InFlightCalls::fail`], [`fail_unsent`]); its message is dropped before any proxy took it
//! (swept by [`fail_orphaned_calls`]); the peer reports it failed ([`CallFailure`] in the reply);
//! or its reply cannot be decoded.

mod delivered;
mod inbox;
mod placeholder;
#[cfg(test)]
mod tests;

pub(crate) use delivered::DeliveredCalls;
pub(crate) use inbox::{Answering, ForwarderInbox, Routed};
pub(crate) use placeholder::register_foreign_call;

#[cfg(test)]
use inbox::route_of;
use inbox::spawn_forwarder;

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use ractor::concurrency::OneshotReceiver;
use ractor::RpcReplyPort;

use ractor::message::SerializedMessage;

use crate::error::FieldError;
use crate::protocol::message::{CallFailure, ReplyOutcome};

/// The hasher of the tables keyed by ticket or inbox number: these are numbers this process
/// chose (a peer only looks them up, in a table of ours), so a fast hasher with a per-process seed
/// does; SipHash cost ~140 instructions a lookup, five lookups a call.
type FastHash = foldhash::fast::RandomState;

/// Identifies one pending call on the calling node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallTicket(u64);

/// Metadata of a `SerializedMessage::Call` that carries a ticket starts with this marker.
const TICKET_MARKER: u8 = 0xC7;

/// A random number of this process that follows a ticket or a route in call metadata: metadata
/// that a peer chose (which a session delivers as it came) cannot name this process's tickets or
/// readers, because the peer does not know it.
static PROCESS_KEY: LazyLock<[u8; 8]> = LazyLock::new(rand::random);

/// The metadata `marker`, `id`, [`PROCESS_KEY`].
fn local_metadata(marker: u8, id: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(17);
    bytes.push(marker);
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&*PROCESS_KEY);
    bytes
}

/// The id in metadata made by [`local_metadata`] with `marker` in this process.
fn read_local_metadata(marker: u8, metadata: &[u8]) -> Option<u64> {
    match metadata.split_first() {
        Some((&first, rest)) if first == marker => {
            let (id, key) = rest.split_first_chunk::<8>()?;
            (key == PROCESS_KEY.as_slice()).then(|| u64::from_le_bytes(*id))
        }
        _ => None,
    }
}

impl CallTicket {
    /// The metadata bytes that carry this ticket inside a `SerializedMessage::Call`.
    pub(crate) fn to_metadata(self) -> Vec<u8> {
        local_metadata(TICKET_MARKER, self.0)
    }

    /// The number that stands for this ticket in a `Call` frame and its `Reply`.
    pub(crate) fn to_wire(self) -> u64 {
        self.0
    }

    /// The ticket a `Reply` frame names. Only meaningful for numbers this node sent in a `Call`
    /// on the same session: the session checks that before completing it.
    pub(crate) fn from_wire(call: u64) -> Self {
        Self(call)
    }

    /// Reads a ticket back from call metadata made in this process.
    pub(crate) fn from_metadata(metadata: &[u8]) -> Option<Self> {
        // The sender's trace context may follow the ticket as far as the proxy.
        #[cfg(feature = "trace-context")]
        let metadata = crate::trace::without_context(metadata);
        read_local_metadata(TICKET_MARKER, metadata).map(Self)
    }
}

/// Why no reply will come to a caller on this node. (What a peer reports about a call it could not
/// answer is the wire type [`CallFailure`]; here it is [`NoReply::Remote`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoReply {
    /// The session that carried the call ended, or never carried it.
    SessionEnded,
    /// The peer reported that the call could not be delivered or answered, or it could not be
    /// sent.
    Remote,
}

/// A caller waiting for a reply, with the decoder for its reply type.
trait PendingCall: Send {
    /// Delivers the outcome; dropping the caller's port on failure is what tells the caller.
    fn complete(self: Box<Self>, outcome: Result<&[u8], NoReply>);
    /// The caller stopped waiting (timed out or dropped its future).
    fn is_abandoned(&self) -> bool;
    /// For [`take_local_call`]: what the entry holds, to check its reply type.
    fn as_any(&self) -> &dyn Any;
    /// For [`take_local_call`]: the entry itself, to take the caller's port out.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

struct TypedPendingCall<R> {
    reply: RpcReplyPort<R>,
    decode: fn(&[u8]) -> Result<R, FieldError>,
}

impl<R: Send + 'static> PendingCall for TypedPendingCall<R> {
    fn complete(self: Box<Self>, outcome: Result<&[u8], NoReply>) {
        let Ok(bytes) = outcome else { return };
        match (self.decode)(bytes) {
            Ok(value) => {
                // The caller may have given up meanwhile; nothing to do then.
                let _ = self.reply.send(value);
            }
            Err(err) => tracing::warn!(
                reply_type = std::any::type_name::<R>(),
                %err,
                "a remote call's reply cannot be decoded; the caller gets an error"
            ),
        }
    }

    fn is_abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// One caller waiting, with what tells whether its call message still exists.
struct PendingEntry {
    call: Box<dyn PendingCall>,
    /// The receiving end of the placeholder port that travels inside the call message (none for
    /// a [`placeholder::register_foreign_call`]). Its sender is dropped with the message, so
    /// once it is closed and no proxy has claimed the ticket, the message was dropped unsent
    /// (say, in the mailbox of a proxy that was killed) and no reply can ever come. The reply
    /// bytes arrive here instead of through the ticket when the message lost its ticket on the
    /// way (see [`placeholder`]).
    message_alive: Option<OneshotReceiver<Vec<u8>>>,
    /// Set when a proxy took the call in hand; its session is then responsible for failing it.
    claimed: bool,
    /// Whether `message_alive` was polled with a waker that settles this entry (see
    /// [`placeholder`]).
    armed: bool,
}

/// What became of a pending call, as far as its entry can tell.
enum EntryState {
    Waiting,
    /// No reply can come, or nobody waits for one.
    Dead,
    /// The reply bytes came through the placeholder port.
    Answered(Vec<u8>),
}

impl PendingEntry {
    fn state(&mut self) -> EntryState {
        if !self.claimed {
            if let Some(message_alive) = self.message_alive.as_mut() {
                match message_alive.try_recv() {
                    Ok(bytes) => return EntryState::Answered(bytes),
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        return EntryState::Dead
                    }
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                }
            }
        }
        if self.call.is_abandoned() {
            EntryState::Dead
        } else {
            EntryState::Waiting
        }
    }
}

/// Entries taken out of the table, with their answers if they have one: completed (or, dropped,
/// failed) by [`settle`] once the table's lock is released, as completing wakes callers and
/// decoding runs user code.
type Removed = Vec<(PendingEntry, Option<Vec<u8>>)>;

fn settle(removed: Removed) {
    for (entry, answer) in removed {
        if let Some(bytes) = answer {
            entry.call.complete(Ok(&bytes));
        }
    }
}

/// The process-wide table of pending calls.
///
/// Entries leave when completed or failed by their session. Dead entries (see
/// [`PendingEntry::state`]) are swept whenever the table has doubled since the last sweep, so its
/// size stays proportional to the calls actually in flight, and whenever a session ends (see
/// [`fail_orphaned_calls`]), so that a call lost with its proxy's mailbox fails at once.
struct PendingCalls {
    entries: HashMap<u64, PendingEntry, FastHash>,
    sweep_at: usize,
    /// Set once this process has sent a call without a ticket: from then on every unclaimed
    /// entry is armed (see [`placeholder`]).
    arm_all: bool,
}

impl PendingCalls {
    /// Removes dead and answered entries; dropping the dead closes their callers' ports, which is
    /// what tells the callers.
    fn sweep(&mut self) -> Removed {
        let mut settled = Vec::new();
        for (id, entry) in self.entries.iter_mut() {
            match entry.state() {
                EntryState::Waiting => {}
                EntryState::Dead => settled.push((*id, None)),
                EntryState::Answered(bytes) => settled.push((*id, Some(bytes))),
            }
        }
        let removed = settled
            .into_iter()
            .filter_map(|(id, answer)| Some((self.entries.remove(&id)?, answer)))
            .collect();
        self.sweep_at = (self.entries.len() * 2).max(MIN_SWEEP_AT);
        removed
    }

    /// Files `entry` under `id`; sweeps first if the table has doubled since the last sweep.
    fn insert(&mut self, id: u64, mut entry: PendingEntry) -> Removed {
        let mut removed = if self.entries.len() >= self.sweep_at {
            self.sweep()
        } else {
            Vec::new()
        };
        if self.arm_all {
            if let Some(answer) = placeholder::arm(id, &mut entry) {
                removed.push((entry, answer));
                return removed;
            }
        }
        self.entries.insert(id, entry);
        removed
    }
}

const MIN_SWEEP_AT: usize = 1024;

static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);
static PENDING_CALLS: LazyLock<Mutex<PendingCalls>> = LazyLock::new(|| {
    Mutex::new(PendingCalls {
        entries: HashMap::default(),
        sweep_at: MIN_SWEEP_AT,
        arm_all: false,
    })
});

fn pending_calls() -> MutexGuard<'static, PendingCalls> {
    // A panic while holding this lock cannot leave the map inconsistent, so poisoning is ignored.
    PENDING_CALLS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Files a caller's reply port. Returns the ticket that completes it and the placeholder byte port
/// that the serialized call must carry (see [`PendingEntry::message_alive`]); the placeholder's
/// timeout tells the carrier how long the caller waits.
pub(crate) fn register_pending_call<R: Send + 'static>(
    reply: RpcReplyPort<R>,
    decode: fn(&[u8]) -> Result<R, FieldError>,
) -> (CallTicket, RpcReplyPort<Vec<u8>>) {
    let timeout = reply.get_timeout();
    let (placeholder, message_alive) = ractor::concurrency::oneshot();
    let id = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    let entry = PendingEntry {
        call: Box::new(TypedPendingCall { reply, decode }),
        message_alive: Some(message_alive),
        claimed: false,
        armed: false,
    };
    let removed = pending_calls().insert(id, entry);
    // Outside the lock: dropping a reply port wakes its caller.
    settle(removed);
    (CallTicket(id), with_timeout(placeholder, timeout))
}

/// A proxy takes a call in hand: from now on its session answers for it. `false` if nobody waits
/// for the reply any more (the caller gave up), so the call need not be sent.
fn claim_call(ticket: CallTicket) -> bool {
    match pending_calls().entries.get_mut(&ticket.0) {
        Some(entry) => {
            entry.claimed = true;
            placeholder::disarm(entry);
            true
        }
        None => false,
    }
}

/// The caller's own reply port, taken out of the table, if `ticket` is a call of this process that
/// no proxy took in hand and whose reply type is `R`: a call serialized and deserialized in this
/// process (a unit test of a message type does that), whose answer need not become bytes at all.
fn take_local_call<R: Send + 'static>(ticket: CallTicket) -> Option<RpcReplyPort<R>> {
    let entry = {
        let mut table = pending_calls();
        let takeable = table
            .entries
            .get(&ticket.0)
            .is_some_and(|entry| !entry.claimed && entry.call.as_any().is::<TypedPendingCall<R>>());
        if takeable {
            table.entries.remove(&ticket.0)
        } else {
            None
        }
    }?;
    let typed = entry
        .call
        .into_any()
        .downcast::<TypedPendingCall<R>>()
        .ok()?;
    Some(typed.reply)
}

/// Completes a pending call with its reply bytes or a failure. Unknown tickets (already failed, or
/// swept after the caller gave up) are ignored.
pub(crate) fn complete_call(ticket: CallTicket, outcome: Result<&[u8], NoReply>) {
    let entry = pending_calls().entries.remove(&ticket.0);
    // Decode outside the lock: it runs user code.
    if let Some(entry) = entry {
        entry.call.complete(outcome);
    }
}

/// Fails every call whose message was dropped before any proxy took it in hand. A session calls
/// this once its proxies have stopped: a proxy that is killed drops the calls still queued in its
/// mailbox, and their callers must not wait for replies that cannot come.
pub(crate) fn fail_orphaned_calls() {
    let removed = pending_calls().sweep();
    settle(removed);
}

/// How long [`fail_calls_dropped_with`] waits for each stopping proxy to be gone.
const PROXY_GONE_GRACE: Duration = Duration::from_secs(1);

/// Fails the calls dropped unsent with the mailboxes of `proxies`, which are stopping: once each
/// is gone (or [`PROXY_GONE_GRACE`] has passed), sweeps for orphans (see
/// [`fail_orphaned_calls`]). A proxy's mailbox, and the calls still queued in it, go only when
/// its task ends, which nobody else waits for. Sweeps at once outside a runtime.
pub(crate) fn fail_calls_dropped_with(proxies: Vec<ractor::ActorCell>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for proxy in proxies {
                    let _ = proxy.wait(Some(PROXY_GONE_GRACE)).await;
                }
                fail_orphaned_calls();
            });
        }
        Err(_) => fail_orphaned_calls(),
    }
}

/// How many calls are waiting for a reply in this process (for tests and metrics).
#[cfg(test)]
pub(crate) fn pending_call_count() -> usize {
    pending_calls().entries.len()
}

fn with_timeout<T>(
    tx: ractor::concurrency::OneshotSender<T>,
    timeout: Option<Duration>,
) -> RpcReplyPort<T> {
    match timeout {
        Some(timeout) => (tx, timeout).into(),
        None => tx.into(),
    }
}

/// Fails the call that `message` is, if it is one of this crate's, because it will never be sent
/// (it waited for a session that did not come, or reached a cell that stands for no actor).
pub(crate) fn fail_unsent(message: SerializedMessage, why: NoReply) {
    if let SerializedMessage::Call { metadata, .. } = message {
        if let Some(ticket) = metadata.as_deref().and_then(CallTicket::from_metadata) {
            complete_call(ticket, Err(why));
        }
    }
}

/// The calls sent on one session and not answered yet. Only a call recorded here may be completed
/// by that session's peer, and the session fails all of them when it ends.
#[derive(Debug, Default)]
pub(crate) struct InFlightCalls {
    inner: Mutex<InFlightInner>,
}

#[derive(Debug, Default)]
struct InFlightInner {
    calls: HashSet<u64, FastHash>,
    /// Set when the session ends: no call may be added after its tickets were failed.
    closed: bool,
}

impl InFlightCalls {
    fn lock(&self) -> MutexGuard<'_, InFlightInner> {
        // The set stays consistent even if a holder panicked.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A proxy takes the call `ticket` in hand to send it on this session. Returns the number
    /// that names the call on the wire, or `None` if it must not be sent: the caller gave up
    /// already (nobody would read the reply), or the session has ended (the call is failed).
    pub(crate) fn take_on(&self, ticket: CallTicket) -> Option<u64> {
        if !claim_call(ticket) {
            return None;
        }
        let call = ticket.to_wire();
        let recorded = {
            let mut inner = self.lock();
            !inner.closed && inner.calls.insert(call)
        };
        if recorded {
            Some(call)
        } else {
            complete_call(ticket, Err(NoReply::SessionEnded));
            None
        }
    }

    /// The call `call`, taken on here, could not be sent: its caller learns why at once.
    pub(crate) fn fail(&self, call: u64, why: NoReply) {
        if self.lock().calls.remove(&call) {
            complete_call(CallTicket::from_wire(call), Err(why));
        }
    }

    /// The peer answered `call`: completes it, if it is one this session sent and has not
    /// completed yet (a peer cannot complete another session's calls, nor one call twice).
    pub(crate) fn complete(&self, call: u64, outcome: ReplyOutcome) {
        if !self.lock().calls.remove(&call) {
            tracing::debug!(call, "ignoring a reply to no call pending on this session");
            return;
        }
        let ticket = CallTicket::from_wire(call);
        match outcome {
            ReplyOutcome::Value(bytes) => complete_call(ticket, Ok(&bytes)),
            ReplyOutcome::Failed(failure) => {
                tracing::debug!(%failure, "a remote call failed");
                complete_call(ticket, Err(NoReply::Remote));
            }
        }
    }

    /// Ends the session's bookkeeping and fails every pending call, so that no caller waits for
    /// a reply that cannot come.
    pub(crate) fn close_and_fail_all(&self) {
        let calls = {
            let mut inner = self.lock();
            inner.closed = true;
            std::mem::take(&mut inner.calls)
        };
        for call in calls {
            complete_call(CallTicket::from_wire(call), Err(NoReply::SessionEnded));
        }
    }
}

/// A peer's call, ready for delivery to its target: the message to put in the target's mailbox,
/// and the [`DeliveredCall`] that resolves with the answer. `metadata` is the delivering reader's
/// [`ForwarderInbox::delivery_metadata`], so that the target's typed answer comes back to that
/// reader and not to a task of its own, or the metadata the peer sent with the message.
pub(crate) fn deliverable(
    call: u64,
    variant: String,
    args: Vec<u8>,
    metadata: Vec<u8>,
) -> (SerializedMessage, DeliveredCall) {
    let (tx, rx) = ractor::concurrency::oneshot();
    let message = SerializedMessage::Call {
        variant,
        args,
        reply: tx.into(),
        metadata: Some(metadata),
    };
    let delivered = DeliveredCall {
        call,
        rx,
        trace: UNTRACED,
    };
    (message, delivered)
}

/// The trace context a reply goes back in: the span the call was delivered in, if it was
/// delivered inside a trace (feature `trace-context`; PROTOCOL.md, rule TC5). Nothing at all
/// without the feature.
#[cfg(feature = "trace-context")]
pub(crate) type ReplyTrace = Option<crate::protocol::message::TraceParent>;
/// See the feature's twin: without the feature, no reply carries a context, and this is nothing.
#[cfg(not(feature = "trace-context"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyTrace;

/// A reply that goes back untraced.
#[cfg(feature = "trace-context")]
pub(crate) const UNTRACED: ReplyTrace = None;
/// A reply that goes back untraced.
#[cfg(not(feature = "trace-context"))]
pub(crate) const UNTRACED: ReplyTrace = ReplyTrace;

/// A peer's call delivered here, waiting for the target's answer: resolves with the call's wire
/// number, the reply bytes or why there are none, and the context the reply goes back in.
#[derive(Debug)]
pub(crate) struct DeliveredCall {
    call: u64,
    rx: OneshotReceiver<Vec<u8>>,
    trace: ReplyTrace,
}

impl DeliveredCall {
    /// The call, whose reply goes back in `trace`.
    pub(crate) fn traced(self, trace: ReplyTrace) -> Self {
        Self { trace, ..self }
    }
}

impl Future for DeliveredCall {
    type Output = (u64, Result<Vec<u8>, CallFailure>, ReplyTrace);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (call, trace) = (self.call, self.trace);
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|answer| (call, answer.map_err(|_| CallFailure::ReplyDropped), trace))
    }
}

/// Gives the target actor a typed reply port whose value, once sent, is encoded and passed on to
/// the byte reply port that the session is waiting on.
///
/// Something must wait for the typed value. If the call came through a session, its metadata names
/// the session reader's [`ForwarderInbox`] and the call's key among the reader's
/// [`DeliveredCalls`]: the answer goes to the reader ([`Routed`]), which polls it alongside the
/// socket and frames the reply itself, so a call costs no task of its own; otherwise (a call built
/// by hand, or a peer's call with metadata of its own) a task waits and passes the answer's bytes
/// into `bytes_port`.
///
/// A call that never left this process (serialized and deserialized here, as users unit-test their
/// message types) still carries its [`CallTicket`]: the target then gets the caller's own port, and
/// the answer goes straight to the caller, neither encoded nor waited for by anything in between.
pub(crate) fn typed_reply_port<R: Send + 'static>(
    bytes_port: RpcReplyPort<Vec<u8>>,
    metadata: Option<&[u8]>,
    encode: fn(R) -> Result<Vec<u8>, FieldError>,
) -> RpcReplyPort<R> {
    let ticket = metadata.and_then(CallTicket::from_metadata);
    if let Some(ticket) = ticket {
        if let Some(port) = take_local_call::<R>(ticket) {
            return port;
        }
    }
    let timeout = bytes_port.get_timeout();
    let (tx, rx) = ractor::concurrency::oneshot::<R>();
    let answer = async move {
        // An error here means the actor dropped the port without replying.
        match rx.await {
            Ok(value) => encode(value).map_err(|err| {
                tracing::warn!(
                    reply_type = std::any::type_name::<R>(),
                    %err,
                    "cannot serialize a reply for a remote caller; the caller gets an error"
                );
                CallFailure::ReplyDropped
            }),
            Err(_) => Err(CallFailure::ReplyDropped),
        }
    };
    if let Some(ticket) = ticket {
        // A local call decoded as another reply type than its caller's: the answer takes the
        // bytes' way to the caller's decoder.
        spawn_forwarder(Box::pin(async move {
            let encoded = answer.await;
            complete_call(ticket, encoded.as_deref().map_err(|_| NoReply::Remote));
            drop(bytes_port);
        }));
    } else if let Some((inbox, delivery)) = metadata.and_then(inbox::read_route) {
        let routed = Routed::new(delivery, Box::pin(answer), bytes_port);
        if let Err(routed) = ForwarderInbox::deliver(inbox, routed) {
            spawn_forwarder(Box::pin(routed));
        }
    } else {
        // Dropping `bytes_port` on failure tells the session, which tells the caller.
        spawn_forwarder(Box::pin(Routed::new(None, Box::pin(answer), bytes_port)));
    }
    with_timeout(tx, timeout)
}
