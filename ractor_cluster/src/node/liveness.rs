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
//! The periodic wake-ups (heartbeats, looks at the counter) land on the node's tick (see
//! [`tick`]): all the links of an idle node wake together, once per tick, and heartbeats go at
//! the same instants on every node, instead of once per link at instants of its own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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
use tick::Tick;

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

/// Who watches whom on one session: set by the session, read by its liveness task. Both start
/// `true`, so a session is watched both ways until told otherwise (as before protocol 2.4, and as
/// a 2.4 peer assumes until it hears `Watching(false)`).
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
    /// Wakes the liveness task when either changes, so a change takes effect at once.
    changed: Notify,
}

impl Default for Watch {
    fn default() -> Self {
        Self {
            watching: AtomicBool::new(true),
            watched: AtomicBool::new(true),
            probe_unwatched: AtomicBool::new(true),
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
        let on_tick = || {
            let silent = gate.needed(writer.frames_queued());
            let now = Instant::now();
            if let Some(every) = timing.probe_every.filter(|_| now >= next_probe) {
                // A probe proves this node alive as well as a heartbeat: it takes the tick's place.
                next_probe = now + every;
                let mut probe = Vec::new();
                let number = stats.probe_sent(now);
                let encoded = SessionMessage::Control(ControlMessage::Probe(number))
                    .encode_frame(max_frame, &mut probe);
                if encoded.is_ok() {
                    stats.liveness_frame_out();
                    // Uncounted as a heartbeat is: probes do not make a link look busy.
                    return writer.send_heartbeat(probe).is_ok();
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
        let silence = watch_link_on(
            timing,
            Some(&tick),
            &received,
            &flags,
            reachability,
            heard,
            on_tick,
        )
        .await;
        if let Some(silence) = silence {
            let _ = session.cast(NodeSessionMessage::internal(SessionEvent::PeerSilent(
                silence,
            )));
        }
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

/// Sends heartbeats with `send_heartbeat` while `flags` says the peer watches this node, and
/// watches `received` while `flags` says this node watches the peer; returns how long the peer
/// had been silent when declared down, or `None` if a heartbeat could not be queued (the session
/// is ending anyway). Calls `reachability(false)` when a watched peer has been silent for half of
/// `down_after` (it is *unreachable*: not yet down), and `reachability(true)` when it is heard
/// from again or no longer watched, and `heard(now)` whenever it sees that frames arrived since
/// its last look. With round-trip probes on (`timing.probe_every`), it also ticks every heartbeat
/// interval while the peer does not watch this node (`send_heartbeat` then decides whether a
/// probe is due), if this node watches the peer or `flags` lets probes go on unwatched links.
/// While neither side watches and nothing is probed, it waits for a change of `flags` with no
/// timer at all.
///
/// With a node `tick`, the periodic wake-ups (heartbeats, looks at the counter) land on its grid,
/// so that all the links of a node wake together (see [`tick`]); deadlines stay exact.
async fn watch_link_on(
    timing: LivenessTiming,
    tick: Option<&Tick>,
    received: &ReceivedFrames,
    flags: &Watch,
    mut reachability: impl FnMut(bool),
    mut heard: impl FnMut(Instant),
    mut send_heartbeat: impl FnMut() -> bool,
) -> Option<Duration> {
    let check_every = tick.map_or(timing.check_every(), Tick::period);
    // When the heartbeat after one sent (or the watch begun) at `now` is due.
    let heartbeat_after =
        |now: Instant| tick.map_or(now + timing.heartbeat_interval, |t| t.next_heartbeat(now));
    let unreachable_after = timing.down_after / 2;
    let mut unreachable = false;
    let mut seen = received.count();
    let mut last_traffic = Instant::now();
    let mut next_heartbeat = heartbeat_after(last_traffic);
    let (mut was_watching, mut was_watched) = (flags.watching(), flags.watched());
    // Whether this pass follows a yield before an alarm (see below).
    let mut yielded = false;
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
        let silence = now.saturating_duration_since(last_traffic);
        let alarm = silence >= timing.down_after || (silence >= unreachable_after && !unreachable);
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
        if silence >= timing.down_after {
            return Some(silence);
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
            if !send_heartbeat() {
                return None;
            }
            next_heartbeat = heartbeat_after(now);
        }
        let changed = flags.changed.notified();
        if !watching && !ticking {
            // Nothing to send and nothing to time: no timer until the session says otherwise.
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
        if watching {
            // On the grid, the next look is at its next instant, whatever the lateness of this
            // wake-up.
            at(tick.map_or(now, |t| t.floor(now)) + check_every);
            at(last_traffic + timing.down_after);
            if !unreachable {
                at(last_traffic + unreachable_after);
            }
        }
        if let Some(wake) = wake {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = changed => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: LivenessTiming = LivenessTiming {
        heartbeat_interval: Duration::from_millis(1000),
        down_after: Duration::from_millis(5000),
        probe_every: None,
    };

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_declared_down_after_down_after_and_not_before() {
        let received = ReceivedFrames::default();
        let mut heartbeats = 0;
        let started = Instant::now();
        let silence = watch(
            TIMING,
            &received,
            |_| {},
            |_| {},
            || {
                heartbeats += 1;
                true
            },
        )
        .await
        .unwrap();
        let elapsed = started.elapsed();
        assert!(silence >= TIMING.down_after, "{silence:?}");
        assert!(
            elapsed < TIMING.down_after + TIMING.check_every(),
            "{elapsed:?}"
        );
        // One per second while waiting five seconds.
        assert!((4..=5).contains(&heartbeats), "{heartbeats}");
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_keeps_the_peer_up() {
        let received = Arc::new(ReceivedFrames::default());
        let feeder = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_millis(900)).await;
                    received.frame_received();
                }
            })
        };
        let started = Instant::now();
        let silence = watch(TIMING, &received, |_| {}, |_| {}, || true)
            .await
            .unwrap();
        feeder.await.unwrap();
        // Down only once the feeder stopped, 18 s in, and then after at least five silent seconds.
        assert!(
            started.elapsed() >= Duration::from_secs(18 + 5),
            "{:?}",
            started.elapsed()
        );
        assert!(silence >= TIMING.down_after);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_while_the_reader_does_not_listen_does_not_count() {
        let received = Arc::new(ReceivedFrames::default());
        received.set_not_listening(true);
        let listener = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(12)).await;
                received.set_not_listening(false);
            })
        };
        let started = Instant::now();
        let silence = watch(TIMING, &received, |_| {}, |_| {}, || true)
            .await
            .unwrap();
        listener.await.unwrap();
        // Twelve seconds of not listening, then five of silence.
        assert!(
            started.elapsed() >= Duration::from_secs(12 + 5),
            "{:?}",
            started.elapsed()
        );
        assert!(silence >= TIMING.down_after);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_silent_for_half_of_down_after_is_unreachable_until_heard_again() {
        let received = Arc::new(ReceivedFrames::default());
        let feeder = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                // Silent for 3 s (unreachable at 2.5 s), then heard from, then silent for good.
                tokio::time::sleep(Duration::from_millis(3000)).await;
                received.frame_received();
            })
        };
        let started = Instant::now();
        let mut changes = Vec::new();
        let silence = watch(
            TIMING,
            &received,
            |reachable| changes.push((reachable, started.elapsed())),
            |_| {},
            || true,
        )
        .await;
        feeder.await.unwrap();
        assert!(silence.is_some());
        let at = |ms| Duration::from_millis(ms);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(!changes[0].0);
        assert!(changes[0].1 >= at(2500) && changes[0].1 < at(2500) + TIMING.check_every());
        assert!(changes[1].0);
        assert!(changes[1].1 >= at(3000) && changes[1].1 <= at(3000) + TIMING.check_every());
        assert!(!changes[2].0);
        assert!(changes[2].1 >= changes[1].1 + at(2000), "{changes:?}");
    }

    #[test]
    fn heartbeats_go_only_on_links_that_were_silent_for_a_tick() {
        let mut gate = HeartbeatGate::new(5);
        assert!(gate.needed(5)); // nothing since the start: silent
        assert!(!gate.needed(6)); // a frame went out during the interval
        assert!(!gate.needed(40)); // many did
        assert!(gate.needed(40)); // none since the last tick
        assert!(gate.needed(40));
    }

    /// Flags of a session that neither side watches.
    fn unwatched() -> Arc<Watch> {
        let flags = Arc::new(Watch::default());
        flags.set_watching(false);
        flags.set_watched(false);
        flags
    }

    #[tokio::test(start_paused = true)]
    async fn an_unwatched_session_sends_no_heartbeat_and_times_no_silence() {
        let received = ReceivedFrames::default();
        let flags = unwatched();
        let mut heartbeats = 0;
        let watching = watch_link(
            TIMING,
            &received,
            &flags,
            |_| {},
            |_| {},
            || {
                heartbeats += 1;
                true
            },
        );
        // A minute of silence, far past `down_after`: nothing sent, nobody declared down.
        let outcome = tokio::time::timeout(Duration::from_secs(60), watching).await;
        assert!(outcome.is_err(), "{outcome:?}");
        assert_eq!(heartbeats, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_go_only_while_the_peer_watches() {
        let received = ReceivedFrames::default();
        let flags = unwatched();
        let sent = std::sync::atomic::AtomicU32::new(0);
        let toggler = {
            let flags = Arc::clone(&flags);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                flags.set_watched(true);
                tokio::time::sleep(Duration::from_millis(5500)).await;
                flags.set_watched(false);
            })
        };
        let watching = watch_link(
            TIMING,
            &received,
            &flags,
            |_| {},
            |_| {},
            || {
                sent.fetch_add(1, Ordering::Relaxed);
                true
            },
        );
        assert!(tokio::time::timeout(Duration::from_secs(30), watching)
            .await
            .is_err());
        toggler.await.unwrap();
        // One a second over the 5.5 s the peer watched, none before or after.
        assert_eq!(sent.load(Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_that_begins_counts_the_silence_from_then() {
        let received = ReceivedFrames::default();
        let flags = unwatched();
        let started = Instant::now();
        let watcher = {
            let flags = Arc::clone(&flags);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                flags.set_watching(true);
            })
        };
        let silence = watch_link(TIMING, &received, &flags, |_| {}, |_| {}, || true)
            .await
            .unwrap();
        watcher.await.unwrap();
        // Silent all along, but declared down only `down_after` after the watch began.
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(20) + TIMING.down_after,
            "{elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(20) + TIMING.down_after + TIMING.check_every(),
            "{elapsed:?}"
        );
        assert!(silence >= TIMING.down_after && silence < Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn with_probes_on_a_link_nobody_watches_still_ticks_every_interval() {
        let received = ReceivedFrames::default();
        let flags = Watch::default();
        flags.set_watching(false);
        flags.set_watched(false);
        let probing = LivenessTiming {
            probe_every: Some(Duration::from_secs(10)),
            ..TIMING
        };
        let started = Instant::now();
        let mut ticks = 0;
        // The tick closure ends the watch (as a closed writer would) at its fifth call.
        let end = tokio::time::timeout(
            Duration::from_secs(60),
            watch_link(
                probing,
                &received,
                &flags,
                |_| {},
                |_| {},
                || {
                    ticks += 1;
                    ticks < 5
                },
            ),
        )
        .await;
        assert_eq!(end, Ok(None), "no tick came");
        // One tick per heartbeat interval, though neither side watches: the probes need them.
        assert_eq!(started.elapsed(), TIMING.heartbeat_interval * 5);
    }

    #[tokio::test(start_paused = true)]
    async fn without_probes_a_link_nobody_watches_never_ticks() {
        let received = ReceivedFrames::default();
        let flags = Watch::default();
        flags.set_watching(false);
        flags.set_watched(false);
        let watched = tokio::time::timeout(
            Duration::from_secs(60),
            watch_link(
                TIMING,
                &received,
                &flags,
                |_| {},
                |_| {},
                || panic!("a tick on a link nobody watches or probes"),
            ),
        )
        .await;
        assert!(watched.is_err(), "the watch ended: {watched:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_read_in_the_turn_the_silence_would_end_counts() {
        let received = Arc::new(ReceivedFrames::default());
        let started = Instant::now();
        // The reader's frame becomes readable in the same instant as the deadline, and its task
        // is woken by then too, just not run yet.
        let reader = {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                tokio::time::sleep_until(started + TIMING.down_after).await;
                received.frame_received();
            })
        };
        let mut reachability = Vec::new();
        let outcome = tokio::time::timeout(
            TIMING.down_after + Duration::from_secs(2),
            watch(
                TIMING,
                &received,
                |reachable| reachability.push(reachable),
                |_| {},
                || true,
            ),
        )
        .await;
        reader.await.unwrap();
        // Heard from in time: not down at `down_after` (only later, once silent for good).
        assert!(outcome.is_err(), "declared down: {outcome:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_writer_ends_the_watch() {
        let received = ReceivedFrames::default();
        assert_eq!(
            watch(TIMING, &received, |_| {}, |_| {}, || false).await,
            None
        );
    }
}
