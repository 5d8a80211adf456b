//! Calls whose message lost its ticket, or never had one.
//!
//! The derive files a caller under a [`CallTicket`] carried in the message's `metadata`, and the
//! message's own reply port is a placeholder whose receiver the table keeps. Some message types
//! replace that metadata: ractor's factory `Job` puts its key and options there, keeping only the
//! reply port; a hand-written `Message` impl has a reply port of its own and no ticket at all. A
//! proxy sends such a call under a ticket of its own ([`register_foreign_call`]) and sends the
//! reply bytes into the message's port when they come.
//!
//! If that port is one of the derive's placeholders, the bytes land in an entry of the table that
//! nothing polls. So once this process has sent a call without a ticket, every entry not yet
//! taken by a proxy is *armed*: its placeholder receiver is polled once with a waker that names
//! the entry, and the send (or drop) that wakes it completes (or fails) the entry right there, in
//! the thread that sent, with no task waiting per call. Processes that never send a call without a
//! ticket never arm anything, and pay nothing for this.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use ractor::RpcReplyPort;

use super::{
    pending_calls, settle, CallTicket, NoReply, PendingCall, PendingEntry, Removed, NEXT_TICKET,
};

/// A caller's byte reply port, as the message carried it: the reply's bytes go into it as they
/// come.
struct ForeignPendingCall(RpcReplyPort<Vec<u8>>);

impl PendingCall for ForeignPendingCall {
    fn complete(self: Box<Self>, outcome: Result<&[u8], NoReply>) {
        // On failure, dropping the port tells whoever waits on it.
        if let Ok(bytes) = outcome {
            let _ = self.0.send(bytes.to_vec());
        }
    }

    fn is_abandoned(&self) -> bool {
        self.0.is_closed()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// Files the reply port of a call that carries no ticket of this process, for a proxy about to
/// send it; the ticket is claimed already. Arms every unclaimed entry the first time (see the
/// module docs), before the call can be answered.
pub(crate) fn register_foreign_call(reply: RpcReplyPort<Vec<u8>>) -> CallTicket {
    let id = NEXT_TICKET.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let entry = PendingEntry {
        call: Box::new(ForeignPendingCall(reply)),
        message_alive: None,
        claimed: true,
        armed: false,
    };
    let removed = {
        let mut table = pending_calls();
        let mut removed = Removed::new();
        if !table.arm_all {
            table.arm_all = true;
            let mut answered = Vec::new();
            for (id, entry) in table.entries.iter_mut() {
                if let Some(answer) = arm(*id, entry) {
                    answered.push((*id, answer));
                }
            }
            for (id, answer) in answered {
                if let Some(entry) = table.entries.remove(&id) {
                    removed.push((entry, answer));
                }
            }
        }
        removed.extend(table.insert(id, entry));
        removed
    };
    settle(removed);
    CallTicket(id)
}

/// Polls the placeholder receiver of `entry`, if it is unclaimed and not armed yet, with a waker
/// that settles entry `id`. `Some` if the placeholder had been answered (`Some(bytes)`) or
/// dropped (`None`) already: the caller then takes the entry out and settles it.
pub(super) fn arm(id: u64, entry: &mut PendingEntry) -> Option<Option<Vec<u8>>> {
    if entry.claimed || entry.armed {
        return None;
    }
    let message_alive = entry.message_alive.as_mut()?;
    let waker = Waker::from(Arc::new(Placeholder(id)));
    match Pin::new(message_alive).poll(&mut Context::from_waker(&waker)) {
        Poll::Pending => {
            entry.armed = true;
            None
        }
        Poll::Ready(answer) => {
            // A completed receiver must not be polled again.
            entry.message_alive = None;
            Some(answer.ok())
        }
    }
}

/// A proxy took the entry in hand: its placeholder now only goes away with the message, and that
/// need not wake anything.
pub(super) fn disarm(entry: &mut PendingEntry) {
    if !entry.armed {
        return;
    }
    entry.armed = false;
    if let Some(message_alive) = entry.message_alive.as_mut() {
        // Replaces the waker; a claimed message's placeholder has neither answered nor gone.
        if Pin::new(message_alive)
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
        {
            entry.message_alive = None;
        }
    }
}

/// The waker of an armed entry: names the entry to settle.
struct Placeholder(u64);

impl Wake for Placeholder {
    fn wake(self: Arc<Self>) {
        settle_entry(self.0);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        settle_entry(self.0);
    }
}

/// The placeholder of entry `id` was answered or dropped: completes or fails its caller. Runs in
/// the thread that sent into (or dropped) the placeholder, which never holds the table's lock:
/// the table only keeps placeholders' receivers, and entries that hold ports are completed or
/// dropped after the lock is released.
fn settle_entry(id: u64) {
    let removed = {
        let mut table = pending_calls();
        let answer = match table.entries.get_mut(&id) {
            Some(entry) if !entry.claimed => match entry.state() {
                super::EntryState::Waiting => return,
                super::EntryState::Dead => None,
                super::EntryState::Answered(bytes) => Some(bytes),
            },
            _ => return,
        };
        table.entries.remove(&id).map(|entry| (entry, answer))
    };
    settle(removed.into_iter().collect());
}
