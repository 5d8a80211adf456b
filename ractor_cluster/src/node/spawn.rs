//! Spawning actors on another node: kinds registered by name, requests and their answers.
//!
//! A node registers the kinds of actor it lets peers spawn with [`register_spawnable`]; a peer
//! asks with [`spawn_remote`], which sends a `SpawnRequest` (PROTOCOL.md, "Remote spawn") on the
//! session to that node and resolves the answer into a reference, like a reference that arrived in
//! a message.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{Actor, ActorCell};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use super::quota::Token;
use super::references;
use super::NodeId;
use crate::net::WriterHandle;
use crate::protocol::codec;
use crate::protocol::message::{ControlMessage, SessionMessage, SpawnOutcome};
use crate::protocol::reference::WireReference;

/// Why [`spawn_remote`] returned no actor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteSpawnError {
    /// This node has no session with the target node.
    NotConnected(NodeId),
    /// The target node has no kind registered under this name.
    UnknownKind(String),
    /// The arguments could not be encoded here, or not decoded as the kind's argument type there.
    BadArguments(String),
    /// The actor's `pre_start` failed on the target node, with this error.
    StartupFailed(String),
    /// No answer came within the timeout.
    Timeout,
    /// The session to the target node ended before the answer came.
    SessionEnded,
}

impl std::fmt::Display for RemoteSpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotConnected(node) => write!(f, "not connected to node {node}"),
            Self::UnknownKind(kind) => write!(f, "no actor kind {kind:?} is registered there"),
            Self::BadArguments(err) => write!(f, "bad spawn arguments: {err}"),
            Self::StartupFailed(err) => write!(f, "the remote actor failed to start: {err}"),
            Self::Timeout => f.write_str("the remote node did not answer in time"),
            Self::SessionEnded => f.write_str("the session ended before the answer came"),
        }
    }
}

impl std::error::Error for RemoteSpawnError {}

/// The spawned actor and the handle that resolves when it ends.
type Started = Pin<
    Box<
        dyn Future<Output = Result<(ActorCell, ractor::concurrency::JoinHandle<()>), String>>
            + Send,
    >,
>;

/// Decodes arguments (synchronously: a failure is a `BadArguments`), then starts the actor under
/// the given supervisor.
type Spawner = dyn Fn(&[u8], ActorCell) -> Result<Started, String> + Send + Sync;

fn spawnable() -> MutexGuard<'static, HashMap<String, Arc<Spawner>>> {
    static KINDS: LazyLock<Mutex<HashMap<String, Arc<Spawner>>>> = LazyLock::new(Mutex::default);
    KINDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Lets peers spawn actors made by `factory` under the name `kind`, with arguments of type
/// `A::Arguments` (encoded with the crate's codec, like serde fields of a message). Replaces an
/// earlier registration of the same name. Registrations are global to the process: every node
/// running in it serves them.
///
/// The actor is spawned without a name, supervised by the session of the peer that asked: it is
/// stopped (drained) when that session ends, and the session reports its end to the peer. A
/// peer may have at most [`with_max_remote_spawns_per_peer`] such actors running at once. Its
/// message type must support remoting (derive `RactorClusterMessage`), or the request fails.
///
/// [`with_max_remote_spawns_per_peer`]: crate::NodeServer::with_max_remote_spawns_per_peer
pub fn register_spawnable<A, F>(kind: &str, factory: F)
where
    A: Actor,
    A::Arguments: DeserializeOwned,
    F: Fn() -> A + Send + Sync + 'static,
{
    let spawner = move |bytes: &[u8], supervisor: ActorCell| -> Result<Started, String> {
        let args: A::Arguments = codec::decode_exact(bytes).map_err(|err| err.to_string())?;
        let actor = factory();
        Ok(Box::pin(async move {
            let (actor, ended) = Actor::spawn_linked(None, actor, args, supervisor)
                .await
                .map_err(|err| err.to_string())?;
            let cell = actor.get_cell();
            if cell.supports_remoting() {
                Ok((cell, ended))
            } else {
                cell.stop(None);
                Err("the actor's message type does not support remoting".to_owned())
            }
        }) as Started)
    };
    spawnable().insert(kind.to_owned(), Arc::new(spawner));
}

/// Spawn requests waiting for their answer: request -> (the node asked, the waiter).
type Pending = HashMap<u64, (NodeId, oneshot::Sender<SpawnOutcome>)>;

fn pending() -> MutexGuard<'static, Pending> {
    static PENDING: LazyLock<Mutex<Pending>> = LazyLock::new(Mutex::default);
    PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

