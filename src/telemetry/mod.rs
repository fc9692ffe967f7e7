//! Logging (tracing), request ids, Prometheus metrics, and opt-in OpenTelemetry traces.

pub mod catch_panic;
pub mod http_metrics;
pub mod metrics;
pub mod request_id;
pub mod request_span;
pub mod trace_context;
mod trace_export;
pub mod traces;

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, fmt::writer::BoxMakeWriter, prelude::*};

use crate::config::{LogConfig, LogFormat};

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogOutput {
    /// The service (`serve`, `demo-mcp-server`): stdout, where container platforms collect it.
    Stdout,
    /// One-shot commands (`sweep`, `migrate`, …): stderr, so stdout carries only their output
    /// (the sweep report as JSON) and can be piped.
    Stderr,
}

/// Installs the global subscriber, logging to stdout. `RUST_LOG` wins over `log.filter`. Safe to
/// call twice (the second call does nothing), so tests and the CLI can both call it.
pub fn init(config: &LogConfig) {
    init_to(config, LogOutput::Stdout);
}

/// Like [`init`], logging to `output`.
pub fn init_to(config: &LogConfig, output: LogOutput) {
    init_with_traces(config, output, None);
}

/// Like [`init_to`], also exporting spans through `traces` when given.
pub fn init_with_traces(config: &LogConfig, output: LogOutput, traces: Option<&traces::Traces>) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = match output {
        LogOutput::Stdout => std::io::stdout().is_terminal(),
        LogOutput::Stderr => std::io::stderr().is_terminal(),
    };
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !terminal,
    };
    let writer = BoxMakeWriter::new(move || -> Box<dyn std::io::Write> {
        match output {
            LogOutput::Stdout => Box::new(std::io::stdout()),
            LogOutput::Stderr => Box::new(std::io::stderr()),
        }
    });
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(traces.map(traces::Traces::layer));
    let _ = if json {
        registry
            .with(
                fmt::layer()
                    .with_writer(writer)
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().with_writer(writer)).try_init()
    };
}

/// Records the resolved tenant on the request span (declared empty in `startup::router`), so
/// every log line of the request names it.
pub fn record_tenant(slug: &str) {
    tracing::Span::current().record("tenant", slug);
}

/// Records the authenticated or named client on the request span.
pub fn record_client_id(client_id: &str) {
    tracing::Span::current().record("client_id", client_id);
}
