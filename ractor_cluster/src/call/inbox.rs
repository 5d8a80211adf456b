//! Where the typed answers of the calls a session's reader delivered come back to that reader.
//!
//! The target actor's task makes the typed reply port (`typed_reply_port`), and with it an
//! [`Answer`]: the future that waits for the typed value and encodes it. The call's metadata names
//! the reader's inbox (its *route*) and the call's key among the reader's
//! [`DeliveredCalls`](crate::call::DeliveredCalls), so the answer is sent there, with the call's byte reply port,
//! as a [`Routed`]. The reader takes the call out of its delivered calls by that key before the
//! byte port can be used or dropped, and sends the reply frame itself when the answer is ready: no
//! task per call, and no second hop through the byte port (a wake-up of the reader per call, and
//! a poll of all its sources with it, measured with callgrind).

use std::cell::OnceCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, RwLock};
use std::task::{Context, Poll};

use ractor::RpcReplyPort;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::{FastHash, ReplyTrace, PROCESS_KEY, UNTRACED};
use crate::protocol::message::CallFailure;

/// The encoded typed answer of one call: the reply's bytes, or why there are none.
pub(crate) type Answer = Pin<Box<dyn Future<Output = Result<Vec<u8>, CallFailure>> + Send>>;

/// A future that waits for one typed reply and passes its bytes on, run by a task of its own.
pub(crate) type Forwarder = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Metadata of a delivered `SerializedMessage::Call` that names a forwarder inbox starts with this.
const ROUTE_MARKER: u8 = 0xF0;

/// The inbox and, if the metadata names one, the delivered call's key that `metadata` names:
/// [`ROUTE_MARKER`], the inbox id, [`PROCESS_KEY`], then the key (8 bytes) or nothing.
pub(super) fn read_route(metadata: &[u8]) -> Option<(u64, Option<u64>)> {
    let (&ROUTE_MARKER, rest) = metadata.split_first()? else {
        return None;
    };
    let (inbox, rest) = rest.split_first_chunk::<8>()?;
    let (process, rest) = rest.split_first_chunk::<8>()?;
    if process != &*PROCESS_KEY {
        return None;
    }
    let delivery = match rest.len() {
        0 => None,
        _ => Some(u64::from_le_bytes(*<&[u8; 8]>::try_from(rest).ok()?)),
    };
    Some((u64::from_le_bytes(*inbox), delivery))
}

/// The inbox id that `metadata` routes to, if it is a route of this process.
#[cfg(test)]
pub(super) fn route_of(metadata: &[u8]) -> Option<u64> {
    read_route(metadata).map(|(inbox, _)| inbox)
}

static NEXT_INBOX: AtomicU64 = AtomicU64::new(1);
static INBOXES: LazyLock<RwLock<HashMap<u64, UnboundedSender<Routed>, FastHash>>> =
    LazyLock::new(|| RwLock::new(HashMap::default()));

/// The answer to one delivered call, on its way to the reader that delivered it. Awaited as it
/// is, it passes the answer's bytes into the call's byte port (how it runs when no reader takes
/// it); the reader instead takes it apart with [`Routed::take`].
pub(crate) struct Routed {
    /// The call's key among the reader's delivered calls; `None` for a route without one.
    delivery: Option<u64>,
    answer: Answer,
    /// Kept until the reader took the call out of its delivered calls, so that the call is not
    /// taken for dropped meanwhile.
    port: Option<RpcReplyPort<Vec<u8>>>,
}

impl std::fmt::Debug for Routed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routed")
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl Routed {
    pub(super) fn new(delivery: Option<u64>, answer: Answer, port: RpcReplyPort<Vec<u8>>) -> Self {
        Self {
            delivery,
            answer,
            port: Some(port),
        }
    }

    /// The delivered call's key and its answer, for the reader that delivered it. The byte port
    /// goes with the answer and is dropped when the answer is (the reader has forgotten the call
    /// by then, so dropping it tells nobody anything). `Err(self)` without a key.
    pub(crate) fn take(self) -> Result<(u64, Answering), Self> {
        match self.delivery {
            Some(delivery) => Ok((
                delivery,
                Answering {
                    call: 0,
                    trace: UNTRACED,
                    answer: self.answer,
                    _port: self.port,
                },
            )),
            None => Err(self),
        }
    }
}

impl Future for Routed {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let answer = std::task::ready!(self.answer.as_mut().poll(cx));
        if let (Ok(bytes), Some(port)) = (answer, self.port.take()) {
            let _ = port.send(bytes);
        }
        // On failure, dropping the port (with `self`) tells whoever waits on it.
        Poll::Ready(())
    }
}

