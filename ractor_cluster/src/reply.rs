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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use ractor::RpcReplyPort;

use crate::__private::FieldError;

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

/// The process-wide table of pending calls.
///
/// Entries leave when completed or failed by their session. Callers that give up leave entries
/// behind until then, so the table is swept of abandoned entries whenever it has doubled since the
/// last sweep: its size stays proportional to the calls actually in flight.
struct PendingCalls {
    entries: HashMap<u64, Box<dyn PendingCall>>,
    sweep_at: usize,
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

/// Files a caller's reply port and returns the ticket that completes it.
pub(crate) fn register_pending_call<R: Send + 'static>(
    reply: RpcReplyPort<R>,
    decode: fn(&[u8]) -> Result<R, FieldError>,
) -> CallTicket {
    let id = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    let mut table = pending_calls();
    if table.entries.len() >= table.sweep_at {
        table.entries.retain(|_, call| !call.is_abandoned());
        table.sweep_at = (table.entries.len() * 2).max(MIN_SWEEP_AT);
    }
    table
        .entries
        .insert(id, Box::new(TypedPendingCall { reply, decode }));
    CallTicket(id)
}

/// Completes a pending call with its reply bytes or a failure. Unknown tickets (already failed, or
/// swept after the caller gave up) are ignored.
pub(crate) fn complete_call(ticket: CallTicket, outcome: Result<&[u8], CallFailure>) {
    let call = pending_calls().entries.remove(&ticket.0);
    // Decode outside the lock: it runs user code.
    if let Some(call) = call {
        call.complete(outcome);
    }
}

/// How many calls are waiting for a reply in this process (for tests and metrics).
#[allow(dead_code)] // read by tests
pub(crate) fn pending_call_count() -> usize {
    pending_calls().entries.len()
}

/// The byte reply port that a serialized call must carry. The calling node never reads it (the
/// ticket is what completes the call); its timeout tells the carrier how long the caller waits.
pub(crate) fn placeholder_port(timeout: Option<Duration>) -> RpcReplyPort<Vec<u8>> {
    let (tx, _rx) = ractor::concurrency::oneshot();
    with_timeout(tx, timeout)
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
pub(crate) fn typed_reply_port<R: Send + 'static>(
    bytes_port: RpcReplyPort<Vec<u8>>,
    _metadata: Option<Vec<u8>>,
    encode: fn(R) -> Result<Vec<u8>, FieldError>,
) -> RpcReplyPort<R> {
    let timeout = bytes_port.get_timeout();
    let (tx, rx) = ractor::concurrency::oneshot::<R>();
    let forward = async move {
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
    };
    run_reply_forwarder(forward);
    with_timeout(tx, timeout)
}

/// Runs the future that forwards one reply.
// TODO(node layer): hand it to the session's writer instead, which already polls its byte ports,
// so a reply costs no task of its own.
fn run_reply_forwarder(forward: impl Future<Output = ()> + Send + 'static) {
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
        let ticket = register_pending_call(tx.into(), decode_u32);
        let back = CallTicket::from_metadata(&ticket.to_metadata());
        assert_eq!(back, Some(ticket));
        complete_call(ticket, Ok(&7u32.to_le_bytes()));
        assert_eq!(rx.await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_failed_or_undecodable_reply_closes_the_callers_port() {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let ticket = register_pending_call(tx.into(), decode_u32);
        complete_call(ticket, Err(CallFailure::SessionEnded));
        assert!(rx.await.is_err());

        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let ticket = register_pending_call(tx.into(), decode_u32);
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
            register_pending_call(tx.into(), decode_u32);
            drop(rx);
        }
        // Other tests run in parallel and may hold a few live entries.
        assert!(
            pending_call_count() <= MIN_SWEEP_AT * 2,
            "{}",
            pending_call_count()
        );
    }
}
