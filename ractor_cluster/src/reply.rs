//! How the reply to a remote call finds its way back, with no task waiting per call.
//!
//! On the calling node, the derive's `serialize` files the caller's typed reply port in a
//! process-wide table of pending calls and puts the [`CallTicket`] in the message metadata. The
//! session that carries the call keeps the ticket; when the reply bytes arrive, the session's reader
//! completes the ticket, which decodes the bytes and sends the value straight to the caller. When the
//! session ends, it fails its tickets, and the callers learn at once that no reply will come.
//!
//! On the node that runs the target actor, the derive's `deserialize` hands the actor a typed reply
//! port and arranges for the value, once sent, to be encoded and passed to the session's byte reply
//! port.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use ractor::RpcReplyPort;

use crate::error::FieldError;

/// Identifies one pending call on the calling node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallTicket(u64);

/// Metadata of a `SerializedMessage::Call` that carries a ticket starts with this marker.
const TICKET_MARKER: u8 = 0xC7;

impl CallTicket {
    /// The metadata bytes that carry this ticket inside a `SerializedMessage::Call`.
    pub(crate) fn to_metadata(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9);
        bytes.push(TICKET_MARKER);
        bytes.extend_from_slice(&self.0.to_le_bytes());
        bytes
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

    /// Reads a ticket back from call metadata.
    pub(crate) fn from_metadata(metadata: &[u8]) -> Option<Self> {
        match metadata.split_first() {
            Some((&TICKET_MARKER, id)) => Some(Self(u64::from_le_bytes(id.try_into().ok()?))),
            _ => None,
        }
    }
}

/// Why a call ended without a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFailure {
    /// The session that carried the call ended.
    SessionEnded,
    /// The peer reported that the call could not be delivered or answered.
    Remote,
}

/// A caller waiting for a reply, with the decoder for its reply type.
trait PendingCall: Send {
    /// Delivers the outcome; dropping the caller's port on failure is what tells the caller.
    fn complete(self: Box<Self>, outcome: Result<&[u8], CallFailure>);
    /// The caller stopped waiting (timed out or dropped its future).
    fn is_abandoned(&self) -> bool;
}

struct TypedPendingCall<R> {
    reply: RpcReplyPort<R>,
    decode: fn(&[u8]) -> Result<R, FieldError>,
}

impl<R: Send + 'static> PendingCall for TypedPendingCall<R> {
    fn complete(self: Box<Self>, outcome: Result<&[u8], CallFailure>) {
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
}

/// One caller waiting, with what tells whether its call message still exists.
struct PendingEntry {
    call: Box<dyn PendingCall>,
    /// The receiving end of the placeholder port that travels inside the call message. Its
    /// sender is dropped with the message, so once it is closed and no proxy has claimed the
    /// ticket, the message was dropped unsent (say, in the mailbox of a proxy that was killed)
    /// and no reply can ever come.
    message_alive: ractor::concurrency::OneshotReceiver<Vec<u8>>,
    /// Set when a proxy took the call in hand; its session is then responsible for failing it.
    claimed: bool,
}

impl PendingEntry {
    /// No reply can come, or nobody waits for one.
    fn is_dead(&mut self) -> bool {
        let message_dropped_unsent = !self.claimed
            && matches!(
                self.message_alive.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Closed)
            );
        message_dropped_unsent || self.call.is_abandoned()
    }
}

/// The process-wide table of pending calls.
///
/// Entries leave when completed or failed by their session. Dead entries (see
/// [`PendingEntry::is_dead`]) are swept whenever the table has doubled since the last sweep, so its
/// size stays proportional to the calls actually in flight, and whenever a session ends (see
/// [`fail_orphaned_calls`]), so that a call lost with its proxy's mailbox fails at once.
struct PendingCalls {
    entries: HashMap<u64, PendingEntry>,
    sweep_at: usize,
}

impl PendingCalls {
    /// Removes dead entries; dropping them closes their callers' ports, which is what tells the
    /// callers.
    fn sweep(&mut self) -> Vec<PendingEntry> {
        let dead: Vec<u64> = self
            .entries
            .iter_mut()
            .filter_map(|(id, entry)| entry.is_dead().then_some(*id))
            .collect();
        let removed = dead
            .iter()
            .filter_map(|id| self.entries.remove(id))
            .collect();
        self.sweep_at = (self.entries.len() * 2).max(MIN_SWEEP_AT);
        removed
    }
}

const MIN_SWEEP_AT: usize = 1024;

