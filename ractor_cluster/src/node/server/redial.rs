//! Dialing a lost peer again: which peers a node wants to stay connected to, and the redial
//! tasks that bring them back with the [`ReconnectPolicy`](crate::node::ReconnectPolicy)'s
//! backoff.

use ractor::ActorRef;

use super::message::NodeServerMessage;
use super::message::ServerEvent;
use super::transitive::TRANSITIVE_DIAL_TIMEOUT;
use super::{NodeServerState, Opening, SessionEntry, SessionStatus};
use crate::error::{ConnectError, SessionEnd};
use crate::net::NetworkStream;
use crate::node::reconnect::DialTarget;
use crate::node::session::message::{NodeSessionMessage, SessionEvent};

/// A peer this node dialed and wants to stay connected to.
pub(super) struct Wanted {
    pub(super) target: DialTarget,
    /// Redials since the last ready session, for the backoff.
    pub(super) attempts: u32,
    /// The redial waiting or in progress, if any.
    pub(super) task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Wanted {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl NodeServerState {
    /// A session with `peer` was admitted. If this node dialed it, the peer is wanted from now
    /// on: dialed again when lost. Either way, a redial of it in progress is no longer needed.
    pub(super) fn want(&mut self, peer: &str, target: Option<DialTarget>) {
        if let Some(wanted) = self.wanted.get_mut(peer) {
            if let Some(task) = wanted.task.take() {
                task.abort();
            }
            if let Some(target) = target {
                wanted.target = target;
            }
        } else if let Some(target) = target.filter(|_| self.reconnect.is_enabled()) {
            self.wanted.insert(
                peer.to_owned(),
                Wanted {
                    target,
                    attempts: 0,
                    task: None,
                },
            );
        }
    }

    /// A session ended: answers its waiters, and dials its peer again if it is wanted and was not
    /// left on purpose, even if the handshake failed (a first connection that fails to
    /// authenticate never made its peer wanted).
    pub(super) fn session_ended(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        entry: SessionEntry,
        end: &SessionEnd,
    ) {
        let SessionEntry {
            info,
            dialed_peer,
            waiters,
            deliberate,
            ..
        } = entry;
        let authentication_failed = end.is_authentication_failure();
        for waiter in waiters {
            let error = if authentication_failed {
                ConnectError::AuthenticationFailed(end.clone())
            } else {
                ConnectError::SessionEnded(end.clone())
            };
            let _ = waiter.send(Err(error));
        }
        let Some(peer) = info.peer_name.map(|n| n.name).or(dialed_peer) else {
            return;
        };
        if authentication_failed && self.wanted.contains_key(&peer) {
            // Whoever answers at the peer's address can refuse a handshake or send a bad proof:
            // that says nothing about the peer, so it is dialed again all the same, with the
            // backoff. Subscribers have the failure in `node_session_ended`.
            tracing::warn!(%peer, %end, "authentication failed while dialing a lost peer again; trying again after the backoff");
        }
        if !deliberate {
            self.redial(myself, &peer);
        }
    }

    /// Dials a wanted peer again after the policy's backoff, unless a session with it exists or
    /// a redial is already under way.
    fn redial(&mut self, myself: &ActorRef<NodeServerMessage>, peer: &str) {
        let connected = self.sessions.values().any(|e| {
            e.status != SessionStatus::Superseded
                && (e.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(peer)
                    || e.dialed_peer.as_deref() == Some(peer))
        });
        let Some(wanted) = self.wanted.get_mut(peer) else {
            return;
        };
        if connected || wanted.task.is_some() {
            return;
        }
        let delay = self.reconnect.backoff(wanted.attempts, rand::random());
        wanted.attempts = wanted.attempts.saturating_add(1);
        tracing::info!(%peer, addr = %wanted.target.addr, ?delay, attempt = wanted.attempts, "dialing a lost peer again");
        let target = wanted.target.clone();
        let server = myself.clone();
        let peer = peer.to_owned();
        wanted.task = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let stream = match target.dial(TRANSITIVE_DIAL_TIMEOUT).await {
                Ok(stream) => Some(stream),
                Err(err) => {
                    tracing::info!(%peer, addr = %target.addr, %err, "cannot reach a lost peer");
                    None
                }
            };
            let _ = server.cast(NodeServerMessage::internal(ServerEvent::Redialed {
                peer,
                stream,
            }));
        }));
    }

    /// A redial finished: opens a session over its connection, or schedules the next attempt.
    pub(super) async fn redialed(
        &mut self,
        myself: &ActorRef<NodeServerMessage>,
        peer: String,
        stream: Option<NetworkStream>,
    ) {
        let Some(wanted) = self.wanted.get_mut(&peer) else {
            // Disconnected meanwhile; dropping the stream closes it.
            return;
        };
        // The task has finished; dropping the handle does not abort anything.
        wanted.task = None;
        let target = wanted.target.clone();
        match stream {
            Some(stream) => {
                self.open_session(myself, stream, Opening::dialed(Some(peer), Some(target)))
                    .await;
            }
            None => self.redial(myself, &peer),
        }
    }

    /// The user removes `peer`: it is no longer dialed again, and its sessions end.
    pub(super) fn disconnect(&mut self, peer: &str) -> bool {
        let mut known = self.wanted.remove(peer).is_some();
        for entry in self.sessions.values_mut() {
            let same = entry.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(peer)
                || entry.dialed_peer.as_deref() == Some(peer);
            if same && entry.status != SessionStatus::Superseded {
                known = true;
                entry.deliberate = true;
                let _ = entry
                    .info
                    .actor
                    .cast(NodeSessionMessage::internal(SessionEvent::Close(
                        "disconnected by the user".to_owned(),
                    )));
            }
        }
        if known {
            tracing::info!(%peer, "disconnecting from a peer at the user's request");
        }
        known
    }
}
