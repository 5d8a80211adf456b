//! Liveness of an authenticated session: heartbeats out, silence in.
//!
//! One timer task per session, which sleeps without a timer while the session needs neither
//! (see [`Watch`]). While the peer *watches* this node, every `heartbeat_interval` it queues a
//! `Heartbeat` on the session's writer if nothing else was queued there since the last tick (as
//! Erlang ticks only silent links), so that the peer always has something to read and a busy link
//! carries no heartbeats. While this node watches the peer, it watches a counter of the frames
//! the reader has received. When the counter has not moved for `down_after`, the peer is declared
//! down: the task tells the session, which ends with a reason that says so (and the session end
//! fails pending calls, stops the proxies and reports the disconnection; the server tells the
//! other peers, see `server::watch`).
//!
//! The reader only bumps a counter per frame (no clock read on the hot path); this task reads the
//! clock when it wakes, at most every `down_after / 8` (and every heartbeat), and always exactly
//! when the silence would reach `down_after`. So a watched peer is declared down after a silence
//! of at least `down_after` and less than `down_after + min(heartbeat_interval, down_after / 8)`,
//! counted from the later of its last frame and the moment the watch began; never earlier.
//!
//! A doubt about the peer is checked before it ends anything (see [`check`]): another node's
//! report that the peer fell silent (the session hands it over in [`Watch`]), and this task's own
//! finding of a silence in a look that came more than a quarter of `down_after` late (this
//! process was not running, so the silence may be its own). The task probes the peer and declares it down only if
//! nothing at all arrives within one heartbeat interval.
//!
//! The periodic wake-ups (heartbeats, looks at the counter) land on the node's tick (see
//! [`tick`]): all the links of an idle node wake together, once per tick, and heartbeats go at
//! the same instants on every node, instead of once per link at instants of its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::session::message::{NodeSessionMessage, SessionEvent};
use super::stats::LinkCounters;
use crate::net::WriterHandle;
use crate::protocol::message::{ControlMessage, SessionMessage};
use check::{Check, Verdict};
use tick::Tick;

mod check;
mod tick;

/// Counts the frames a session's reader has received: the only thing the reader does for liveness.
#[derive(Debug, Default)]
pub(crate) struct ReceivedFrames {
    count: AtomicU64,
    /// Set while the reader reads nothing for a reason of this node's own (its actors have not
    /// answered the peer's calls yet): the peer's silence then says nothing about the peer.
    not_listening: AtomicBool,
}