static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);
static PENDING_CALLS: LazyLock<Mutex<PendingCalls>> = LazyLock::new(|| {
    Mutex::new(PendingCalls {
        entries: HashMap::new(),
        sweep_at: MIN_SWEEP_AT,
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
        message_alive,
        claimed: false,
    };
    let dead = {
        let mut table = pending_calls();
        let dead = if table.entries.len() >= table.sweep_at {
            table.sweep()
        } else {
            Vec::new()
        };
        table.entries.insert(id, entry);
        dead
    };
    // Dropped outside the lock: dropping a reply port wakes its caller.
    drop(dead);
    (CallTicket(id), with_timeout(placeholder, timeout))
}

/// A proxy takes a call in hand: from now on its session answers for it. `false` if nobody waits
/// for the reply any more (the caller gave up), so the call need not be sent.
pub(crate) fn claim_call(ticket: CallTicket) -> bool {
    match pending_calls().entries.get_mut(&ticket.0) {
        Some(entry) => {
            entry.claimed = true;
            true
        }
        None => false,
    }
}

/// Completes a pending call with its reply bytes or a failure. Unknown tickets (already failed, or
/// swept after the caller gave up) are ignored.
pub(crate) fn complete_call(ticket: CallTicket, outcome: Result<&[u8], CallFailure>) {
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
    let dead = pending_calls().sweep();
    drop(dead);
}

/// How many calls are waiting for a reply in this process (for tests and metrics).
#[allow(dead_code)] // read by tests
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

/// Gives the target actor a typed reply port whose value, once sent, is encoded and passed on to
/// the byte reply port that the session is waiting on.
///
/// Something must wait for the typed value. If the call came through a session, its metadata names
/// the session reader's [`ForwarderInbox`] and the reader polls the forwarder alongside the socket,
/// so a call costs no task of its own; otherwise (a call built by hand) a task is spawned.
pub(crate) fn typed_reply_port<R: Send + 'static>(
    bytes_port: RpcReplyPort<Vec<u8>>,
    metadata: Option<&[u8]>,
    encode: fn(R) -> Result<Vec<u8>, FieldError>,
) -> RpcReplyPort<R> {
    let timeout = bytes_port.get_timeout();
    let (tx, rx) = ractor::concurrency::oneshot::<R>();
    let forward: Forwarder = Box::pin(async move {
        // An error here means the actor dropped the port without replying; dropping
        // `bytes_port` in turn tells the session, which tells the caller.
        let Ok(value) = rx.await else { return };
        match encode(value) {
            Ok(bytes) => {
                let _ = bytes_port.send(bytes);
            }
            Err(err) => tracing::warn!(
                reply_type = std::any::type_name::<R>(),
                %err,
                "cannot serialize a reply for a remote caller; the caller gets an error"
            ),
        }
    });
    let unrouted = match metadata.and_then(route_of) {
        Some(route) => ForwarderInbox::deliver(route, forward).err(),
        None => Some(forward),
    };
    if let Some(forward) = unrouted {
        spawn_forwarder(forward);
    }
    with_timeout(tx, timeout)
}

/// A future that waits for one typed reply and passes its bytes on.
pub(crate) type Forwarder = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Metadata of a delivered `SerializedMessage::Call` that names a forwarder inbox starts with this.
const ROUTE_MARKER: u8 = 0xF0;

fn route_of(metadata: &[u8]) -> Option<u64> {
    match metadata.split_first() {
        Some((&ROUTE_MARKER, id)) => Some(u64::from_le_bytes(id.try_into().ok()?)),
        _ => None,
    }
}

static NEXT_INBOX: AtomicU64 = AtomicU64::new(1);
static INBOXES: LazyLock<RwLock<HashMap<u64, UnboundedSender<Forwarder>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// Where a session's reader receives the forwarders of the calls it delivered. Registered in a
/// process-wide map while it lives, because the forwarder is made in the target actor's task,
/// which knows the reader only through the call's metadata.
#[derive(Debug)]
pub(crate) struct ForwarderInbox {
    id: u64,
    forwarders: UnboundedReceiver<Forwarder>,
}

impl ForwarderInbox {
    pub(crate) fn open() -> Self {
        let id = NEXT_INBOX.fetch_add(1, Ordering::Relaxed);
        let (tx, forwarders) = tokio::sync::mpsc::unbounded_channel();
        INBOXES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, tx);
        Self { id, forwarders }
    }

    /// The metadata to put in each call this reader delivers.
    pub(crate) fn route_metadata(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9);
        bytes.push(ROUTE_MARKER);
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes
    }

    /// The next forwarder to poll. Never ends while the inbox lives (it holds its own sender in
    /// the map), so it can sit in a `select!` branch.
    pub(crate) async fn recv(&mut self) -> Option<Forwarder> {
        self.forwarders.recv().await
    }

    fn deliver(route: u64, forward: Forwarder) -> Result<(), Forwarder> {
        let inboxes = INBOXES
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match inboxes.get(&route) {
            Some(inbox) => inbox.send(forward).map_err(|returned| returned.0),
            None => Err(forward),
        }
    }
}

