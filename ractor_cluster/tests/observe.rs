//! Seeing inside a running cluster: per-peer figures (`node::peer_stats`) and the spans that
//! every event of a session and of a node server is inside. Real nodes on 127.0.0.1, in one
//! process; every wait is bounded.

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ractor_cluster::node::{peer_stats, LinkProtection, PeerStats};
use ractor_cluster::NodeId;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use common::{
    connect_ready, spawn_in_group, start_node_with, wait_for_proxy, within, Node, NodeOptions,
    TestMessage, FAST_LIVENESS,
};

/// Nodes that probe round trips every heartbeat (100 ms), so a test sees samples soon.
fn probing() -> NodeOptions {
    NodeOptions {
        liveness: Some(FAST_LIVENESS),
        rtt_probe_interval: Some(Duration::from_millis(100)),
        ..NodeOptions::default()
    }
}

/// `node`'s figures for its session with `peer`, if it has one.
async fn stats_with(node: &Node, peer: &Node) -> Option<PeerStats> {
    within("peer_stats", peer_stats(&node.server))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.peer_name == peer.name)
}

/// Polls `node`'s figures for `peer` until `check` holds, and returns them.
async fn stats_until(node: &Node, peer: &Node, check: impl Fn(&PeerStats) -> bool) -> PeerStats {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let stats = stats_with(node, peer).await;
        match stats {
            Some(stats) if check(&stats) => return stats,
            _ if tokio::time::Instant::now() >= deadline => {
                panic!(
                    "figures of {} for {} never held: {stats:?}",
                    node.name, peer.name
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_stats_count_each_links_traffic_and_round_trips() {
    let mut a = start_node_with("stats-a", probing()).await;
    let mut b = start_node_with("stats-b", probing()).await;
    connect_ready(&mut a, &mut b).await;
    let group = "stats-group";
    let actor = spawn_in_group(group).await;
    // The proxy on `b` that stands for the actor through `a`: what it is sent goes b → a.
    let proxy = wait_for_proxy(group, a.id, &actor.get_cell()).await;
    let before_b = stats_with(&b, &a).await.expect("b has a session with a");
    let before_a = stats_with(&a, &b).await.expect("a has a session with b");

    for n in 0..10 {
        proxy.cast(TestMessage::Num(n)).unwrap();
    }
    for n in 0..5 {
        let doubled = ractor::call_t!(proxy, TestMessage::Double, 5_000, n).unwrap();
        assert_eq!(doubled, n * 2);
    }

    let on_b = stats_until(&b, &a, |s| s.replies_in >= before_b.replies_in + 5).await;
    assert_eq!(on_b.casts_out - before_b.casts_out, 10);
    assert_eq!(on_b.calls_out - before_b.calls_out, 5);
    assert_eq!(on_b.replies_in - before_b.replies_in, 5);
    let on_a = stats_until(&a, &b, |s| s.replies_out >= before_a.replies_out + 5).await;
    assert_eq!(on_a.casts_in - before_a.casts_in, 10);
    assert_eq!(on_a.calls_in - before_a.calls_in, 5);
    assert_eq!(on_a.replies_out - before_a.replies_out, 5);
    // Fifteen messages and their frames went b → a: bytes and frames moved on both ends.
    assert!(on_b.bytes_out >= before_b.bytes_out + 15 * 8, "{on_b:?}");
    assert!(on_a.bytes_in >= before_a.bytes_in + 15 * 8, "{on_a:?}");
    assert!(on_b.frames_out >= before_b.frames_out + 15, "{on_b:?}");
    assert!(on_a.frames_in >= before_a.frames_in + 15, "{on_a:?}");

    // Who each is, and how the link is protected.
    assert_eq!(on_a.peer_node_id, b.id);
    assert_eq!(on_b.peer_node_id, a.id);
    assert!(!on_a.inbound, "a dialed b");
    assert!(on_b.inbound);
    assert_eq!(on_a.protection, LinkProtection::Sealed);
    assert_eq!(on_a.reconnections, 0);
    assert!(on_a.last_heard < Duration::from_secs(1), "{on_a:?}");
    assert!(on_a.uptime > Duration::ZERO);

    // Probes every 100 ms: round trips measured on both sides, in order.
    for (node, peer) in [(&a, &b), (&b, &a)] {
        let stats = stats_until(node, peer, |s| s.rtt.is_some_and(|r| r.samples >= 3)).await;
        let rtt = stats.rtt.unwrap();
        assert!(rtt.p50 <= rtt.p99, "{rtt:?}");
        assert!(rtt.p99 < Duration::from_secs(1), "{rtt:?}");
    }
    actor.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_with_plaintext_frames_says_so_and_probing_can_be_turned_off() {
    let options = || NodeOptions {
        plaintext_frames: true,
        liveness: Some(FAST_LIVENESS),
        rtt_probe_interval: Some(Duration::ZERO),
        ..NodeOptions::default()
    };
    let mut a = start_node_with("plain-stats-a", options()).await;
    let mut b = start_node_with("plain-stats-b", options()).await;
    connect_ready(&mut a, &mut b).await;
    let stats = stats_with(&a, &b).await.unwrap();
    assert_eq!(stats.protection, LinkProtection::Plaintext);
    // Several heartbeat intervals later, still no probe went out, so no round trip.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(stats_with(&a, &b).await.unwrap().rtt, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_connected_again_counts_a_reconnection() {
    let mut a = start_node_with("again-stats-a", NodeOptions::default()).await;
    let mut b = start_node_with("again-stats-b", NodeOptions::default()).await;
    connect_ready(&mut a, &mut b).await;
    let first = stats_with(&a, &b).await.unwrap();
    assert_eq!(first.reconnections, 0);
    within(
        "disconnect",
        ractor_cluster::node::disconnect(&a.server, &b.name),
    )
    .await
    .unwrap();
    let (a_name, b_name) = (a.name.clone(), b.name.clone());
    a.wait_event(|e| *e == common::Event::Disconnected(Some(b_name.clone())))
        .await;
    // b too: while b still holds the old session, it may refuse the new one as a second session
    // to the same peer (the admission rule), and a would count a third session when it dials
    // again.
    b.wait_event(|e| *e == common::Event::Disconnected(Some(a_name.clone())))
        .await;
    connect_ready(&mut a, &mut b).await;
    let again = stats_until(&a, &b, |s| s.session_id != first.session_id).await;
    assert_eq!(again.reconnections, 1);
    assert_eq!(again.incarnation, first.incarnation, "b did not restart");
}

// ---------------------------------------------------------------------------------------------
// Spans

/// An event as captured: its message, and the fields of every span it was inside, innermost
/// first, by span name.
#[derive(Debug, Clone)]
struct Captured {
    message: String,
    spans: Vec<(String, HashMap<String, String>)>,
}

impl Captured {
    fn span(&self, name: &str) -> Option<&HashMap<String, String>> {
        self.spans.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every span's fields (recorded at creation and later) and every event with its spans.
struct Capture;

fn captured() -> &'static Mutex<Vec<Captured>> {
    static CAPTURED: OnceLock<Mutex<Vec<Captured>>> = OnceLock::new();
    CAPTURED.get_or_init(Mutex::default)
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<Fields>()
                            .map(|f| f.0.clone())
                            .unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        captured().lock().unwrap().push(Captured {
            message: fields.0.remove("message").unwrap_or_default(),
            spans,
        });
    }
}

/// Installs the capturing subscriber for the whole test binary (the nodes' tasks run on every
/// worker thread, so a thread-local default would miss them).
fn capture_events() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// The captured events whose message is `message` and that are inside the node server span of
/// `node`.
fn events_of(node: &str, message: &str) -> Vec<Captured> {
    captured()
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.message == message)
        .filter(|e| {
            e.span("node_server")
                .and_then(|f| f.get("node"))
                .map(String::as_str)
                == Some(node)
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_inside_a_session_carry_the_nodes_the_peer_and_the_direction() {
    capture_events();
    let mut a = start_node_with("spans-a", NodeOptions::default()).await;
    let mut b = start_node_with("spans-b", NodeOptions::default()).await;
    connect_ready(&mut a, &mut b).await;

    // The server's own events are inside its span.
    assert!(!events_of(&a.name, "node listening").is_empty());

    // Logged by each session's actor when its peer is authenticated.
    for (node, peer, direction) in [(&a, &b, "outbound"), (&b, &a, "inbound")] {
        let events = events_of(&node.name, "session authenticated");
        let event = events
            .first()
            .unwrap_or_else(|| panic!("no event on {}", node.name));
        let session = event.span("session").expect("inside the session's span");
        assert_eq!(session.get("local"), Some(&node.name));
        assert_eq!(session.get("peer"), Some(&peer.name));
        assert_eq!(session.get("peer_node_id"), Some(&peer.id.to_string()));
        assert_eq!(
            session.get("direction").map(String::as_str),
            Some(direction)
        );
        assert!(session.contains_key("incarnation"), "{session:?}");
        // The event's own fields are kept as they were.
        assert!(event.spans.len() >= 2, "{event:?}");
    }

    // Ended from a's side: the session's last event says why, inside the same span.
    within(
        "disconnect",
        ractor_cluster::node::disconnect(&a.server, &b.name),
    )
    .await
    .unwrap();
    let b_name = b.name.clone();
    a.wait_event(|e| *e == common::Event::Disconnected(Some(b_name.clone())))
        .await;
    let ended = events_of(&a.name, "session ended");
    let session = ended
        .first()
        .and_then(|e| e.span("session"))
        .expect("the end is logged inside the session's span");
    assert_eq!(session.get("peer"), Some(&b.name));
}

// ---------------------------------------------------------------------------------------------
// The `metrics` feature

#[cfg(feature = "metrics")]
mod recorder {
    //! A recorder that keeps the latest value of every metric, by name and labels.

    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
        Recorder, SharedString, Unit,
    };

    /// A metric's name and its labels, `name{k=v,...}` with the labels sorted.
    fn id(key: &Key) -> String {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    #[derive(Default)]
    pub(super) struct Value {
        counter: AtomicU64,
        gauge: Mutex<f64>,
        samples: Mutex<Vec<f64>>,
    }

    impl CounterFn for Value {
        fn increment(&self, value: u64) {
            self.counter.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.counter.store(value, Ordering::Relaxed);
        }
    }

    impl GaugeFn for Value {
        fn increment(&self, value: f64) {
            *self.gauge.lock().unwrap() += value;
        }
        fn decrement(&self, value: f64) {
            *self.gauge.lock().unwrap() -= value;
        }
        fn set(&self, value: f64) {
            *self.gauge.lock().unwrap() = value;
        }
    }

    impl HistogramFn for Value {
        fn record(&self, value: f64) {
            self.samples.lock().unwrap().push(value);
        }
    }

    #[derive(Default)]
    struct Keeper(Mutex<BTreeMap<String, Arc<Value>>>);

    impl Keeper {
        fn value(&self, key: &Key) -> Arc<Value> {
            Arc::clone(self.0.lock().unwrap().entry(id(key)).or_default())
        }
    }

    impl Recorder for &'static Keeper {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.value(key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.value(key))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(self.value(key))
        }
    }

    fn keeper() -> &'static Keeper {
        static KEEPER: OnceLock<&'static Keeper> = OnceLock::new();
        KEEPER.get_or_init(|| {
            let keeper: &'static Keeper = Box::leak(Box::default());
            metrics::set_global_recorder(keeper).unwrap();
            keeper
        })
    }

    /// Installs the recorder for the whole test binary.
    pub(super) fn install() {
        keeper();
    }

    fn get(name: &str, node: &str, peer: &str) -> Option<Arc<Value>> {
        let id = format!("{name}{{node={node},peer={peer}}}");
        keeper().0.lock().unwrap().get(&id).cloned()
    }

    pub(super) fn counter(name: &str, node: &str, peer: &str) -> u64 {
        get(name, node, peer).map_or(0, |v| v.counter.load(Ordering::Relaxed))
    }

    pub(super) fn gauge(name: &str, node: &str, peer: &str) -> Option<f64> {
        get(name, node, peer).map(|v| *v.gauge.lock().unwrap())
    }

    pub(super) fn samples(name: &str, node: &str, peer: &str) -> usize {
        get(name, node, peer).map_or(0, |v| v.samples.lock().unwrap().len())
    }
}

#[cfg(feature = "metrics")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_reach_the_metrics_recorder_labelled_by_node_and_peer() {
    use common::eventually;

    recorder::install();
    let mut a = start_node_with("metrics-a", probing()).await;
    let mut b = start_node_with("metrics-b", probing()).await;
    connect_ready(&mut a, &mut b).await;
    let group = "metrics-group";
    let actor = spawn_in_group(group).await;
    let proxy = wait_for_proxy(group, a.id, &actor.get_cell()).await;
    for n in 0..10 {
        proxy.cast(TestMessage::Num(n)).unwrap();
    }
    let (an, bn) = (a.name.clone(), b.name.clone());
    // Published once a second by each node server.
    eventually("casts counted on both ends", || {
        recorder::counter("ractor_cluster_peer_casts_out", &bn, &an) >= 10
            && recorder::counter("ractor_cluster_peer_casts_in", &an, &bn) >= 10
    })
    .await;
    assert!(recorder::counter("ractor_cluster_peer_bytes_in", &an, &bn) > 0);
    assert!(recorder::counter("ractor_cluster_peer_bytes_out", &bn, &an) > 0);
    assert_eq!(
        recorder::counter("ractor_cluster_peer_sessions", &an, &bn),
        1
    );
    assert_eq!(
        recorder::gauge("ractor_cluster_peer_up", &an, &bn),
        Some(1.0)
    );
    eventually("round trips recorded", || {
        recorder::samples("ractor_cluster_peer_rtt_seconds", &an, &bn) >= 1
            && recorder::gauge("ractor_cluster_peer_rtt_last_seconds", &an, &bn)
                .is_some_and(|rtt| rtt > 0.0 && rtt < 1.0)
    })
    .await;

    // The session ends: its last figures are published, and the peer is shown down.
    within(
        "disconnect",
        ractor_cluster::node::disconnect(&a.server, &b.name),
    )
    .await
    .unwrap();
    a.wait_event(|e| *e == common::Event::Disconnected(Some(bn.clone())))
        .await;
    eventually("the peer shown down", || {
        recorder::gauge("ractor_cluster_peer_up", &an, &bn) == Some(0.0)
    })
    .await;
    actor.stop(None);
}

/// Each node's figures, by peer node id.
async fn figures(node: &Node) -> HashMap<NodeId, PeerStats> {
    within("peer_stats", peer_stats(&node.server))
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.peer_node_id, s))
        .collect()
}

/// Four nodes in a full mesh, each watching only its two neighbours on the ring (so each has one
/// link that neither side watches), probing every 100 ms at 50 ms heartbeats.
async fn ring_of_four(tag: &str, every_link: bool) -> Vec<Node> {
    let options = || NodeOptions {
        liveness: Some((Duration::from_millis(50), Duration::from_secs(3))),
        watched_peers: Some(2),
        rtt_probe_interval: Some(Duration::from_millis(100)),
        rtt_probes_on_every_link: every_link,
        ..NodeOptions::default()
    };
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node_with(&format!("{tag}-{i}"), options()).await);
    }
    for i in 0..4 {
        for j in i + 1..4 {
            let (left, right) = nodes.split_at_mut(j);
            connect_ready(&mut left[i], &mut right[0]).await;
        }
    }
    nodes
}

