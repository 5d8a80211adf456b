//! Traces across nodes (features `trace-context` and `opentelemetry`): a call chain A → B → C and
//! its replies back, three real nodes on 127.0.0.1 in one process, recorded by OpenTelemetry's
//! in-memory exporter through `tracing-opentelemetry`. Every wait is bounded.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use ractor::{pg, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

use common::{connect_ready, proxy_in, start_node, within, WAIT};

/// One hop of the chain: an actor with a next hop calls it inside a span of its own and answers
/// with what it answered; the last one answers at once.
#[derive(RactorClusterMessage)]
enum Hop {
    #[rpc]
    Ask(u64, RpcReplyPort<u64>),
}

struct HopActor;

impl Actor for HopActor {
    type Msg = Hop;
    type State = Option<ActorRef<Hop>>;
    type Arguments = Option<ActorRef<Hop>>;

    async fn pre_start(
        &self,
        _: ActorRef<Hop>,
        next: Option<ActorRef<Hop>>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(next)
    }

    async fn handle(
        &self,
        _: ActorRef<Hop>,
        message: Hop,
        next: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Hop::Ask(n, reply) = message;
        let answer = match next {
            Some(next) => {
                let outgoing = tracing::info_span!("b.outgoing_call");
                async { ractor::call_t!(next, Hop::Ask, 5_000, n + 1) }
                    .instrument(outgoing)
                    .await?
            }
            None => n * 10,
        };
        let _ = reply.send(answer);
        Ok(())
    }
}

/// The spans ended so far in this process. The subscriber is process-wide, as the nodes' tasks
/// run on the runtime's worker threads; this file holds one test, so nothing else adds to it.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("traces-test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        exporter
    })
}

/// Whether `span` has the attribute `key` with the text `value`.
fn has(span: &SpanData, key: &str, value: &str) -> bool {
    span.attributes
        .iter()
        .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
}

/// Waits until a span that `wanted` picks has ended, and returns it.
async fn ended(what: &str, wanted: impl Fn(&SpanData) -> bool) -> SpanData {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let spans = exporter()
            .get_finished_spans()
            .expect("the exporter's spans");
        if let Some(span) = spans.into_iter().find(&wanted) {
            return span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span {what} ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_chain_across_three_nodes_is_one_trace_with_its_parents_in_order() {
    exporter();
    let mut a = start_node("trace-a").await;
    let mut b = start_node("trace-b").await;
    let mut c = start_node("trace-c").await;
    // A chain, not a triangle: A reaches C only through B.
    connect_ready(&mut a, &mut b).await;
    connect_ready(&mut b, &mut c).await;

    // C's actor, and B's, which calls C's through B's session with C.
    let (last, _) = Actor::spawn(None, HopActor, None).await.unwrap();
    pg::join("trace-c".to_owned(), vec![last.get_cell()]);
    let to_c = within("C's actor to reach B", async {
        loop {
            if let Some(proxy) = proxy_in("trace-c", c.id, &last.get_cell()) {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let (middle, _) = Actor::spawn(None, HopActor, Some(to_c.into()))
        .await
        .unwrap();
    pg::join("trace-b".to_owned(), vec![middle.get_cell()]);
    let to_b: ActorRef<Hop> = within("B's actor to reach A", async {
        loop {
            if let Some(proxy) = proxy_in("trace-b", b.id, &middle.get_cell()) {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .into();

    // Sent outside any span: B's handler is not inside a trace (its own span for the call to C
    // starts one of its own).
    let answer = ractor::call_t!(to_b, Hop::Ask, 5_000, 1).unwrap();
    assert_eq!(answer, 20);

    let request = tracing::info_span!("a.request");
    let answer = async { ractor::call_t!(to_b, Hop::Ask, 5_000, 4) }
        .instrument(request)
        .await
        .unwrap();
    assert_eq!(answer, 50);

    let on_a = ended("a.request", |span| span.name == "a.request").await;
    let trace: TraceId = on_a.span_context.trace_id();
    assert_ne!(trace, TraceId::INVALID);
    let in_trace = |name: &'static str| {
        move |span: &SpanData| span.name == name && span.span_context.trace_id() == trace
    };
    let (b_actor, c_actor) = (middle.get_id().to_string(), last.get_id().to_string());
    let deliver = "ractor_cluster.deliver";
    let on_b = ended("B's delivery", |span| {
        in_trace(deliver)(span) && has(span, "actor", &b_actor)
    })
    .await;
    let outgoing = ended("B's outgoing call", in_trace("b.outgoing_call")).await;
    let on_c = ended("C's delivery", |span| {
        in_trace(deliver)(span) && has(span, "actor", &c_actor)
    })
    .await;

    // One trace, parents in order: A's span → B's delivery → B's outgoing call → C's delivery.
    assert_eq!(
        on_a.parent_span_id,
        SpanId::INVALID,
        "A's request starts the trace"
    );
    assert_eq!(on_b.parent_span_id, on_a.span_context.span_id());
    assert_eq!(outgoing.parent_span_id, on_b.span_context.span_id());
    assert_eq!(on_c.parent_span_id, outgoing.span_context.span_id());
    assert!(on_b.parent_span_is_remote && on_c.parent_span_is_remote);
    assert!(has(&on_c, "variant", "Ask") && has(&on_c, "kind", "call"));

    // The call sent outside any span made no delivery span on B: B's only one is in A's trace.
    let b_deliveries: Vec<SpanData> = exporter()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|span| span.name == deliver && has(span, "actor", &b_actor))
        .collect();
    assert_eq!(b_deliveries.len(), 1, "{b_deliveries:?}");
    assert_eq!(b_deliveries[0].span_context.trace_id(), trace);

    // The replies go back likewise (protocol 2.9): C's answer reaches B, and B's reaches A, each
    // in a `ractor_cluster.reply` span whose remote parent is the delivery span the call was
    // answered in, so the trace shows the way back: C's delivery → reply on B, B's delivery →
    // reply on A.
    let reply = "ractor_cluster.reply";
    let on_b_from_c = ended("the reply from C on B", |span| {
        in_trace(reply)(span) && has(span, "from", "trace-c@localhost")
    })
    .await;
    let on_a_from_b = ended("the reply from B on A", |span| {
        in_trace(reply)(span) && has(span, "from", "trace-b@localhost")
    })
    .await;
    assert_eq!(on_b_from_c.parent_span_id, on_c.span_context.span_id());
    assert_eq!(on_a_from_b.parent_span_id, on_b.span_context.span_id());
    assert!(on_b_from_c.parent_span_is_remote && on_a_from_b.parent_span_is_remote);
    // The reply reached A before A's request ended.
    assert!(on_a_from_b.start_time <= on_a.end_time);
    // B's reply to the call sent outside any span went back untraced: B's only reply span is in
    // A's trace. (B's call to C for it was traced, in a trace of B's own.)
    let from_b: Vec<SpanData> = exporter()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|span| span.name == reply && has(span, "from", "trace-b@localhost"))
        .collect();
    assert_eq!(from_b.len(), 1, "{from_b:?}");

    middle.stop(None);
    last.stop(None);
}
