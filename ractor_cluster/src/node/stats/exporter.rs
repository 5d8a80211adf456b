//! The `metrics` feature: every session's figures through the `metrics` facade, for whatever
//! recorder the application installed (a Prometheus exporter, OpenTelemetry, StatsD...).
//!
//! Nothing here runs on the hot path. The node server publishes once per second (and when a
//! session ends): for each session, the growth of its counters since the last publication,
//! its queue and last-heard gauges, and any new round trip. The metric handles are registered
//! once per session, labelled `node` (this node's name) and `peer` (the peer's name).

use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use super::{LinkCounters, Totals};

/// How often the node server publishes its sessions' figures.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// The names of the counters, in the order of [`Totals::counts`].
const COUNTERS: [(&str, &str); 10] = [
    (
        "ractor_cluster_peer_bytes_in",
        "bytes read from the peer's connection",
    ),
    (
        "ractor_cluster_peer_bytes_out",
        "bytes written to the peer's connection",
    ),
    (
        "ractor_cluster_peer_frames_in",
        "frames received from the peer",
    ),
    (
        "ractor_cluster_peer_frames_out",
        "frames queued to the peer",
    ),
    (
        "ractor_cluster_peer_casts_in",
        "casts received from the peer",
    ),
    ("ractor_cluster_peer_casts_out", "casts queued to the peer"),
    (
        "ractor_cluster_peer_calls_in",
        "calls received from the peer",
    ),
    ("ractor_cluster_peer_calls_out", "calls queued to the peer"),
    (
        "ractor_cluster_peer_replies_in",
        "replies received from the peer",
    ),
    (
        "ractor_cluster_peer_replies_out",
        "replies queued to the peer",
    ),
];
const SESSIONS: &str = "ractor_cluster_peer_sessions";
const QUEUED: &str = "ractor_cluster_peer_queued_bytes";
const LAST_HEARD: &str = "ractor_cluster_peer_last_heard_seconds";
const RTT_LAST: &str = "ractor_cluster_peer_rtt_last_seconds";
const RTT: &str = "ractor_cluster_peer_rtt_seconds";
const UP: &str = "ractor_cluster_peer_up";

/// Describes every metric to the installed recorder (its help text and unit), once per node.
pub(crate) fn describe() {
    for (name, help) in COUNTERS {
        metrics::describe_counter!(name, help);
    }
    metrics::describe_counter!(
        SESSIONS,
        "sessions admitted with the peer since this node started"
    );
    metrics::describe_gauge!(
        QUEUED,
        metrics::Unit::Bytes,
        "bytes of casts, calls and replies queued for the peer and not written yet"
    );
    metrics::describe_gauge!(
        LAST_HEARD,
        metrics::Unit::Seconds,
        "how long ago anything was heard from the peer"
    );
    metrics::describe_gauge!(
        RTT_LAST,
        metrics::Unit::Seconds,
        "the latest probe's round trip"
    );
    metrics::describe_histogram!(RTT, metrics::Unit::Seconds, "round trips of the probes");
    metrics::describe_gauge!(UP, "1 while a session with the peer runs, 0 once it ended");
}

/// Counts a session admitted with `peer`.
pub(crate) fn session_admitted(node: &str, peer: &str) {
    counter!(SESSIONS, "node" => node.to_owned(), "peer" => peer.to_owned()).increment(1);
}

impl Totals {
    fn counts(&self) -> [u64; 10] {
        [
            self.bytes_in,
            self.bytes_out,
            self.frames_in,
            self.frames_out,
            self.casts_in,
            self.casts_out,
            self.calls_in,
            self.calls_out,
            self.replies_in,
            self.replies_out,
        ]
    }
}

/// One session's metric handles and what was published of it so far.
pub(crate) struct PeerMetrics {
    counters: [Counter; 10],
    queued: Gauge,
    last_heard: Gauge,
    rtt_last: Gauge,
    rtt: Histogram,
    up: Gauge,
    published: [u64; 10],
    answered: u64,
}

impl std::fmt::Debug for PeerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerMetrics")
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl PeerMetrics {
    /// Registers the handles of the session between `node` and `peer`.
    pub(crate) fn new(node: &str, peer: &str) -> Self {
        let labels = [("node", node.to_owned()), ("peer", peer.to_owned())];
        let counters = COUNTERS.map(|(name, _)| counter!(name, &labels));
        let up = gauge!(UP, &labels);
        up.set(1.0);
        Self {
            counters,
            queued: gauge!(QUEUED, &labels),
            last_heard: gauge!(LAST_HEARD, &labels),
            rtt_last: gauge!(RTT_LAST, &labels),
            rtt: histogram!(RTT, &labels),
            up,
            published: [0; 10],
            answered: 0,
        }
    }

    /// Publishes what `stats` counted since the last call.
    pub(crate) fn publish(&mut self, stats: &LinkCounters) {
        let counts = stats.totals().counts();
        for ((counter, published), now) in self
            .counters
            .iter()
            .zip(self.published.iter_mut())
            .zip(counts)
        {
            counter.increment(now.saturating_sub(*published));
            *published = now;
        }
        let totals = stats.totals();
        self.queued.set(totals.queued_bytes as f64);
        self.last_heard.set(stats.last_heard().as_secs_f64());
        let (answered, last) = stats.latest_round_trip();
        if let Some(last) = last.filter(|_| answered != self.answered) {
            self.answered = answered;
            self.rtt_last.set(last.as_secs_f64());
            self.rtt.record(last.as_secs_f64());
        }
    }

    /// The session ended: publishes its last figures and marks the peer down.
    pub(crate) fn ended(mut self, stats: &LinkCounters) {
        self.publish(stats);
        self.queued.set(0.0);
        self.up.set(0.0);
    }
}

/// Asks the node server to publish every [`PUBLISH_EVERY`]; stops when dropped (with the
/// server's state).
pub(crate) struct Ticker(tokio::task::JoinHandle<()>);

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticker")
    }
}

impl Ticker {
    /// Calls `tick` every [`PUBLISH_EVERY`] until it returns `false` (the server is gone).
    pub(crate) fn start(tick: impl Fn() -> bool + Send + 'static) -> Self {
        Self(tokio::spawn(async move {
            let mut every = tokio::time::interval(PUBLISH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if !tick() {
                    return;
                }
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}
