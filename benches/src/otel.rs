//! OpenTelemetry for measuring the `opentelemetry` feature (benches feature `opentelemetry`):
//! every `tracing` span goes to an OpenTelemetry SDK that samples all of them and whose exporter
//! discards them, so that what a measurement counts is making, ending and carrying spans, not
//! shipping them anywhere.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer as _;

/// An exporter that drops every span.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}

/// Makes `tracing-opentelemetry`'s layer, over an SDK that exports to nowhere, the process's
/// subscriber, at level `INFO` as a service would run (the delivery and reply spans are `INFO`).
/// Keep the provider for as long as spans should be recorded: dropping it shuts the SDK down.
pub fn install() -> Result<SdkTracerProvider, tracing::subscriber::SetGlobalDefaultError> {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(Discard)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("ractor_cluster_benches"))
        .with_filter(LevelFilter::INFO);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    Ok(provider)
}