/// Waits until every link of every node that carries heartbeats has sent `more` frames since
/// `before`; returns the figures then.
async fn after_heartbeats(
    nodes: &[Node],
    before: &[HashMap<NodeId, PeerStats>],
    more: u64,
) -> Vec<HashMap<NodeId, PeerStats>> {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let mut now = Vec::new();
        for node in nodes {
            now.push(figures(node).await);
        }
        let done = now.iter().zip(before).all(|(now, before)| {
            // Each node has two links with heartbeats: its watched neighbours.
            now.values()
                .filter(|s| {
                    before
                        .get(&s.peer_node_id)
                        .is_some_and(|b| s.frames_out >= b.frames_out + more)
                })
                .count()
                >= 2
        });
        if done {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "heartbeats did not flow"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn round_trip_probes_go_only_on_watched_links() {
    let nodes = ring_of_four("probe-watched", false).await;
    let mut before = Vec::new();
    for node in &nodes {
        before.push(figures(node).await);
    }
    // Let the watches settle (each session learns whether it is watched), then look again.
    let settled = after_heartbeats(&nodes, &before, 5).await;
    let later = after_heartbeats(&nodes, &settled, 10).await;
    for ((node, settled), later) in nodes.iter().zip(&settled).zip(&later) {
        let quiet: Vec<&PeerStats> = later
            .values()
            .filter(|s| {
                settled
                    .get(&s.peer_node_id)
                    .is_some_and(|b| s.frames_out == b.frames_out && s.frames_in == b.frames_in)
            })
            .collect();
        assert_eq!(
            quiet.len(),
            1,
            "{}: one link, the one neither side watches, carries nothing: {later:#?}",
            node.name
        );
        let probed = later.values().filter(|s| s.rtt.is_some()).count();
        assert!(probed >= 2, "{}: watched links are probed", node.name);
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn with_probes_on_every_link_the_unwatched_link_is_probed_too() {
    let nodes = ring_of_four("probe-every", true).await;
    within("every link to have a round trip", async {
        loop {
            let mut all = true;
            for node in &nodes {
                all &= figures(node).await.values().all(|s| s.rtt.is_some());
            }
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    for node in nodes {
        node.stop().await;
    }
}
