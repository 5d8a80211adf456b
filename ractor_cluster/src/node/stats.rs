//! Per-peer figures: what each session counts as it runs, and the snapshot that `node::peer_stats`
//! returns.
//!
//! Each session has one [`LinkCounters`], shared by the tasks that do the work: the reader counts
//! what comes in, the proxies and the reader count the casts, calls and replies they queue, a
//! wrapper around the write half counts the bytes the writer task writes, and the liveness task
//! measures round trips with `Ping`/`Pong` probes (PROTOCOL.md, "Round-trip probes"). Counting is
//! one relaxed atomic add per event, on counters that the inbound and outbound sides keep on cache
//! lines of their own; the clock is read only by the liveness task. The node server keeps every
//! session's counters and reads them when asked, so a snapshot costs the hot path nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

#[cfg(feature = "metrics")]
pub(crate) mod exporter;

use super::NodeId;
use crate::net::WriterProbe;

/// How many round-trip samples a session keeps for its percentiles (the most recent ones).
pub const RTT_WINDOW: usize = 64;

/// How a session's bytes are protected on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkProtection {
    /// Sealed records: AES-256-GCM with keys from the handshake's X25519 exchange and the cookie
    /// (PROTOCOL.md, "Sealed records"). The default for every session not over TLS.
    Sealed,
    /// TLS alone (the session's frames travel in the clear inside the TLS stream).
    Tls,
    /// Sealed records inside a TLS stream (a peer asked for both).
    TlsAndSealed,
    /// Neither: both nodes were built with
    /// [`with_plaintext_frames`](crate::NodeServer::with_plaintext_frames) and the transport is not
    /// TLS. Anyone on the path can read and change the traffic.
    Plaintext,
}

impl LinkProtection {
    pub(crate) fn of(tls: bool, sealed: bool) -> Self {
        match (tls, sealed) {
            (false, true) => Self::Sealed,
            (true, false) => Self::Tls,
            (true, true) => Self::TlsAndSealed,
            (false, false) => Self::Plaintext,
        }
    }

    /// A short name, for tables and metric labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Tls => "tls",
            Self::TlsAndSealed => "tls+sealed",
            Self::Plaintext => "plaintext",
        }
    }
}

/// Round-trip times of a session, measured by this node's probes (see
/// [`NodeServer::with_rtt_probe_interval`](crate::NodeServer::with_rtt_probe_interval)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTrip {
    /// The latest probe's round trip.
    pub last: Duration,
    /// The median over the samples kept (at most [`RTT_WINDOW`], the most recent).
    pub p50: Duration,
    /// The 99th percentile over the same samples (with fewer than 100 samples, the largest but
    /// none: a nearest-rank percentile).
    pub p99: Duration,
    /// How many samples the percentiles are over.
    pub samples: usize,
}

