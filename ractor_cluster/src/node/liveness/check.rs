//! Checking a doubt about a peer before acting on it.
//!
//! Two things can say that a peer is gone although it is not: another node's report that it
//! heard nothing from the peer for its `down_after` (`PeerSilent`), which only says what that
//! node saw; and this node's own look at a silence, when the look came so late (more than
//! [`late_after`]) that this process had not been running (on a starved machine neither its
//! reader nor its liveness task ran, so the silence it measures is partly its own absence).
//! Acting on either at once lets one starved process have a node dropped by the whole cluster,
//! and the reconnections that follow load the machine further.
//!
//! So a doubt is checked first: the liveness task sends the peer a `Probe` (which a 2.5 peer's
//! reader answers as soon as it reads it), and the doubt stands only if *nothing at all* (the
//! answer, a heartbeat, any frame) arrives from the peer within [`check_within`]: the heartbeat
//! interval, so a live peer has as long to answer as it has between two heartbeats, and a peer
//! that is really frozen is down everywhere at most one heartbeat interval after its watchers
//! found it silent. A peer that answers no probe (older than 2.5) cannot be asked: a report
//! about it stands at once, and a late look at it declares it down, as before checks existed.

use std::time::Duration;

use tokio::time::Instant;

use super::LivenessTiming;

/// How long a checked peer has to send anything: one heartbeat interval.
pub(super) fn check_within(timing: &LivenessTiming) -> Duration {
    timing.heartbeat_interval.max(Duration::from_millis(1))
}

/// How late a look must come for this node to doubt the silence it finds: a quarter of
/// `down_after`, and at least the look interval. Any lateness leaves room for frames that the
/// reader has not counted yet, but each check delays declaring a really silent peer down by up to
/// [`check_within`]: only an absence that is a good part of the silence window is worth it (a
/// look a few ticks late on a busy machine is not).
pub(super) fn late_after(timing: &LivenessTiming, look_every: Duration) -> Duration {
    look_every.max(timing.down_after / 4)
}

/// A doubt about the peer, with the probe that checks it already sent.
#[derive(Debug)]
pub(super) struct Check {
    /// The count of frames received when the probe went: any frame since clears the doubt.
    seen: u64,
    /// When the doubt stands, if nothing was heard by then.
    pub(super) until: Instant,
    /// Who reported the peer silent, if anyone did.
    pub(super) reporter: Option<String>,
    /// This node's own look found the peer silent for `down_after`, too late to trust.
    pub(super) own: bool,
}

/// What a look at the counter says of a doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The peer was heard from: the doubt is set aside.
    Cleared,
    /// Nothing yet, and there is still time.
    Pending,
    /// Nothing within the bound: the doubt stands.
    Stands,
}

impl Check {
    /// A check of `reporter`'s report, whose probe went at `now` with `seen` frames counted.
    pub(super) fn reported(
        reporter: String,
        seen: u64,
        now: Instant,
        timing: &LivenessTiming,
    ) -> Self {
        Self {
            seen,
            until: now + check_within(timing),
            reporter: Some(reporter),
            own: false,
        }
    }

    /// A check of this node's own late look, whose probe went at `now` with `seen` frames counted.
    pub(super) fn own(seen: u64, now: Instant, timing: &LivenessTiming) -> Self {
        Self {
            seen,
            until: now + check_within(timing),
            reporter: None,
            own: true,
        }
    }

    /// Looks at the doubt at `now`, with `count` frames received so far. While this node's reader
    /// does not listen (for a reason of this node's own), the peer's silence says nothing about
    /// it: the peer gets the whole bound again once the reader listens.
    pub(super) fn look(
        &mut self,
        count: u64,
        listening: bool,
        now: Instant,
        timing: &LivenessTiming,
    ) -> Verdict {
        if count != self.seen {
            if let Some(reporter) = &self.reporter {
                tracing::info!(
                    %reporter,
                    "the peer reported silent was heard from: the report is set aside"
                );
            } else {
                tracing::info!("the peer found silent by a late look was heard from");
            }
            return Verdict::Cleared;
        }
        if !listening {
            self.until = self.until.max(now + check_within(timing));
            return Verdict::Pending;
        }
        if now >= self.until {
            Verdict::Stands
        } else {
            Verdict::Pending
        }
    }
}
