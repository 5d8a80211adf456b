//! Admission: which session a node keeps when several connect it to the same peer, decided alike
//! on both nodes without talking about it; when a node claiming a connected peer's name may take
//! its place; and how many peers a node keeps at once.

use ractor::{ActorId, RpcReplyPort};

use super::reconciler::seen_address;
use super::{NodeServerState, SessionEntry, SessionStatus};
use crate::error::ANOTHER_SESSION_KEPT;
use crate::node::events::NodeName;
use crate::node::session::message::{NodeSessionMessage, SessionEvent};
use crate::protocol::identity::node_id_of;
use crate::protocol::message as wire;

/// A session that authenticated its peer and asks to be kept.
pub(super) struct Admission {
    pub(super) session: ActorId,
    pub(super) peer: wire::WireNodeName,
    pub(super) incarnation: u64,
    pub(super) connection_key: [u8; 32],
    /// The peer is a hidden node.
    pub(super) hidden: bool,
    /// `Err` says why the session is refused.
    pub(super) reply: RpcReplyPort<Result<(), String>>,
}

/// What becomes of a new session to a peer that already has an established one.
enum Rival {
    /// The new session replaces the established one, for this reason.
    Replaced(&'static str),
    /// The established session stays; the new one is a duplicate.
    Kept,
    /// The new session claims a new run of the peer while the established one is alive: refused
    /// until the old run is shown dead.
    Alive,
}

impl NodeServerState {
    /// Decides whether a session that just authenticated its peer may continue, and answers it
    /// now or, when it must first wait for a superseded session to stop, later.
    ///
    /// Only one session per peer name is kept, and both nodes must keep the same one without
    /// talking about it:
    /// * a session that claims a new run (incarnation) of a peer whose session is established is
    ///   refused for as long as that session lives: anyone with the cookie can claim any name, so
    ///   a live session is not given up on a claim. The established session ends once the old run
    ///   is shown dead: its connection closes or fails (the session sends a heartbeat at once, to
    ///   find out), or it stays silent for `down_after`. The new run, redialing, then gets in;
    /// * when both nodes dialed each other at once, both keep the session whose *client* has the
    ///   smaller node name;
    /// * two connections in the same direction (the user dialed twice, or a reconnect races a
    ///   dying session): both keep the one with the smaller connection key, which the handshake
    ///   derives from both nonces. Keeping "the first one" would not do: each node may see a
    ///   different one first, and each would then close the one the other kept.
    ///
    /// A session with a peer that has none is refused when the node already keeps
    /// `max_sessions` sessions.
    ///
    /// A session that replaces an established one waits until the loser has stopped with all
    /// its proxies: the proxies of both stand for the same remote actors under the same
    /// `ActorId`s, and ractor's process groups know members by id, so a loser's proxy that leaves
    /// its groups late would take the winner's proxy out with it.
    pub(super) fn admit(&mut self, admission: Admission) {
        let Admission {
            session,
            ref peer,
            incarnation,
            connection_key,
            hidden,
            ..
        } = admission;
        if let Some(reconciler) = self.reconciler.as_mut() {
            reconciler.authenticated(&session, &peer.name);
        }
        let Some(is_server) = self.sessions.get(&session).map(|e| e.info.is_server) else {
            let _ = admission
                .reply
                .send(Err("the node server no longer knows the session".to_owned()));
            return;
        };
        if self.is_fenced(&peer.name, incarnation) {
            tracing::info!(peer = %peer.name, incarnation, "refusing a downed peer: only a new run of it is admitted");
            if let Some(entry) = self.sessions.get_mut(&session) {
                entry.deliberate = true;
            }
            let _ = admission.reply.send(Err(format!(
                "{} (incarnation {incarnation}) was downed: only a new run of it is admitted",
                peer.name
            )));
            return;
        }
        let same_peer = |entry: &SessionEntry| {
            entry.info.peer_name.as_ref().map(|n| n.name.as_str()) == Some(peer.name.as_str())
        };
        let rival = self
            .established
            .session_with(&peer.name)
            .filter(|id| *id != session)
            .and_then(|id| Some((id, self.sessions.get(&id)?)));
        if let Some((rival_id, rival)) = rival {
            match self.replaces(rival, is_server, incarnation, &connection_key, &peer.name) {
                Rival::Kept => {
                    tracing::info!(peer = %peer.name, "refusing a second session to an already connected peer");
                    // Whoever waits on the refused session gets the one that stays.
                    self.move_waiters(session, rival_id, true);
                    let _ = admission.reply.send(Err(format!(
                        "already connected to {} through another session {ANOTHER_SESSION_KEPT}",
                        peer.name
                    )));
                    return;
                }
                Rival::Alive => {
                    let refusal = format!(
                        "refused: a node claims to be a new run of {}, whose session here is \
                         alive; it may take its place once that session ends",
                        peer.name
                    );
                    tracing::warn!(
                        peer = %peer.name,
                        established = rival.incarnation,
                        claimed = incarnation,
                        "{refusal}"
                    );
                    // If the old run's connection is dead, writing to it fails at once: the
                    // session then ends and the new run gets in on its next attempt.
                    let _ = rival
                        .info
                        .actor
                        .cast(NodeSessionMessage::internal(SessionEvent::Probe));
                    let _ = admission.reply.send(Err(refusal));
                    return;
                }
                Rival::Replaced(reason) => {
                    tracing::info!(peer = %peer.name, %reason, "a new session replaces the established one");
                    self.move_waiters(rival_id, session, true);
                    if let Some(rival) = self.sessions.get_mut(&rival_id) {
                        // Reported as disconnected once it has stopped; no longer listed meanwhile.
                        rival.status = SessionStatus::Superseded;
                        self.established
                            .left(rival_id, &peer.name, rival.listed_addresses());
                        // The peer hears why, so that it does not take the replaced session's end
                        // for this node's loss while the new one is being admitted there.
                        let close = SessionEvent::Close(format!("{reason} {ANOTHER_SESSION_KEPT}"));
                        if rival
                            .info
                            .actor
                            .cast(NodeSessionMessage::internal(close))
                            .is_err()
                        {
                            rival.info.actor.stop(Some(reason.into()));
                        }
                    }
                }
            }
        }
        let superseded_alive = self
            .sessions
            .values()
            .any(|entry| entry.status == SessionStatus::Superseded && same_peer(entry));
        if superseded_alive {
            // Decided again when a session ends (see `retry_deferred_admissions`).
            self.deferred.push(admission);
            return;
        }
        let established = self.established.len();
        if established >= self.max_sessions {
            let refusal = format!(
                "refused: this node already keeps {established} sessions, its maximum \
                 (NodeServer::with_max_sessions)"
            );
            tracing::warn!(peer = %peer.name, "{refusal}");
            let _ = admission.reply.send(Err(refusal));
            return;
        }
        let Some(entry) = self.sessions.get_mut(&session) else {
            let _ = admission
                .reply
                .send(Err("the node server no longer knows the session".to_owned()));
            return;
        };
        entry.status = SessionStatus::Authenticated;
        entry.incarnation = incarnation;
        entry.connection_key = connection_key;
        let peer_node_id = node_id_of(&peer.name);
        entry.peer_node_id = peer_node_id;
        entry.seen_address = seen_address(&entry.info.peer_addr, &peer.connection_string);
        entry.hidden = hidden;
        entry.info.peer_name = Some(NodeName {
            hidden,
            ..NodeName::from(peer)
        });
        self.established
            .admitted(session, &peer.name, entry.listed_addresses());
        if !hidden {
            let listed = self
                .reconciler
                .as_ref()
                .is_some_and(|r| r.listed_now(&peer.connection_string));
            self.established.set_listed(session, listed);
            self.established.on_ring(session, peer_node_id, &peer.name);
            if entry.watched {
                self.watching.insert(session);
            }
        }
        let target = entry.dial_target.clone();
        self.count_admitted(session, &peer.name);
        self.want(&peer.name, target);
        // A hidden peer is no member: not in the view, and so not counted by downing.
        if !hidden {
            self.members.up(
                &peer.name,
                peer_node_id,
                incarnation,
                &peer.connection_string,
            );
        }
        self.notify(|s, i| s.node_session_authenticated(i), &session);
        // Before the answer: the session then learns whether it is watched before it is live.
        self.update_watches();
        let _ = admission.reply.send(Ok(()));
    }