/// Asks node `node` to spawn an actor of the kind it registered as `kind`, with `args`, and returns
/// a reference to it: a proxy, created at once, that the target node reports the end of.
///
/// Waits at most `timeout` for the answer. The peer must speak protocol 1.1 or later.
pub async fn spawn_remote<Args: Serialize + ?Sized>(
    node: NodeId,
    kind: &str,
    args: &Args,
    timeout: Duration,
) -> Result<ActorCell, RemoteSpawnError> {
    let link = references::link_to(node).ok_or(RemoteSpawnError::NotConnected(node))?;
    let args = codec::encode_to_vec(args)
        .map_err(|err| RemoteSpawnError::BadArguments(err.to_string()))?;
    let request = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    pending().insert(request, (node, tx));
    let message = SessionMessage::Control(ControlMessage::SpawnRequest {
        request,
        kind: kind.to_owned(),
        args,
    });
    let mut frame = Vec::new();
    let sent = message
        .encode_frame(link.max_frame, &mut frame)
        .map_err(|err| RemoteSpawnError::BadArguments(err.to_string()))
        .and_then(|()| {
            link.writer
                .send(frame)
                .map_err(|_| RemoteSpawnError::SessionEnded)
        });
    if let Err(err) = sent {
        pending().remove(&request);
        return Err(err);
    }
    let outcome = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => return Err(RemoteSpawnError::SessionEnded),
        Err(_) => {
            pending().remove(&request);
            return Err(RemoteSpawnError::Timeout);
        }
    };
    match outcome {
        SpawnOutcome::Spawned { pid } => references::resolve(WireReference {
            node,
            incarnation: link.incarnation,
            pid,
        })
        .map_err(|err| RemoteSpawnError::StartupFailed(err.to_string())),
        SpawnOutcome::UnknownKind => Err(RemoteSpawnError::UnknownKind(kind.to_owned())),
        SpawnOutcome::BadArguments(err) => Err(RemoteSpawnError::BadArguments(err)),
        SpawnOutcome::Failed(err) => Err(RemoteSpawnError::StartupFailed(err)),
    }
}

/// A `SpawnReply` arrived from `node`: completes the request if `node` is the one asked.
pub(crate) fn complete(node: NodeId, request: u64, outcome: SpawnOutcome) {
    let mut pending = pending();
    if pending
        .get(&request)
        .is_some_and(|(asked, _)| *asked == node)
    {
        if let Some((_, waiter)) = pending.remove(&request) {
            let _ = waiter.send(outcome);
        }
    } else {
        tracing::debug!(
            node,
            request,
            "ignoring a spawn reply to no request pending there"
        );
    }
}

/// The session to `node` ended: its pending requests fail at once.
pub(crate) fn fail_pending(node: NodeId) {
    // Dropping the waiters makes `spawn_remote` return `SessionEnded`.
    pending().retain(|_, (asked, _)| *asked != node);
}

/// A `SpawnRequest` from a peer, and what serving it needs.
pub(crate) struct Serve {
    pub(crate) request: u64,
    /// Where the `SpawnReply` goes.
    pub(crate) writer: WriterHandle,
    pub(crate) max_frame: u32,
    /// The session of the peer that asked: it supervises the actor.
    pub(crate) supervisor: ActorCell,
    /// The actor's place in the peer's allowance (`with_max_remote_spawns_per_peer`), held until
    /// the actor ends; `None` if the peer has used it up.
    pub(crate) quota: Option<Token>,
}

impl Serve {
    /// Spawns the actor in a task (its `pre_start` may take time), writes the `SpawnReply` to the
    /// writer, and holds the quota until the actor ends.
    pub(crate) fn serve(self, kind: &str, args: &[u8]) {
        let Serve {
            request,
            writer,
            max_frame,
            supervisor,
            quota,
        } = self;
        let started = match (quota.is_some(), spawnable().get(kind).cloned()) {
            (_, None) => Err(SpawnOutcome::UnknownKind),
            (false, Some(_)) => Err(SpawnOutcome::Failed(
                "the peer has as many spawned actors running here as it may \
                 (with_max_remote_spawns_per_peer)"
                    .to_owned(),
            )),
            (true, Some(spawner)) => spawner(args, supervisor).map_err(SpawnOutcome::BadArguments),
        };
        tokio::spawn(async move {
            let (outcome, ended) = match started {
                Err(outcome) => (outcome, None),
                Ok(started) => match started.await {
                    Ok((cell, ended)) => (
                        SpawnOutcome::Spawned {
                            pid: cell.get_id().pid(),
                        },
                        Some(ended),
                    ),
                    Err(err) => (SpawnOutcome::Failed(err), None),
                },
            };
            let message = SessionMessage::Control(ControlMessage::SpawnReply { request, outcome });
            let mut frame = Vec::new();
            match message.encode_frame(max_frame, &mut frame) {
                // A closed writer means the session ended; the requester learns it that way.
                Ok(()) => {
                    let _ = writer.send(frame);
                }
                Err(err) => tracing::warn!(%err, "cannot send a spawn reply"),
            }
            drop(writer);
            if let Some(ended) = ended {
                let _ = ended.await;
            }
            drop(quota);
        });
    }
}
