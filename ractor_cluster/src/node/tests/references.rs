//! The directory's bookkeeping of names, and waiting proxies.

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{is_running, Directory};

struct Idle;

impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

#[tokio::test]
async fn a_proxys_end_looks_only_at_its_own_names() {
    let (running, _) = Actor::spawn(None, Idle, ()).await.unwrap();
    let (stopped, handle) = Actor::spawn(None, Idle, ()).await.unwrap();
    stopped.stop(None);
    handle.await.unwrap();
    assert!(!is_running(&stopped.get_cell()));
    let owner = running.get_id();
    let mut directory = Directory::default();
    // Many names of other actors of the same node, and two of the actor that ends.
    for n in 0..1_000u64 {
        let name = format!("other-{n}");
        directory
            .names
            .entry(name.clone())
            .or_default()
            .insert(7, (running.get_cell(), owner));
        directory.names_of.insert((7, n + 100), vec![name]);
    }
    for name in ["mine-1", "mine-2"] {
        directory
            .names
            .entry(name.to_owned())
            .or_default()
            .insert(7, (stopped.get_cell(), owner));
    }
    directory
        .names_of
        .insert((7, 1), vec!["mine-1".to_owned(), "mine-2".to_owned()]);

    assert_eq!(directory.forget_names_of(7, 1), 2);
    assert!(!directory.names.contains_key("mine-1"));
    assert!(!directory.names.contains_key("mine-2"));
    assert_eq!(directory.names.len(), 1_000);
    running.stop(None);
}

/// A call that reaches a waiting proxy's mailbox behind the instruction to stop waiting is dropped
/// with the mailbox; its caller must learn it soon, not at its timeout.
#[tokio::test]
async fn a_call_queued_behind_a_waiting_proxys_end_fails_at_once() {
    use std::sync::Arc;
    use std::time::Duration;

    use ractor::message::SerializedMessage;
    use ractor::{ActorId, ActorRuntime};

    use crate::node::graveyard::start_in_graveyard;
    use crate::remote_actor::{instruct, PendingLink, ProxyInstruction, WaitingProxy};

    let id = ActorId::Remote {
        node_id: 0x7e57_0001,
        pid: 1,
    };
    let link = Arc::new(PendingLink::default());
    let (proxy, _) = start_in_graveyard(|graveyard| {
        ActorRuntime::spawn_linked_remote(None, WaitingProxy, id, Arc::clone(&link), graveyard)
    })
    .unwrap();
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let reply: ractor::RpcReplyPort<u32> = (tx, Duration::from_secs(30)).into();
    let (ticket, placeholder) = crate::call::register_pending_call(reply, |bytes| {
        bytes
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| crate::error::FieldError::new("not four bytes"))
    });
    let call = SerializedMessage::Call {
        variant: "Get".to_owned(),
        args: Vec::new(),
        reply: placeholder,
        metadata: Some(ticket.to_metadata()),
    };
    // Both in the mailbox before the proxy handles either.
    let cell = proxy.get_cell();
    assert!(instruct(&cell, ProxyInstruction::StopWaiting));
    cell.send_serialized(call).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), rx).await;
    assert!(
        matches!(outcome, Ok(Err(_))),
        "the caller is told no reply will come: {outcome:?}"
    );
}