/// The figures of one authenticated session, as [`peer_stats`](crate::node::peer_stats) returns them.
///
/// Byte counts are what went over the transport (sealed records, their overhead and the
/// handshake included); frame counts are frames of the session protocol (a message sent in pieces
/// counts once going out and once per piece coming in).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PeerStats {
    /// The session's id on this node ([`NodeServerSessionInformation::node_id`](crate::NodeInfo)).
    pub session_id: NodeId,
    /// The peer's name, `name@host`.
    pub peer_name: String,
    /// The peer's node id (derived from its name).
    pub peer_node_id: NodeId,
    /// The peer's address, or the label of an external transport.
    pub peer_addr: String,
    /// The peer's incarnation: a new one means the peer restarted.
    pub incarnation: u64,
    /// Whether the peer opened the connection.
    pub inbound: bool,
    /// How the bytes are protected.
    pub protection: LinkProtection,
    /// When the peer was authenticated, by the system clock.
    pub started: SystemTime,
    /// How long ago the peer was authenticated.
    pub uptime: Duration,
    /// How long ago anything was last heard from the peer (to within one look of the liveness
    /// task: at most a heartbeat interval, or `down_after / 8`).
    pub last_heard: Duration,
    /// Bytes read from the connection.
    pub bytes_in: u64,
    /// Bytes written to the connection.
    pub bytes_out: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Frames queued to send (heartbeats and probes included).
    pub frames_out: u64,
    /// Casts delivered here from the peer (or dropped as undeliverable).
    pub casts_in: u64,
    /// Casts queued to the peer.
    pub casts_out: u64,
    /// Calls received from the peer.
    pub calls_in: u64,
    /// Calls queued to the peer.
    pub calls_out: u64,
    /// Replies received to this node's calls.
    pub replies_in: u64,
    /// Replies queued to the peer's calls.
    pub replies_out: u64,
    /// Bytes of casts, calls and replies queued for the peer and not written yet.
    pub queued_bytes: usize,
    /// Round trips measured so far, `None` before the first probe came back (and with a peer
    /// older than protocol 2.5, which does not answer probes).
    pub rtt: Option<RoundTrip>,
    /// Sessions with this peer that this node had before this one (reconnections since the node
    /// started).
    pub reconnections: u64,
    /// The peer is a hidden node ([`NodeServer::with_hidden`](crate::NodeServer::with_hidden)):
    /// not a member of the cluster as this node sees it.
    pub hidden: bool,
}

/// What the inbound side counts: on a cache line of its own, written by the reader task alone.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Inbound {
    frames: AtomicU64,
    casts: AtomicU64,
    calls: AtomicU64,
    replies: AtomicU64,
}

/// What the outbound side counts: written by the proxies, the reader (replies) and the writer.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Outbound {
    casts: AtomicU64,
    calls: AtomicU64,
    replies: AtomicU64,
    /// Heartbeats and probes: the writer's count of frames leaves heartbeats out.
    liveness_frames: AtomicU64,
}

/// Facts about a session known once the handshake is over.
#[derive(Debug)]
struct Established {
    protection: LinkProtection,
    started: SystemTime,
    started_at: Instant,
    writer: WriterProbe,
}

/// The recent round trips and the probe in flight.
#[derive(Debug, Default)]
struct Probes {
    /// The last [`RTT_WINDOW`] samples; `next` is where the next one goes.
    samples: Vec<Duration>,
    next: usize,
    last: Option<Duration>,
    /// The probe sent and not answered yet: its number and when it left.
    in_flight: Option<(u64, Instant)>,
    sent: u64,
    /// Probes answered so far.
    answered: u64,
}

/// One session's counters. See the module docs.
#[derive(Debug)]
pub(crate) struct LinkCounters {
    /// Bytes read from the connection, counted by `net::CountingRead` (its own allocation, so
    /// no cache line is shared with the writer's count).
    bytes_in: Arc<AtomicU64>,
    /// Bytes written to the connection, counted by `net::CountingWrite`.
    bytes_out: Arc<AtomicU64>,
    inbound: Inbound,
    outbound: Outbound,
    /// When the session opened; `last_heard` is counted from it.
    opened: Instant,
    /// Milliseconds after `opened` when the liveness task last saw a frame arrive.
    last_heard_ms: AtomicU64,
    established: OnceLock<Established>,
    probes: Mutex<Probes>,
}

