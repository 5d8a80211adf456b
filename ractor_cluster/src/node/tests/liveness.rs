//! Unit tests of a session's liveness watch.

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

/// A link neither side watches, to a peer that answers probes: only a check can end its watch.
fn unwatched_probed() -> Arc<Watch> {
    let flags = unwatched();
    flags.set_answers_probes(true);
    flags
}

/// A peer that answers each probe `after` it was sent (`None`: never), as its reader would.
struct Answering {
    received: Arc<ReceivedFrames>,
    asked: Arc<tokio::sync::Notify>,
    probes: Arc<std::sync::atomic::AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Answering {
    fn start(after: Option<Duration>) -> Self {
        let received = Arc::new(ReceivedFrames::default());
        let asked = Arc::new(tokio::sync::Notify::new());
        let task = {
            let (received, asked) = (Arc::clone(&received), Arc::clone(&asked));
            tokio::spawn(async move {
                let Some(after) = after else { return };
                loop {
                    asked.notified().await;
                    tokio::time::sleep(after).await;
                    received.frame_received();
                }
            })
        };
        Self {
            received,
            asked,
            probes: Arc::default(),
            task,
        }
    }

    /// The liveness task's writer: counts and delivers probes, sends ticks nowhere.
    fn send(&self) -> impl FnMut(Out) -> bool + '_ {
        |out| {
            if out == Out::Probe {
                self.probes.fetch_add(1, Ordering::Relaxed);
                self.asked.notify_one();
            }
            true
        }
    }

    fn probes(&self) -> u32 {
        self.probes.load(Ordering::Relaxed)
    }

    /// The liveness task of a session with this peer, flags `flags`, on no tick.
    async fn watched(&self, flags: &Watch) -> Option<LinkEnd> {
        watch_peer(
            TIMING,
            None,
            &self.received,
            flags,
            |_| {},
            |_| {},
            self.send(),
        )
        .await
    }
}

#[tokio::test(start_paused = true)]
async fn a_report_about_a_peer_that_answers_its_probe_is_set_aside() {
    let peer = Answering::start(Some(check::check_within(&TIMING) / 2));
    let flags = unwatched_probed();
    flags.report_silent("reporter@host".to_owned());
    let end = tokio::time::timeout(Duration::from_secs(60), peer.watched(&flags)).await;
    assert!(end.is_err(), "the session ended: {end:?}");
    assert_eq!(peer.probes(), 1);
    peer.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_report_about_a_peer_that_says_nothing_stands_after_one_heartbeat_interval() {
    let peer = Answering::start(None);
    let flags = unwatched_probed();
    let started = Instant::now();
    flags.report_silent("reporter@host".to_owned());
    // A second report while the first is checked: the same probe answers both.
    flags.report_silent("another@host".to_owned());
    let end = peer.watched(&flags).await;
    assert_eq!(end, Some(LinkEnd::ReportStands("reporter@host".to_owned())));
    assert_eq!(started.elapsed(), TIMING.heartbeat_interval);
    assert_eq!(peer.probes(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_report_about_a_peer_that_answers_no_probes_stands_at_once() {
    let peer = Answering::start(Some(Duration::ZERO));
    let flags = unwatched();
    let started = Instant::now();
    flags.report_silent("reporter@host".to_owned());
    let end = peer.watched(&flags).await;
    assert_eq!(end, Some(LinkEnd::ReportStands("reporter@host".to_owned())));
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(peer.probes(), 0, "a 2.4 peer is sent no probe");
    peer.task.abort();
}

/// Runs a watch of a silent peer on a runtime that stops running this task for `stall`, `at` in
/// (as a starved process is not scheduled); returns how the watch ended, if within a minute.
async fn watch_through_a_stall(
    peer: &Answering,
    flags: &Watch,
    at: Duration,
    stall: Duration,
) -> Result<Option<LinkEnd>, tokio::time::error::Elapsed> {
    let watching = peer.watched(flags);
    tokio::pin!(watching);
    let stalled = async {
        tokio::time::sleep(at).await;
        // Time passes, and no task of the test runs meanwhile: the watch wakes `stall` late.
        tokio::time::advance(stall).await;
        std::future::pending::<()>().await;
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::select! {
            end = &mut watching => end,
            () = stalled => unreachable!("pending forever"),
        }
    })
    .await
}

/// When the stalls of the tests below begin.
const STALL_AT: Duration = Duration::from_millis(100);

#[tokio::test(start_paused = true)]
async fn a_late_look_at_a_silence_asks_the_peer_before_declaring_it_down() {
    // The peer answers the probe at once; its heartbeats, sent while this node did not run,
    // are lost (the reader counted none of them).
    let peer = Answering::start(Some(Duration::from_millis(10)));
    let flags = Watch::default();
    flags.set_answers_probes(true);
    let started = Instant::now();
    let end = watch_through_a_stall(&peer, &flags, STALL_AT, Duration::from_secs(6)).await;
    assert_eq!(peer.probes(), 1, "{end:?}");
    // Heard from after the stall, then silent for good: down only `down_after` after the answer.
    let Ok(Some(LinkEnd::Silent(silence))) = end else {
        panic!("{end:?}")
    };
    assert!(silence >= TIMING.down_after, "{silence:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(6100) + TIMING.down_after,
        "{:?}",
        started.elapsed()
    );
    peer.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_late_look_at_a_peer_that_says_nothing_declares_it_down_one_interval_later() {
    let peer = Answering::start(None);
    let flags = Watch::default();
    flags.set_answers_probes(true);
    let started = Instant::now();
    let end = watch_through_a_stall(&peer, &flags, STALL_AT, Duration::from_secs(6)).await;
    assert_eq!(peer.probes(), 1);
    let Ok(Some(LinkEnd::Silent(silence))) = end else {
        panic!("{end:?}")
    };
    let stalled_until = Duration::from_millis(6100);
    assert_eq!(started.elapsed(), stalled_until + TIMING.heartbeat_interval);
    assert!(silence >= stalled_until, "{silence:?}");
}

#[tokio::test(start_paused = true)]
async fn a_look_late_by_less_than_a_quarter_of_down_after_declares_a_silent_peer_down_at_once() {
    // The look due at the deadline comes 900 ms late: more than a look interval, less than a
    // quarter of `down_after`. Late, but not enough to doubt a silence of five seconds.
    let peer = Answering::start(Some(Duration::from_millis(10)));
    let flags = Watch::default();
    flags.set_answers_probes(true);
    let started = Instant::now();
    let stall_at = TIMING.down_after - Duration::from_millis(100);
    let stall = Duration::from_millis(1000);
    assert!(stall - Duration::from_millis(100) > TIMING.check_every());
    let end = watch_through_a_stall(&peer, &flags, stall_at, stall).await;
    assert_eq!(peer.probes(), 0);
    assert!(matches!(end, Ok(Some(LinkEnd::Silent(_)))), "{end:?}");
    assert_eq!(started.elapsed(), stall_at + stall);
    peer.task.abort();
}