impl ReceivedFrames {
    /// Called by the reader for every frame, whatever it carries, and for any other sign that the
    /// peer is alive.
    pub(crate) fn frame_received(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The reader stops or resumes reading for a reason of this node's own.
    pub(crate) fn set_not_listening(&self, not_listening: bool) {
        self.not_listening.store(not_listening, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn is_listening(&self) -> bool {
        !self.not_listening.load(Ordering::Relaxed)
    }
}

/// Who watches whom on one session, and the reports to check: set by the session, read by its
/// liveness task. Both watch flags start `true`, so a session is watched both ways until told
/// otherwise (as before protocol 2.4, and as a 2.4 peer assumes until it hears `Watching(false)`).
#[derive(Debug)]
pub(crate) struct Watch {
    /// This node watches the peer: the peer's silence is timed.
    watching: AtomicBool,
    /// The peer watches this node: heartbeats go out on silent intervals.
    watched: AtomicBool,
    /// Round-trip probes (if on) go on this link even while neither side watches the other.
    /// A session sets it from its node's configuration: off by default, so that an idle cluster
    /// ticks only the few links that are watched (`NodeServer::with_rtt_probes_on_every_link`).
    probe_unwatched: AtomicBool,
    /// The peer answers `Probe` (it speaks 2.5 or later): a doubt about it is checked by asking.
    answers_probes: AtomicBool,
    /// Another node reported the peer silent (`PeerSilent`), and named here; the liveness task
    /// takes it and checks it (see [`Check`]).
    report: Mutex<Option<String>>,
    /// Wakes the liveness task when any of these changes, so a change takes effect at once.
    changed: Notify,
}

impl Default for Watch {
    fn default() -> Self {
        Self {
            watching: AtomicBool::new(true),
            watched: AtomicBool::new(true),
            probe_unwatched: AtomicBool::new(true),
            answers_probes: AtomicBool::new(false),
            report: Mutex::new(None),
            changed: Notify::new(),
        }
    }
}

impl Watch {
    /// Whether this node watches the peer, as set last.
    pub(crate) fn watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed)
    }

    /// Sets whether this node watches the peer; returns whether that changed.
    pub(crate) fn set_watching(&self, watching: bool) -> bool {
        let changed = self.watching.swap(watching, Ordering::Relaxed) != watching;
        if changed {
            self.changed.notify_one();
        }
        changed
    }

    /// Sets whether the peer watches this node.
    pub(crate) fn set_watched(&self, watched: bool) {
        if self.watched.swap(watched, Ordering::Relaxed) != watched {
            self.changed.notify_one();
        }
    }

    fn watched(&self) -> bool {
        self.watched.load(Ordering::Relaxed)
    }

    /// Sets whether round-trip probes go on this link while neither side watches the other.
    pub(crate) fn set_probe_unwatched(&self, probe: bool) {
        if self.probe_unwatched.swap(probe, Ordering::Relaxed) != probe {
            self.changed.notify_one();
        }
    }

    fn probe_unwatched(&self) -> bool {
        self.probe_unwatched.load(Ordering::Relaxed)
    }

    /// Sets whether the peer answers probes (set once the session knows its version).
    pub(crate) fn set_answers_probes(&self, answers: bool) {
        self.answers_probes.store(answers, Ordering::Relaxed);
    }

    fn answers_probes(&self) -> bool {
        self.answers_probes.load(Ordering::Relaxed)
    }

    /// `reporter` says the peer fell silent: the liveness task checks it before the session ends
    /// (see [`Check`]). Reports that come while one waits are one report: one probe answers all.
    pub(crate) fn report_silent(&self, reporter: String) {
        self.reports().get_or_insert(reporter);
        self.changed.notify_one();
    }

    fn take_report(&self) -> Option<String> {
        self.reports().take()
    }

    fn reports(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // Every update is a plain assignment: consistent even if a holder panicked.
        self.report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The timing of a session's liveness task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LivenessTiming {
    /// How often a heartbeat is queued.
    pub(crate) heartbeat_interval: Duration,
    /// How long a peer may send nothing before it is declared down.
    pub(crate) down_after: Duration,
    /// How often a round-trip probe goes out, if the peer answers probes (protocol 2.5) and
    /// probing is on. Probes go at heartbeat ticks, so at most once per heartbeat interval.
    pub(crate) probe_every: Option<Duration>,
}

impl LivenessTiming {
    /// The longest the task sleeps between two looks at the counter.
    fn check_every(&self) -> Duration {
        self.heartbeat_interval
            .min(self.down_after / 8)
            .max(Duration::from_millis(1))
    }
}

/// Starts the liveness task of a session, inside the current span (the session's). It ends when
/// it declares the peer down, when the writer has closed, or when aborted (the session aborts it
/// when it ends). It also sends the round-trip probes and tells `stats` when the peer was heard.
pub(crate) fn spawn_liveness(
    timing: LivenessTiming,
    received: Arc<ReceivedFrames>,
    flags: Arc<Watch>,
    writer: WriterHandle,
    max_frame: u32,
    session: ActorRef<NodeSessionMessage>,
    stats: Arc<LinkCounters>,
) -> JoinHandle<()> {
    let task = async move {
        let mut heartbeat = Vec::new();
        if let Err(err) = SessionMessage::Control(ControlMessage::Heartbeat)
            .encode_frame(max_frame, &mut heartbeat)
        {
            // Six bytes cannot exceed any frame limit; kept fallible all the same.
            tracing::error!(%err, "cannot encode a heartbeat");
            return;
        }
        let reachability = |reachable| {
            let _ = session.cast(NodeSessionMessage::internal(SessionEvent::Reachable(
                reachable,
            )));
        };
        let mut gate = HeartbeatGate::new(writer.frames_queued());
        let mut next_probe = Instant::now();
        let heard = |at| stats.heard(at);
        let heartbeats = Arc::clone(&flags);
        let tick = Tick::node_wide(&timing);
        let send_probe = |now| {
            let mut probe = Vec::new();
            let number = stats.probe_sent(now);
            let encoded = SessionMessage::Control(ControlMessage::Probe(number))
                .encode_frame(max_frame, &mut probe);
            if encoded.is_err() {
                // A probe is a few bytes: no frame limit refuses it. Kept fallible all the same.
                return None;
            }
            stats.liveness_frame_out();
            // Uncounted as a heartbeat is: probes do not make a link look busy.
            Some(writer.send_heartbeat(probe).is_ok())
        };
        let send = |out| {
            let now = Instant::now();
            if out == Out::Probe {
                // Asked by a check (see `check`): at once, whatever the round-trip schedule.
                if let Some(every) = timing.probe_every {
                    next_probe = now + every;
                }
                return send_probe(now).unwrap_or(!writer.is_closed());
            }
            let silent = gate.needed(writer.frames_queued());
            if let Some(every) = timing.probe_every.filter(|_| now >= next_probe) {
                // A probe proves this node alive as well as a heartbeat: it takes the tick's place.
                next_probe = now + every;
                if let Some(sent) = send_probe(now) {
                    return sent;
                }
            }
            // Ticks also come for probes alone: a heartbeat only if the peer watches this node.
            if silent && heartbeats.watched() {
                HEARTBEATS_SENT.fetch_add(1, Ordering::Relaxed);
                stats.liveness_frame_out();
                writer.send_heartbeat(heartbeat.clone()).is_ok()
            } else {
                !writer.is_closed()
            }
        };
        let end = watch_peer(
            timing,
            Some(&tick),
            &received,
            &flags,
            reachability,
            heard,
            send,
        )
        .await;
        let event = match end {
            Some(LinkEnd::Silent(silence)) => SessionEvent::PeerSilent(silence),
            Some(LinkEnd::ReportStands(reporter)) => SessionEvent::ReportStands(reporter),
            None => return,
        };
        let _ = session.cast(NodeSessionMessage::internal(event));
    };
    tokio::spawn(task.in_current_span())
}

/// Heartbeats this process has sent, for tests of the idle cost.
static HEARTBEATS_SENT: AtomicU64 = AtomicU64::new(0);

/// Heartbeats sent by every session of this process so far. Not a stable API: for tests and
/// benchmarks of the idle cost.
#[doc(hidden)]
pub fn heartbeats_sent() -> u64 {
    HEARTBEATS_SENT.load(Ordering::Relaxed)
}

/// Decides, at each heartbeat tick, whether a heartbeat is needed: only on a link on which nothing
/// else was queued since the last tick (as Erlang ticks only silent links). Any frame proves to the
/// peer that this node is alive as well as a heartbeat does, so a busy link carries none; the
/// peer still hears from this node at least once every two intervals, well inside its
/// `down_after`.
#[derive(Debug)]
struct HeartbeatGate {
    /// The writer's count of queued frames at the last tick.
    seen: u64,
}

impl HeartbeatGate {
    fn new(frames_queued: u64) -> Self {
        Self {
            seen: frames_queued,
        }
    }

    /// Whether to send a heartbeat now, given the writer's count of queued frames.
    fn needed(&mut self, frames_queued: u64) -> bool {
        let silent = frames_queued == self.seen;
        self.seen = frames_queued;
        silent
    }
}

/// What the liveness task asks its session's writer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// A periodic tick: a heartbeat if the link was silent, or a round-trip probe if one is due.
    Tick,
    /// A probe now, to check a doubt about the peer (see [`Check`]).
    Probe,
}

/// Why a watch ended with the peer declared down.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LinkEnd {
    /// This node heard nothing from the peer for this long.
    Silent(Duration),
    /// The named node reported the peer silent, and the peer said nothing when asked.
    ReportStands(String),
}

