//! Opt-in OpenTelemetry traces (`telemetry.traces`): the `tracing` spans of the service exported
//! over OTLP/HTTP with protobuf.
//!
//! Export never sits on a request's path: finished spans go to the SDK's batch processor, a
//! bounded queue drained by its own thread, which drops spans when the queue is full. A collector
//! that is down or black-holed therefore costs spans, never latency or a crash.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider},
};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

use super::trace_export::RuntimeHttpClient;
use crate::config::TracesConfig;

#[derive(Debug, thiserror::Error)]
#[error("telemetry.traces: cannot build the OTLP exporter: {0}")]
pub struct TracesError(String);

/// The running trace pipeline. Keep it for the life of the process and call
/// [`Traces::shutdown`] on the way out, so the last batch is sent.
#[derive(Clone, Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Builds the pipeline when `config.enabled`. Export requests run on `runtime` (the bridge's
    /// reqwest client needs a Tokio reactor; the batch thread has none).
    pub fn start(
        config: &TracesConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<Option<Self>, TracesError> {
        if !config.enabled {
            return Ok(None);
        }
        let timeout = config.export_timeout.get();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(RuntimeHttpClient::new(runtime, timeout))
            .with_endpoint(config.endpoint.clone())
            .with_timeout(timeout)
            .build()
            .map_err(|e| TracesError(e.to_string()))?;
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(config.max_queue_size)
            .with_max_export_batch_size(config.max_export_batch_size.min(config.max_queue_size))
            .with_scheduled_delay(config.scheduled_delay.get())
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        Ok(Some(Self { provider }))
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans of this pipeline.
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("mcp-auth-bridge"))
    }

    /// Sends every finished span now. Blocks a thread of its own, not the caller's runtime
    /// (the export itself runs on that runtime).
    pub async fn flush(&self) {
        let provider = self.provider.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || provider.force_flush()).await {
            tracing::warn!(error = %e, "flushing traces failed");
        }
    }

    /// Flushes and stops the pipeline, waiting at most `timeout`.
    pub async fn shutdown(self, timeout: Duration) {
        let provider = self.provider;
        let stop = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout));
        if let Ok(Err(e)) = stop.await {
            tracing::warn!(error = %e, "stopping the trace exporter failed");
        }
    }
}
