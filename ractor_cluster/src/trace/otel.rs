//! The [`Propagator`] of `tracing-opentelemetry` (feature `opentelemetry`).

use ::opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Propagator, TraceContext};

/// Reads the trace context from the OpenTelemetry context of the current `tracing` span, and
/// gives a received message's span its remote parent, both through `tracing-opentelemetry`'s
/// [`OpenTelemetrySpanExt`]. The application installs `tracing_opentelemetry::layer()` with its
/// tracer, as for any other OpenTelemetry-traced code; without that layer, no span has a
/// context, and nothing travels. Used unless [`set_propagator`](super::set_propagator) set
/// another.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenTelemetry;

impl Propagator for OpenTelemetry {
    fn current(&self) -> Option<TraceContext> {
        let span = tracing::Span::current();
        // No subscriber, or a span that it does not record: nothing to carry, found cheaply.
        if span.is_none() || span.is_disabled() {
            return None;
        }
        let context = span.context();
        let otel_span = context.span();
        let parent = otel_span.span_context();
        (parent.is_valid() && parent.is_sampled()).then(|| {
            TraceContext::new(
                parent.trace_id().to_bytes(),
                parent.span_id().to_bytes(),
                parent.trace_flags().to_u8(),
            )
        })
    }

    fn set_parent(&self, span: &tracing::Span, parent: TraceContext) {
        let remote = SpanContext::new(
            TraceId::from_bytes(parent.trace_id),
            SpanId::from_bytes(parent.span_id),
            TraceFlags::new(parent.flags),
            true,
            TraceState::default(),
        );
        let context = ::opentelemetry::Context::new().with_remote_span_context(remote);
        // Fails only without the OpenTelemetry layer, when the span has no OpenTelemetry
        // side to give a parent to: then it is an ordinary `tracing` span.
        let _ = span.set_parent(context);
    }
}