/// [`watch_link`] on a session watched both ways for its whole life.
#[cfg(test)]
async fn watch(
    timing: LivenessTiming,
    received: &ReceivedFrames,
    reachability: impl FnMut(bool),
    heard: impl FnMut(Instant),
    send_heartbeat: impl FnMut() -> bool,
) -> Option<Duration> {
    watch_link(
        timing,
        received,
        &Watch::default(),
        reachability,
        heard,
        send_heartbeat,
    )
    .await
}

/// [`watch_link_on`] with no node tick: every wake-up at the exact instant it is due.
#[cfg(test)]
async fn watch_link(
    timing: LivenessTiming,
    received: &ReceivedFrames,
    flags: &Watch,
    reachability: impl FnMut(bool),
    heard: impl FnMut(Instant),
    send_heartbeat: impl FnMut() -> bool,
) -> Option<Duration> {
    watch_link_on(
        timing,
        None,
        received,
        flags,
        reachability,
        heard,
        send_heartbeat,
    )
    .await
}

/// [`watch_peer`] with ticks only (probes asked for a check are sent as nothing): how long the
/// peer was silent when declared down, or `None` if the tick closure said the writer closed.
#[cfg(test)]
async fn watch_link_on(
    timing: LivenessTiming,
    tick: Option<&Tick>,
    received: &ReceivedFrames,
    flags: &Watch,
    reachability: impl FnMut(bool),
    heard: impl FnMut(Instant),
    mut send_heartbeat: impl FnMut() -> bool,
) -> Option<Duration> {
    let send = |out| out == Out::Probe || send_heartbeat();
    match watch_peer(timing, tick, received, flags, reachability, heard, send).await? {
        LinkEnd::Silent(silence) => Some(silence),
        LinkEnd::ReportStands(reporter) => panic!("no report was made, yet {reporter}'s stands"),
    }
}

