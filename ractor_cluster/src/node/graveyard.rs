//! The graveyard: the one local actor that supervises the cells a reference resolves to when it
//! cannot resolve to a live proxy (ractor requires a supervisor for remote cells): *gone* cells,
//! stopped at once with the reason, and waiting proxies (see `references`).

use std::sync::Mutex;

use futures_util::FutureExt;
use ractor::message::SerializedMessage;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorRuntime, Message};

use crate::call::{fail_unsent, NoReply};
use crate::error::FieldError;
use crate::protocol::reference::WireReference;
use crate::remote_actor::RemoteActorMessage;

/// Runs a spawn whose `pre_start` never waits (that of a proxy) to completion, without waiting.
/// `None` if it could not complete at once (it then never runs).
pub(super) fn start_now<M: Message>(
    spawn: impl std::future::Future<
        Output = Result<(ActorRef<M>, ractor::concurrency::JoinHandle<()>), ractor::SpawnErr>,
    >,
) -> Option<ActorRef<M>> {
    match spawn.now_or_never() {
        Some(Ok((actor, _))) => Some(actor),
        Some(Err(err)) => {
            tracing::debug!(%err, "cannot start a proxy");
            None
        }
        None => None,
    }
}

/// A cell that stands for an actor that cannot be reached: stopped with `reason`, so that sending
/// to it fails. Its id is the remote id of the actor it stands for.
pub(super) fn gone(reference: WireReference, reason: &str) -> Result<ActorCell, FieldError> {
    tracing::debug!(?reference, reason, "a reference resolves to no actor");
    let id = ActorId::Remote {
        node_id: reference.node,
        pid: reference.pid,
    };
    let cell = start_in_graveyard(|graveyard| {
        ActorRuntime::spawn_linked_remote(None, GoneActor, id, (), graveyard)
    });
    match cell {
        Some((cell, _)) => {
            // Draining closes the mailbox at once, so that every send to the cell fails from now
            // on (a message queued before the stop took effect would be dropped unanswered); the
            // stop then ends it with `reason`, which monitors see.
            let _ = cell.drain();
            cell.stop(Some(reason.to_owned()));
            Ok(cell.get_cell())
        }
        None => Err(FieldError::new(format!(
            "a reference to an actor that cannot be reached ({reason}) needs a tokio runtime to \
             be decoded"
        ))),
    }
}

/// The local actor that supervises gone cells and waiting proxies (ractor requires a supervisor
/// for remote cells). `renew` replaces it: the one there may belong to a tokio runtime that has
/// ended (a process can run several in turn, as tests do), and then nothing can be linked to it.
fn graveyard(renew: bool) -> Option<ActorCell> {
    static GRAVEYARD: Mutex<Option<ActorCell>> = Mutex::new(None);
    tokio::runtime::Handle::try_current().ok()?;
    let mut graveyard = GRAVEYARD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*graveyard {
        Some(cell) if !renew && cell.get_status() < ractor::ActorStatus::Draining => {
            Some(cell.clone())
        }
        _ => {
            let (actor, _) = ActorRuntime::spawn_instant(None, Graveyard, ()).ok()?;
            *graveyard = Some(actor.get_cell());
            Some(actor.get_cell())
        }
    }
}

/// Starts a remote cell supervised by the graveyard (see [`start_now`]), with a new graveyard if
/// the current one cannot take it.
pub(super) fn start_in_graveyard<M: Message, F>(
    spawn: impl Fn(ActorCell) -> F,
) -> Option<(ActorRef<M>, ActorCell)>
where
    F: std::future::Future<
        Output = Result<(ActorRef<M>, ractor::concurrency::JoinHandle<()>), ractor::SpawnErr>,
    >,
{
    let graveyard_now = graveyard(false)?;
    if let Some(actor) = start_now(spawn(graveyard_now.clone())) {
        return Some((actor, graveyard_now));
    }
    let renewed = graveyard(true)?;
    start_now(spawn(renewed.clone())).map(|actor| (actor, renewed))
}

/// Supervises gone cells and ignores their end.
struct Graveyard;

impl Actor for Graveyard {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A cell for an actor that cannot be reached; stopped as soon as it starts.
struct GoneActor;

impl Actor for GoneActor {
    type Msg = RemoteActorMessage;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _: ActorRef<RemoteActorMessage>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_serialized(
        &self,
        _: ActorRef<RemoteActorMessage>,
        message: SerializedMessage,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        // Not expected (the mailbox is closed before the cell is handed out), but should a call
        // get in, its caller learns at once that no answer will come.
        fail_unsent(message, NoReply::Remote);
        Ok(())
    }
}