/// A delivered call's answer being waited for by its reader: resolves with the call's wire number,
/// the reply bytes or why there are none, and the context the reply goes back in.
pub(crate) struct Answering {
    call: u64,
    trace: ReplyTrace,
    answer: Answer,
    _port: Option<RpcReplyPort<Vec<u8>>>,
}

impl Answering {
    /// The answer to the peer's call `call`, whose reply goes back in `trace`.
    pub(crate) fn for_call(self, call: u64, trace: ReplyTrace) -> Self {
        Self {
            call,
            trace,
            ..self
        }
    }
}

impl Future for Answering {
    type Output = (u64, Result<Vec<u8>, CallFailure>, ReplyTrace);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (call, trace) = (self.call, self.trace);
        self.answer
            .as_mut()
            .poll(cx)
            .map(|answer| (call, answer, trace))
    }
}

/// Where a session's reader receives the answers of the calls it delivered. Registered in a
/// process-wide map while it lives, because the answer is made in the target actor's task,
/// which knows the reader only through the call's metadata.
///
/// Its channel is made, and registered, when the first call names it
/// ([`delivery_metadata`](Self::delivery_metadata)), not when the reader starts: most sessions of
/// a large cluster never deliver a call, and the channel's first block (about 2 KiB) was 5 % of
/// what each peer cost a node of 128 (measured with heaptrack).
#[derive(Debug)]
pub(crate) struct ForwarderInbox {
    pub(super) id: u64,
    forwarders: OnceCell<UnboundedReceiver<Routed>>,
}

impl ForwarderInbox {
    /// An inbox with an id of its own, registered on first use.
    pub(crate) fn open() -> Self {
        Self {
            id: NEXT_INBOX.fetch_add(1, Ordering::Relaxed),
            forwarders: OnceCell::new(),
        }
    }

    /// Makes the channel and registers its sender, the first time.
    fn registered(&self) -> &UnboundedReceiver<Routed> {
        self.forwarders.get_or_init(|| {
            let (tx, forwarders) = tokio::sync::mpsc::unbounded_channel();
            INBOXES
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(self.id, tx);
            forwarders
        })
    }

    /// The metadata of a call routed here without a key: its answer is passed into its byte port.
    #[cfg(test)]
    pub(crate) fn route_metadata(&self) -> Vec<u8> {
        self.registered();
        let mut bytes = Vec::with_capacity(17);
        bytes.push(ROUTE_MARKER);
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes.extend_from_slice(&*PROCESS_KEY);
        bytes
    }

    /// The metadata to put in the call this reader delivers under `delivery` (see
    /// [`DeliveredCalls::key`](crate::call::DeliveredCalls::key)).
    pub(crate) fn delivery_metadata(&self, delivery: u64) -> Vec<u8> {
        self.registered();
        let mut bytes = Vec::with_capacity(25);
        bytes.push(ROUTE_MARKER);
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes.extend_from_slice(&*PROCESS_KEY);
        bytes.extend_from_slice(&delivery.to_le_bytes());
        bytes
    }

    /// The next answer. Never ends while the inbox lives (it holds its own sender in the map, and
    /// before any call named it there is nothing to wait for), so it can sit in a `select!`
    /// branch that is made again on every turn: the turn that delivers the first call is followed
    /// by one that waits on the channel.
    pub(crate) async fn recv(&mut self) -> Option<Routed> {
        match self.forwarders.get_mut() {
            Some(forwarders) => forwarders.recv().await,
            None => std::future::pending().await,
        }
    }

    /// The next answer if one is already here.
    pub(crate) fn try_recv(&mut self) -> Option<Routed> {
        self.forwarders.get_mut()?.try_recv().ok()
    }

    pub(super) fn deliver(route: u64, routed: Routed) -> Result<(), Routed> {
        let inboxes = INBOXES
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match inboxes.get(&route) {
            Some(inbox) => inbox.send(routed).map_err(|returned| returned.0),
            None => Err(routed),
        }
    }
}

impl Drop for ForwarderInbox {
    fn drop(&mut self) {
        if self.forwarders.get().is_none() {
            return;
        }
        INBOXES
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Whether the inbox `id` is in the map.
#[cfg(test)]
pub(super) fn is_registered(id: u64) -> bool {
    INBOXES
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains_key(&id)
}

/// Runs a forwarder that no session reader can take.
pub(super) fn spawn_forwarder(forward: Forwarder) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(forward);
        }
        Err(_) => tracing::warn!(
            "a remote call arrived outside a tokio runtime; its reply cannot be forwarded"
        ),
    }
}