/// Sends heartbeats with `send(Out::Tick)` while `flags` says the peer watches this node, and
/// watches `received` while `flags` says this node watches the peer; returns why the peer was
/// declared down, or `None` if `send` could not queue a frame (the session is ending anyway).
/// Calls `reachability(false)` when a watched peer has been silent for half of `down_after` (it
/// is *unreachable*: not yet down), and `reachability(true)` when it is heard from again or no
/// longer watched, and `heard(now)` whenever it sees that frames arrived since its last look.
/// With round-trip probes on (`timing.probe_every`), it also ticks every heartbeat interval
/// while the peer does not watch this node (`send` then decides whether a probe is due), if this
/// node watches the peer or `flags` lets probes go on unwatched links. While neither side
/// watches, nothing is probed and nothing is checked, it waits for a change of `flags` with no
/// timer at all.
///
/// A doubt about the peer (a report in `flags`, or this node's own look at a silence taken too
/// late to trust) is checked with `send(Out::Probe)` before it ends anything (see [`Check`]).
///
/// With a node `tick`, the periodic wake-ups (heartbeats, looks at the counter) land on its grid,
/// so that all the links of a node wake together (see [`tick`]); deadlines stay exact.
async fn watch_peer(
    timing: LivenessTiming,
    tick: Option<&Tick>,
    received: &ReceivedFrames,
    flags: &Watch,
    mut reachability: impl FnMut(bool),
    mut heard: impl FnMut(Instant),
    mut send: impl FnMut(Out) -> bool,
) -> Option<LinkEnd> {
    let check_every = tick.map_or(timing.check_every(), Tick::period);
    // When the heartbeat after one sent (or the watch begun) at `now` is due.
    let heartbeat_after =
        |now: Instant| tick.map_or(now + timing.heartbeat_interval, |t| t.next_heartbeat(now));
    let unreachable_after = timing.down_after / 2;
    let late_after = check::late_after(&timing, check_every);
    let mut unreachable = false;
    let mut seen = received.count();
    let mut last_traffic = Instant::now();
    let mut next_heartbeat = heartbeat_after(last_traffic);
    let (mut was_watching, mut was_watched) = (flags.watching(), flags.watched());
    // Whether this pass follows a yield before an alarm (see below).
    let mut yielded = false;
    // The doubt being checked, if any.
    let mut check = None::<Check>;
    // When this task last asked to wake: a wake-up much later than that means that this
    // process did not run meanwhile (see `Check`).
    let mut planned = None::<Instant>;
    loop {
        let now = Instant::now();
        let (watching, watched) = (flags.watching(), flags.watched());
        if watching && !was_watching {
            // Silence counts from the moment the watch begins, not from the last frame.
            last_traffic = now;
        }
        if watched && !was_watched {
            next_heartbeat = heartbeat_after(now);
        }
        (was_watching, was_watched) = (watching, watched);
        let count = received.count();
        if count != seen {
            heard(now);
        }
        if count != seen || !received.is_listening() || !watching {
            seen = count;
            last_traffic = now;
        }
        if let Some(reporter) = flags.take_report() {
            match &mut check {
                // One probe answers every doubt: the report waits for the one already out.
                Some(pending) => {
                    pending.reporter.get_or_insert(reporter);
                }
                None if flags.answers_probes() => {
                    if !send(Out::Probe) {
                        return None;
                    }
                    check = Some(Check::reported(reporter, count, now, &timing));
                }
                // A peer that answers no probe (older than 2.5) cannot be asked: the report
                // stands as it did before checks, at once.
                None => return Some(LinkEnd::ReportStands(reporter)),
            }
        }
        let silence = now.saturating_duration_since(last_traffic);
        if let Some(pending) = &mut check {
            match pending.look(count, received.is_listening(), now, &timing) {
                Verdict::Cleared => check = None,
                Verdict::Pending => {}
                Verdict::Stands if pending.own && watching => {
                    return Some(LinkEnd::Silent(silence));
                }
                Verdict::Stands => match pending.reporter.take() {
                    Some(reporter) => return Some(LinkEnd::ReportStands(reporter)),
                    // This node's own doubt, moot since it stopped watching.
                    None => check = None,
                },
            }
        }
        let down = silence >= timing.down_after;
        let alarm = down || (silence >= unreachable_after && !unreachable);
        if alarm && !yielded {
            // Before calling the peer silent, let whatever this node has not run yet run: on a
            // loaded machine this task may be woken in the same turn as the reader, whose frames
            // from the peer are then read but not yet counted. Yielding defers this task until
            // the runtime has looked at its sockets again and run the tasks they woke.
            yielded = true;
            tokio::task::yield_now().await;
            continue;
        }
        yielded = false;
        if down {
            let late = planned.is_some_and(|p| now.saturating_duration_since(p) > late_after);
            match &mut check {
                // This node's own doubt is being checked: the probe decides.
                Some(pending) if pending.own => {}
                // This node did not run for a good part of the silence window: what it sees
                // may be its own absence. Ask the peer first (a report's probe, if one is out,
                // is as fresh).
                Some(pending) if late => pending.own = true,
                None if late && flags.answers_probes() => {
                    tracing::info!(
                        late = ?now.saturating_duration_since(planned.unwrap_or(now)),
                        ?silence,
                        "this node looked late at a silent peer: asking it before declaring it down"
                    );
                    if !send(Out::Probe) {
                        return None;
                    }
                    check = Some(Check::own(count, now, &timing));
                }
                _ => return Some(LinkEnd::Silent(silence)),
            }
        }
        if silence >= unreachable_after && !unreachable {
            unreachable = true;
            reachability(false);
        } else if silence < unreachable_after && unreachable {
            unreachable = false;
            reachability(true);
        }
        // Probes need ticks too, on a link either side watches (which ticks anyway, or times the
        // peer's silence), or on every link if the node asks for it.
        let probing = timing.probe_every.is_some() && (watching || flags.probe_unwatched());
        let ticking = watched || probing;
        if ticking && now >= next_heartbeat {
            if !send(Out::Tick) {
                return None;
            }
            next_heartbeat = heartbeat_after(now);
        }
        let changed = flags.changed.notified();
        if !watching && !ticking && check.is_none() {
            // Nothing to send and nothing to time: no timer until the session says otherwise.
            planned = None;
            changed.await;
            continue;
        }
        // Every wake-up either sends a heartbeat, or looks at the counter at most `check_every`
        // after the last look, or lands exactly on the down deadline: no busy loop.
        let mut wake = None::<Instant>;
        let mut at = |t: Instant| wake = Some(wake.map_or(t, |w| w.min(t)));
        if ticking {
            at(next_heartbeat);
        }
        if let Some(pending) = &check {
            at(pending.until);
        }
        if watching {
            // On the grid, the next look is at its next instant, whatever the lateness of this
            // wake-up.
            at(tick.map_or(now, |t| t.floor(now)) + check_every);
            if !down {
                at(last_traffic + timing.down_after);
            }
            if !unreachable {
                at(last_traffic + unreachable_after);
            }
        }
        planned = wake;
        if let Some(wake) = wake {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = changed => {}
            }
        }
    }
}

#[cfg(test)]
#[path = "tests/liveness.rs"]
mod tests;
