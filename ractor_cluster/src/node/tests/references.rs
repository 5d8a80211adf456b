//! The directory's bookkeeping of names.

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
