//! The node's tick: the instants at which every liveness task of a node wakes for its periodic
//! work (heartbeats, looks at the counter, round-trip probes).
//!
//! An idle node is mostly woken by timers, and each wake-up of a process costs far more than the
//! work it then does (a context switch, an `epoll_wait`, the runtime's bookkeeping). With one
//! timer per session, each started when its session was, the timers of a node's watched links
//! fire at as many different instants. Putting every periodic wake-up on one grid makes the
//! tasks of a node fire in the same timer slot, so the process wakes once per tick however many
//! links it watches (as Erlang's one ticker per node does). The grid is anchored to the wall
//! clock (multiples of the period since the Unix epoch), so nodes on one host, or on hosts with
//! synchronised clocks, also send their heartbeats at the same instants, and a node tends to
//! read the heartbeats of its watched peers in the same wake-up as its own tick.
//!
//! The period divides the heartbeat interval, so heartbeats keep their interval exactly, and is
//! at most the task's longest look interval (`down_after / 8`), so no look comes later than it
//! would without the grid. Deadlines (the silence reaching `down_after`, or half of it) are not
//! moved to the grid: a peer is never declared down later for it.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::LivenessTiming;

/// A grid of instants, `origin + k × period`, and the coarser one of the heartbeats,
/// `origin + k × heartbeat` (the period divides the heartbeat interval).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tick {
    period: Duration,
    heartbeat: Duration,
    origin: Instant,
}

/// One reading of the monotonic clock and of the wall clock, taken once per process, so that
/// every task of the process computes the same grid for the same period.
fn reference() -> (std::time::Instant, Duration) {
    static REFERENCE: OnceLock<(std::time::Instant, Duration)> = OnceLock::new();
    *REFERENCE.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (std::time::Instant::now(), wall)
    })
}

impl Tick {
    /// The node-wide tick for `timing`: a period that divides the heartbeat interval and is at
    /// most the longest look interval, on multiples of itself since the Unix epoch.
    pub(crate) fn node_wide(timing: &LivenessTiming) -> Self {
        let period = Self::period_for(timing);
        let (instant, wall) = reference();
        // The heartbeat grid's phase: the finer grid, whose period divides it, shares it.
        let phase = wall.as_nanos() % Self::heartbeat_for(timing).as_nanos().max(1);
        let phase = Duration::from_nanos(u64::try_from(phase).unwrap_or(0));
        let origin = instant.checked_sub(phase).unwrap_or(instant);
        Self {
            period,
            heartbeat: Self::heartbeat_for(timing),
            origin: Instant::from_std(origin),
        }
    }

    fn heartbeat_for(timing: &LivenessTiming) -> Duration {
        timing.heartbeat_interval.max(Duration::from_millis(1))
    }

    /// The tick's period for `timing`: the heartbeat interval divided into as few equal parts as
    /// make each at most the look interval (500 ms for the defaults of 1 s and 5 s).
    pub(crate) fn period_for(timing: &LivenessTiming) -> Duration {
        let heartbeat = Self::heartbeat_for(timing);
        let look = timing.check_every();
        let parts = heartbeat.as_nanos().div_ceil(look.as_nanos().max(1));
        let parts = u32::try_from(parts).unwrap_or(u32::MAX).max(1);
        (heartbeat / parts).max(Duration::from_millis(1))
    }

    #[cfg(test)]
    pub(crate) fn with_origin(timing: &LivenessTiming, origin: Instant) -> Self {
        Self {
            period: Self::period_for(timing),
            heartbeat: Self::heartbeat_for(timing),
            origin,
        }
    }

    pub(crate) fn period(&self) -> Duration {
        self.period
    }

    /// The last grid instant at or before `at` (`at` itself if it lies before the origin).
    pub(crate) fn floor(&self, at: Instant) -> Instant {
        Self::floor_to(self.origin, self.period, at)
    }

    /// When the heartbeat after one due or sent at `now` is due: one heartbeat interval after
    /// the last heartbeat instant of the grid at or before `now`. So every link of every node
    /// with the same interval heartbeats at the same instants.
    pub(crate) fn next_heartbeat(&self, now: Instant) -> Instant {
        Self::floor_to(self.origin, self.heartbeat, now) + self.heartbeat
    }