impl Default for LinkCounters {
    fn default() -> Self {
        Self {
            bytes_in: Arc::default(),
            bytes_out: Arc::default(),
            inbound: Inbound::default(),
            outbound: Outbound::default(),
            opened: Instant::now(),
            last_heard_ms: AtomicU64::new(0),
            established: OnceLock::new(),
            probes: Mutex::new(Probes::default()),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl LinkCounters {
    /// The count of bytes read, for the connection's read half to add to.
    pub(crate) fn bytes_in_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_in)
    }

    /// The count of bytes written, for the connection's write half to add to.
    pub(crate) fn bytes_out_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.bytes_out)
    }

    pub(crate) fn frame_in(&self) {
        bump(&self.inbound.frames);
    }
    pub(crate) fn cast_in(&self) {
        bump(&self.inbound.casts);
    }
    pub(crate) fn call_in(&self) {
        bump(&self.inbound.calls);
    }
    pub(crate) fn reply_in(&self) {
        bump(&self.inbound.replies);
    }
    pub(crate) fn cast_out(&self) {
        bump(&self.outbound.casts);
    }
    pub(crate) fn call_out(&self) {
        bump(&self.outbound.calls);
    }
    pub(crate) fn reply_out(&self) {
        bump(&self.outbound.replies);
    }
    pub(crate) fn liveness_frame_out(&self) {
        bump(&self.outbound.liveness_frames);
    }

    /// The liveness task saw a frame arrive at `now`.
    pub(crate) fn heard(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.opened).as_millis();
        self.last_heard_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The handshake is over: the session is protected so, and queues on `writer`.
    pub(crate) fn established(&self, protection: LinkProtection, writer: WriterProbe) {
        let _ = self.established.set(Established {
            protection,
            started: SystemTime::now(),
            started_at: Instant::now(),
            writer,
        });
    }

    fn probes(&self) -> std::sync::MutexGuard<'_, Probes> {
        // Every update is a plain assignment: consistent even if a holder panicked.
        self.probes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A probe leaves now; returns its number. A probe still unanswered is forgotten: its answer,
    /// if it comes, is ignored.
    pub(crate) fn probe_sent(&self, now: Instant) -> u64 {
        let mut probes = self.probes();
        probes.sent = probes.sent.wrapping_add(1);
        let number = probes.sent;
        probes.in_flight = Some((number, now));
        number
    }

    /// The answer to probe `number` arrived at `now`; returns the round trip if it answers the
    /// probe in flight (anything else, a late or a made-up answer, is ignored).
    pub(crate) fn probe_answered(&self, number: u64, now: Instant) -> Option<Duration> {
        let mut probes = self.probes();
        let (expected, sent) = probes.in_flight?;
        if expected != number {
            return None;
        }
        probes.in_flight = None;
        let rtt = now.saturating_duration_since(sent);
        probes.last = Some(rtt);
        probes.answered += 1;
        if probes.samples.len() < RTT_WINDOW {
            probes.samples.push(rtt);
        } else if let Some(slot) = {
            let next = probes.next;
            probes.samples.get_mut(next)
        } {
            *slot = rtt;
        }
        probes.next = (probes.next + 1) % RTT_WINDOW;
        Some(rtt)
    }

    /// How many probes were answered so far, and the latest round trip.
    #[cfg(feature = "metrics")]
    pub(crate) fn latest_round_trip(&self) -> (u64, Option<Duration>) {
        let probes = self.probes();
        (probes.answered, probes.last)
    }

    /// How long ago the peer was last heard from.
    #[cfg(feature = "metrics")]
    pub(crate) fn last_heard(&self) -> Duration {
        let heard = self.opened + Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed));
        Instant::now().saturating_duration_since(heard)
    }

    fn round_trip(&self) -> Option<RoundTrip> {
        let probes = self.probes();
        let last = probes.last?;
        let mut sorted = probes.samples.clone();
        drop(probes);
        sorted.sort_unstable();
        Some(RoundTrip {
            last,
            p50: nearest_rank(&sorted, 50),
            p99: nearest_rank(&sorted, 99),
            samples: sorted.len(),
        })
    }

    /// The running totals, for exporters that publish differences (see `metrics`).
    pub(crate) fn totals(&self) -> Totals {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Totals {
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            frames_in: load(&self.inbound.frames),
            casts_in: load(&self.inbound.casts),
            casts_out: load(&self.outbound.casts),
            calls_in: load(&self.inbound.calls),
            calls_out: load(&self.outbound.calls),
            replies_in: load(&self.inbound.replies),
            replies_out: load(&self.outbound.replies),
            frames_out: load(&self.outbound.liveness_frames)
                + self
                    .established
                    .get()
                    .and_then(|e| e.writer.frames_queued())
                    .unwrap_or(0),
            queued_bytes: self
                .established
                .get()
                .and_then(|e| e.writer.queued_bytes())
                .unwrap_or(0),
        }
    }

    /// The snapshot of an authenticated session; `None` before the handshake is over.
    pub(crate) fn snapshot(&self, peer: PeerIdentity) -> Option<PeerStats> {
        let established = self.established.get()?;
        let now = Instant::now();
        let heard = self.opened + Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed));
        let totals = self.totals();
        Some(PeerStats {
            session_id: peer.session_id,
            peer_node_id: crate::protocol::identity::node_id_of(&peer.name),
            peer_name: peer.name,
            peer_addr: peer.addr,
            incarnation: peer.incarnation,
            inbound: peer.inbound,
            protection: established.protection,
            started: established.started,
            uptime: now.saturating_duration_since(established.started_at),
            last_heard: now.saturating_duration_since(heard.max(established.started_at)),
            bytes_in: totals.bytes_in,
            bytes_out: totals.bytes_out,
            frames_in: totals.frames_in,
            frames_out: totals.frames_out,
            casts_in: totals.casts_in,
            casts_out: totals.casts_out,
            calls_in: totals.calls_in,
            calls_out: totals.calls_out,
            replies_in: totals.replies_in,
            replies_out: totals.replies_out,
            queued_bytes: totals.queued_bytes,
            rtt: self.round_trip(),
            reconnections: peer.reconnections,
            hidden: peer.hidden,
        })
    }
}

