//! The cluster as one node sees it: every node it is or was connected to, with its status, and a
//! subscription to the changes.
//!
//! A node keeps one [`Member`] per node name: itself, and each peer from the moment a session with
//! it is admitted. A member is [`Up`](MemberStatus::Up) while a session with it runs, and
//! [`Down`](MemberStatus::Down) once that session has ended for any reason but the member's own
//! leave (with a [downing policy](crate::downing): once the policy downs it, and
//! [`Unreachable`](MemberStatus::Unreachable) until then); it is up again, with its new incarnation
//! if it restarted, when a session is back (a run that was downed is not admitted again). Down
//! and left members stay in the view (at most [`MAX_FORMER_MEMBERS`] of them, the oldest
//! forgotten first), so that an application can tell a node that went from one it never saw.
//!
//! ```no_run
//! # async fn run(node: ractor::ActorRef<ractor_cluster::NodeServerMessage>) -> Result<(), Box<dyn std::error::Error>> {
//! use ractor_cluster::membership::{self, MemberEvent, MemberStatus, MemberSubscription};
//!
//! for member in membership::members(&node).await? {
//!     println!("{} ({:016x}) at {}: {:?}", member.name, member.node_id, member.address, member.status);
//! }
//!
//! struct Log;
//! impl MemberSubscription for Log {
//!     fn member_changed(&self, event: MemberEvent) {
//!         if event.member.status == MemberStatus::Down {
//!             eprintln!("{} is down: {:?}", event.member.name, event.reason);
//!         }
//!     }
//! }
//! membership::subscribe(&node, "log", Box::new(Log)).await?;
//! # Ok(()) }
//! ```

use ractor::{ActorRef, RactorErr};

use super::server::message::{NodeServerMessage, ServerEvent};

// The types live in `events`, below the server's messages that carry them.
pub use super::events::{Member, MemberEvent, MemberStatus, MemberSubscription};

/// How many members that are down or have left a node remembers; beyond it, the one whose status
/// changed longest ago is forgotten.
pub const MAX_FORMER_MEMBERS: usize = 1024;

/// The members of the cluster as `server` sees them, itself included, sorted by name.
pub async fn members(
    server: &ActorRef<NodeServerMessage>,
) -> Result<Vec<Member>, RactorErr<NodeServerMessage>> {
    ractor::call!(server, |reply| NodeServerMessage::internal(
        ServerEvent::Members(reply)
    ))
}

/// Registers (or replaces) `subscription` under `id`; once this returns, it has had one event
/// per member known (with `previous: None`) and gets every change from then on.
pub async fn subscribe(
    server: &ActorRef<NodeServerMessage>,
    id: impl Into<String>,
    subscription: Box<dyn MemberSubscription>,
) -> Result<(), RactorErr<NodeServerMessage>> {
    let id = id.into();
    ractor::call!(server, |reply| NodeServerMessage::internal(
        ServerEvent::SubscribeMembers {
            id,
            subscription,
            reply,
        }
    ))
}

/// Removes the member subscription registered under `id`.
pub async fn unsubscribe(
    server: &ActorRef<NodeServerMessage>,
    id: impl Into<String>,
) -> Result<(), RactorErr<NodeServerMessage>> {
    let id = id.into();
    ractor::call!(server, |reply| NodeServerMessage::internal(
        ServerEvent::UnsubscribeMembers(id, reply)
    ))
}
