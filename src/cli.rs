//! The command line: `serve`, `migrate`, `sweep`, `check-config`, `config-schema`,
//! `config-reference`, `openapi`.
//! The demo MCP server is its own binary (`crates/demo-mcp-server`), not part of this one.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::Config,
    startup::Application,
    store,
    sweeper::Sweeper,
    telemetry::{self, LogOutput, traces::Traces},
};

/// Exit status for configuration errors (as promised in the README).
const EXIT_CONFIG: u8 = 2;
const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-auth-bridge",
    version,
    about = "OAuth 2.1 authorization server and gateway for MCP servers"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (migrates the database and applies configured tenants first).
    Serve(ConfigArg),
    /// Apply pending database migrations and exit.
    Migrate(ConfigArg),
    /// Run one sweep of expired and orphaned rows now, print its report as JSON and exit.
    Sweep(ConfigArg),
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig(ConfigArg),
    /// Print the JSON Schema of the configuration file.
    ConfigSchema,
    /// Print the configuration reference (Markdown, `docs/configuration.md`), rendered from
    /// the JSON Schema.
    ConfigReference,
    /// Print the OpenAPI document of the admin API, or write it to `--out`
    /// (`openapi/openapi.json` in the repository; a test fails when that file is stale).
    Openapi {
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct ConfigArg {
    /// TOML configuration file; `MCP_AUTH_BRIDGE__*` variables override it.
    #[arg(long, short, env = "MCP_AUTH_BRIDGE_CONFIG")]
    config: Option<PathBuf>,
}

/// Runs the parsed command and maps every failure to one message and an exit status.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::ConfigSchema => {
            print!("{}", crate::config::json_schema());
            ExitCode::SUCCESS
        }
        Command::ConfigReference => {
            print!("{}", crate::config::reference::markdown());
            ExitCode::SUCCESS
        }
        Command::Openapi { out } => {
            let json = crate::admin::openapi_json();
            match out {
                None => {
                    print!("{json}");
                    ExitCode::SUCCESS
                }
                Some(path) => match std::fs::write(&path, json) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => fail(EXIT_FAILURE, &format!("{}: {e}", path.display())),
                },
            }
        }
        Command::CheckConfig(arg) => match Config::load(arg.config.as_deref()) {
            Ok(config) => {
                print!("{}", config.to_redacted_toml());
                ExitCode::SUCCESS
            }
            Err(e) => fail(EXIT_CONFIG, &e),
        },
        Command::Migrate(arg) => {
            with_config_logging_to(arg, LogOutput::Stderr, |mut config| async move {
                let _cluster = crate::embedded_postgres::attach(&mut config.database)?;
                // One attempt, every step bounded by database.acquire_timeout.
                let pool = store::connect(&config.database).await?;
                store::migrate_within(&pool, &config.database).await?;
                tracing::info!("migrations applied");
                Ok(())
            })
        }
        Command::Sweep(arg) => {
            with_config_logging_to(arg, LogOutput::Stderr, |mut config| async move {
                let _cluster = crate::embedded_postgres::attach(&mut config.database)?;
                let pool = store::connect(&config.database).await?;
                let report = Sweeper::new(pool, &config)
                    .run_once(chrono::Utc::now())
                    .await?;
                println!("{}", serde_json::to_string_pretty(&report)?);
                Ok(())
            })
        }
        Command::Serve(arg) => with_config(arg, |mut config| async move {
            // Dropped after the server stopped (or failed to start): stops the private cluster.
            let _cluster = crate::embedded_postgres::attach(&mut config.database)?;
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped().await?;
            Ok(())
        }),
    }
}

/// Runs `body` with the loaded configuration, logging to stdout (the service).
fn with_config<F, Fut>(arg: ConfigArg, body: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    with_config_logging_to(arg, LogOutput::Stdout, body)
}

/// Like [`with_config`], logging to `logs`: one-shot commands log to stderr so that their stdout
/// is only their output.
fn with_config_logging_to<F, Fut>(arg: ConfigArg, logs: LogOutput, body: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = match Config::load(arg.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(EXIT_FAILURE, &e),
    };
    let traces = match Traces::start(&config.telemetry.traces, runtime.handle().clone()) {
        Ok(traces) => traces,
        Err(e) => return fail(EXIT_CONFIG, &e),
    };
    telemetry::init_with_traces(&config.log, logs, traces.as_ref());
    let grace = config.server.shutdown_grace.get();
    let outcome = runtime.block_on(body(config));
    if let Some(traces) = traces {
        // The last batch: spans of the requests drained at shutdown.
        runtime.block_on(traces.shutdown(grace));
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stopped");
            fail(EXIT_FAILURE, &e)
        }
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("mcp-auth-bridge: {error}");
    ExitCode::from(code)
}
