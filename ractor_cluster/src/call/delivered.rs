//! The calls of a peer that one session's reader delivered to actors here and has not answered
//! yet, each under a key of the reader's own.
//!
//! Each waits on its byte reply port, polled with a waker of its own that names its key, so that
//! the reader learns which call is done without polling the others. And unlike a
//! `FuturesUnordered`, a call can be taken out by its key: the reader does so when the call's typed
//! answer arrives in its inbox (see `inbox`), before the byte port is used or dropped, so the
//! answer reaches the reader once, not twice (the answer, then the byte port it went through).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

use super::{DeliveredCall, FastHash, ReplyTrace};
use crate::protocol::message::CallFailure;

/// See the module docs. At most as many entries as the reader lets calls wait
/// (`NodeServer::with_max_unanswered_calls`).
#[derive(Debug, Default)]
pub(crate) struct DeliveredCalls {
    waiting: HashMap<u64, Waiting, FastHash>,
    next_key: u64,
    woken: Arc<Woken>,
}

#[derive(Debug)]
struct Waiting {
    call: DeliveredCall,
    waker: Waker,
}

/// The keys of the calls whose byte ports woke, and the reader to tell.
#[derive(Debug, Default)]
struct Woken {
    keys: Mutex<Vec<u64>>,
    reader: AtomicWaker,
}

/// The waker of one delivered call's byte port.
struct CallWaker {
    key: u64,
    woken: Arc<Woken>,
}

impl Wake for CallWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(self.key);
        self.woken.reader.wake();
    }
}

/// A delivered call's outcome: its wire number, the reply bytes or why there are none, and the
/// context the reply goes back in.
pub(crate) type Outcome = (u64, Result<Vec<u8>, CallFailure>, ReplyTrace);

impl DeliveredCalls {
    /// The key the next delivered call gets (its metadata names it, see
    /// `ForwarderInbox::delivery_metadata`).
    pub(crate) fn key(&mut self) -> u64 {
        self.next_key = self.next_key.wrapping_add(1);
        self.next_key
    }

    /// How many calls wait.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Files `call` under `key`, or returns its outcome if it has one already (the target's
    /// task dropped the message meanwhile, say).
    pub(crate) fn push(&mut self, key: u64, mut call: DeliveredCall) -> Option<Outcome> {
        let waker = Waker::from(Arc::new(CallWaker {
            key,
            woken: Arc::clone(&self.woken),
        }));
        match Pin::new(&mut call).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(outcome) => Some(outcome),
            Poll::Pending => {
                self.waiting.insert(key, Waiting { call, waker });
                None
            }
        }
    }

    /// Takes the call filed under `key` out, for its answer has come another way: its wire
    /// number and the context its reply goes back in. Dropping its byte port's receiver here
    /// means nothing wakes for it any more.
    pub(crate) fn take_over(&mut self, key: u64) -> Option<(u64, ReplyTrace)> {
        let waiting = self.waiting.remove(&key)?;
        Some((waiting.call.call, waiting.call.trace))
    }

    /// The outcome of a call whose byte port woke.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        // Registered before looking, so that a wake-up in between is not lost.
        self.woken.reader.register(cx.waker());
        loop {
            let key = {
                let mut keys = self
                    .woken
                    .keys
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                keys.pop()
            };
            let Some(key) = key else {
                return Poll::Pending;
            };
            // A key of a call taken over or answered already has nothing left to wake.
            let Some(waiting) = self.waiting.get_mut(&key) else {
                continue;
            };
            let mut own = Context::from_waker(&waiting.waker);
            if let Poll::Ready(outcome) = Pin::new(&mut waiting.call).poll(&mut own) {
                self.waiting.remove(&key);
                return Poll::Ready(outcome);
            }
        }
    }

    /// [`Self::poll_next`] as a future, for a `select!` branch.
    pub(crate) async fn next(&mut self) -> Outcome {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}