    fn floor_to(origin: Instant, period: Duration, at: Instant) -> Instant {
        let Some(offset) = at.checked_duration_since(origin) else {
            return at;
        };
        let period = period.as_nanos().max(1);
        let whole = offset.as_nanos() / period * period;
        match u64::try_from(whole) {
            Ok(nanos) => origin + Duration::from_nanos(nanos),
            Err(_) => at,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::{watch_link_on, ReceivedFrames, Watch};
    use super::*;

    const TIMING: LivenessTiming = LivenessTiming {
        heartbeat_interval: Duration::from_millis(1000),
        down_after: Duration::from_millis(5000),
        probe_every: None,
    };

    #[test]
    fn the_period_divides_the_heartbeat_interval_and_is_at_most_the_look_interval() {
        assert_eq!(Tick::period_for(&TIMING), Duration::from_millis(500));
        let short = LivenessTiming {
            heartbeat_interval: Duration::from_millis(100),
            ..TIMING
        };
        assert_eq!(Tick::period_for(&short), Duration::from_millis(100));
        let tight = LivenessTiming {
            down_after: Duration::from_millis(2000),
            ..TIMING
        };
        assert_eq!(Tick::period_for(&tight), Duration::from_millis(250));
    }

    #[test]
    fn floor_and_heartbeats_land_on_the_grid() {
        let origin = Instant::now();
        let tick = Tick::with_origin(&TIMING, origin);
        let at = |ms| origin + Duration::from_millis(ms);
        assert_eq!(tick.next_heartbeat(at(1250)), at(2000));
        assert_eq!(tick.next_heartbeat(at(137)), at(1000));
        assert_eq!(tick.floor(at(1250)), at(1000));
        assert_eq!(tick.floor(at(1500)), at(1500));
    }

    #[test]
    fn every_task_of_a_process_and_every_process_share_the_grid() {
        let first = Tick::node_wide(&TIMING);
        std::thread::sleep(Duration::from_millis(7));
        let second = Tick::node_wide(&TIMING);
        assert_eq!(first.origin, second.origin);
        // Anchored to the wall clock: the grid's instants are whole multiples of the period
        // since the epoch, which is what another process computes too.
        let now = Instant::now();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let since_grid = now - Tick::floor_to(first.origin, first.heartbeat, now);
        let wall_since_grid =
            Duration::from_nanos((wall.as_nanos() % first.heartbeat.as_nanos()) as u64);
        let apart = since_grid.abs_diff(wall_since_grid);
        let apart = apart.min(first.heartbeat - apart);
        assert!(apart < Duration::from_millis(20), "{apart:?}");
    }

    /// The instants at which a watched link's task called its tick closure, over `run`.
    async fn ticks_of(tick: Tick, start_after: Duration, run: Duration) -> Vec<Instant> {
        tokio::time::sleep(start_after).await;
        let received = ReceivedFrames::default();
        let flags = Watch::default();
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ticks);
        let watching = watch_link_on(
            TIMING,
            Some(&tick),
            &received,
            &flags,
            |_| {},
            |_| {},
            || {
                seen.lock().unwrap().push(Instant::now());
                true
            },
        );
        // Heard from all along: a frame every 300 ms keeps the link up.
        let feeding = async {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                received.frame_received();
            }
        };
        let _ = tokio::time::timeout(run, async {
            tokio::select! {
                _ = watching => {}
                () = feeding => {}
            }
        })
        .await;
        let ticks = ticks.lock().unwrap().clone();
        ticks
    }

    #[tokio::test(start_paused = true)]
    async fn links_opened_at_different_times_tick_at_the_same_instants() {
        let tick = Tick::with_origin(&TIMING, Instant::now());
        let run = Duration::from_secs(10);
        let (first, second) = tokio::join!(
            ticks_of(tick, Duration::from_millis(0), run),
            ticks_of(tick, Duration::from_millis(137), run),
        );
        // A heartbeat a second on each, as without the grid...
        assert!((9..=10).contains(&first.len()), "{first:?}");
        assert!((9..=10).contains(&second.len()), "{second:?}");
        // ...but from the second one on, at the same instants, on the grid: the node wakes once.
        for at in first.iter().skip(1).chain(second.iter().skip(1)) {
            assert_eq!(tick.floor(*at), *at, "off the grid: {at:?}");
        }
        let later: Vec<_> = second.iter().skip(1).collect();
        assert!(
            later.iter().all(|at| first.contains(at)),
            "{first:?} {second:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn on_the_grid_a_silent_peer_is_still_down_after_down_after_and_within_a_tick() {
        let origin = Instant::now();
        // The link opens off the grid.
        tokio::time::sleep(Duration::from_millis(137)).await;
        let tick = Tick::with_origin(&TIMING, origin);
        let received = ReceivedFrames::default();
        let started = Instant::now();
        let silence = watch_link_on(
            TIMING,
            Some(&tick),
            &received,
            &Watch::default(),
            |_| {},
            |_| {},
            || true,
        )
        .await
        .unwrap();
        let elapsed = started.elapsed();
        assert!(silence >= TIMING.down_after, "{silence:?}");
        assert!(elapsed < TIMING.down_after + tick.period(), "{elapsed:?}");
    }
}