impl Drop for ForwarderInbox {
    fn drop(&mut self) {
        INBOXES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Runs a forwarder that no session reader can take.
fn spawn_forwarder(forward: Forwarder) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(forward);
        }
        Err(_) => tracing::warn!(
            "a remote call arrived outside a tokio runtime; its reply cannot be forwarded"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_u32(bytes: &[u8]) -> Result<u32, FieldError> {
        bytes
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| FieldError::new("not four bytes"))
    }

    #[tokio::test]
    async fn a_completed_ticket_delivers_the_decoded_value() {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
        let back = CallTicket::from_metadata(&ticket.to_metadata());
        assert_eq!(back, Some(ticket));
        complete_call(ticket, Ok(&7u32.to_le_bytes()));
        assert_eq!(rx.await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_failed_or_undecodable_reply_closes_the_callers_port() {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
        complete_call(ticket, Err(CallFailure::SessionEnded));
        assert!(rx.await.is_err());

        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
        complete_call(ticket, Ok(b"garbage"));
        assert!(rx.await.is_err());
    }

    #[test]
    fn metadata_that_is_not_a_ticket_is_refused() {
        assert_eq!(CallTicket::from_metadata(&[]), None);
        assert_eq!(CallTicket::from_metadata(&[TICKET_MARKER, 1, 2]), None);
        assert_eq!(
            CallTicket::from_metadata(&[0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn abandoned_calls_are_swept_so_the_table_stays_bounded() {
        // Callers that give up (their receiver is dropped) must not accumulate forever.
        for _ in 0..(MIN_SWEEP_AT * 4) {
            let (tx, rx) = ractor::concurrency::oneshot::<u32>();
            let (_ticket, message) = register_pending_call(tx.into(), decode_u32);
            drop(rx);
            drop(message);
        }
        // Other tests run in parallel and may hold a few live entries.
        assert!(
            pending_call_count() <= MIN_SWEEP_AT * 2,
            "{}",
            pending_call_count()
        );
    }
    #[tokio::test]
    async fn a_call_dropped_before_any_proxy_took_it_fails_on_the_next_orphan_sweep() {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (_ticket, message) = register_pending_call(tx.into(), decode_u32);
        // The message dies unsent, as in the mailbox of a killed proxy.
        drop(message);
        fail_orphaned_calls();
        assert!(
            rx.await.is_err(),
            "the caller learns that no reply will come"
        );
    }

    #[tokio::test]
    async fn a_claimed_call_survives_the_orphan_sweep_and_still_completes() {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (ticket, message) = register_pending_call(tx.into(), decode_u32);
        assert!(claim_call(ticket));
        drop(message);
        fail_orphaned_calls();
        complete_call(ticket, Ok(&9u32.to_le_bytes()));
        assert_eq!(rx.await.unwrap(), 9);
    }

    #[tokio::test]
    async fn a_call_whose_caller_gave_up_is_not_claimed() {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
        drop(rx);
        fail_orphaned_calls();
        assert!(!claim_call(ticket));
    }

    fn encode_u32(value: u32) -> Result<Vec<u8>, FieldError> {
        Ok(value.to_le_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_routed_reply_is_forwarded_by_the_inbox_owner_not_a_task_of_its_own() {
        let mut inbox = ForwarderInbox::open();
        let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
        let typed = typed_reply_port(bytes_tx.into(), Some(&inbox.route_metadata()), encode_u32);
        typed.send(5).unwrap();
        // Nothing runs the forwarder but the inbox's owner.
        let forwarder = inbox.recv().await.expect("the forwarder was routed here");
        forwarder.await;
        assert_eq!(bytes_rx.await.unwrap(), 5u32.to_le_bytes().to_vec());
    }

    #[tokio::test]
    async fn a_reply_to_a_closed_inbox_falls_back_to_a_task() {
        let route = ForwarderInbox::open().route_metadata();
        let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
        let typed = typed_reply_port(bytes_tx.into(), Some(&route), encode_u32);
        typed.send(6).unwrap();
        assert_eq!(bytes_rx.await.unwrap(), 6u32.to_le_bytes().to_vec());
    }
}