/// Running totals of one session (see [`LinkCounters::totals`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) frames_in: u64,
    pub(crate) frames_out: u64,
    pub(crate) casts_in: u64,
    pub(crate) casts_out: u64,
    pub(crate) calls_in: u64,
    pub(crate) calls_out: u64,
    pub(crate) replies_in: u64,
    pub(crate) replies_out: u64,
    pub(crate) queued_bytes: usize,
}

/// What the server knows of a session's peer, for its snapshot.
#[derive(Debug)]
pub(crate) struct PeerIdentity {
    pub(crate) session_id: NodeId,
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) incarnation: u64,
    pub(crate) inbound: bool,
    pub(crate) reconnections: u64,
    pub(crate) hidden: bool,
}

/// The nearest-rank percentile `p` of `sorted` (not empty, or zero).
fn nearest_rank(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_the_last_window() {
        let counters = LinkCounters::default();
        let start = Instant::now();
        // 100 probes of 1..=100 ms: only the last 64 (37..=100) are kept.
        for ms in 1..=100u64 {
            let n = counters.probe_sent(start);
            let rtt = counters.probe_answered(n, start + Duration::from_millis(ms));
            assert_eq!(rtt, Some(Duration::from_millis(ms)));
        }
        let rtt = counters.round_trip().unwrap();
        assert_eq!(rtt.samples, RTT_WINDOW);
        assert_eq!(rtt.last, Duration::from_millis(100));
        assert_eq!(rtt.p50, Duration::from_millis(68));
        assert_eq!(rtt.p99, Duration::from_millis(100));
    }

    #[test]
    fn a_late_or_unknown_answer_is_no_sample() {
        let counters = LinkCounters::default();
        let start = Instant::now();
        let first = counters.probe_sent(start);
        let second = counters.probe_sent(start);
        assert_eq!(counters.probe_answered(first, start), None);
        assert_eq!(counters.probe_answered(second + 7, start), None);
        assert!(counters.probe_answered(second, start).is_some());
        // Answered once: the same answer again counts for nothing.
        assert_eq!(counters.probe_answered(second, start), None);
        assert_eq!(counters.round_trip().unwrap().samples, 1);
    }
}