    /// Moves the `connect_and_wait` callers of session `from` to session `to`, which stays in
    /// its place; `from` is ending on purpose when `deliberate`.
    pub(super) fn move_waiters(&mut self, from: ActorId, to: ActorId, deliberate: bool) {
        let waiters = match self.sessions.get_mut(&from) {
            Some(entry) => {
                entry.deliberate |= deliberate;
                std::mem::take(&mut entry.waiters)
            }
            None => return,
        };
        match self.sessions.get_mut(&to) {
            Some(entry) if entry.ready => {
                for waiter in waiters {
                    let _ = waiter.send(Ok(entry.info.clone()));
                }
            }
            Some(entry) => entry.waiters.extend(waiters),
            None => {}
        }
    }

    /// What becomes of the established session `rival` when a new session to the same peer,
    /// whose client is `peer_name` or this node, asks to be kept (see [`admit`](Self::admit)).
    fn replaces(
        &self,
        rival: &SessionEntry,
        is_server: bool,
        incarnation: u64,
        connection_key: &[u8; 32],
        peer_name: &str,
    ) -> Rival {
        let client_of = |is_server: bool| {
            if is_server {
                peer_name
            } else {
                self.config.local.name.as_str()
            }
        };
        if rival.incarnation != incarnation {
            // Established sessions are alive: one that is shown dead has ended, and is no rival.
            Rival::Alive
        } else if rival.info.is_server != is_server {
            if client_of(is_server) < client_of(rival.info.is_server) {
                Rival::Replaced("superseded by a simultaneous connection")
            } else {
                Rival::Kept
            }
        } else if *connection_key < rival.connection_key {
            Rival::Replaced("superseded by another connection in the same direction")
        } else {
            Rival::Kept
        }
    }

    /// A session ended: the admissions that waited for it to stop are decided again.
    pub(super) fn retry_deferred_admissions(&mut self) {
        for admission in std::mem::take(&mut self.deferred) {
            self.admit(admission);
        }
    }
}
