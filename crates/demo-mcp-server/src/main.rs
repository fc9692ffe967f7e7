//! `demo-mcp-server`: the demo MCP server (Streamable HTTP at `/mcp`, in-memory sessions, no
//! configuration file, no database) until SIGINT/SIGTERM. The docker-compose demo and the
//! interop run put it behind the bridge's gateway.

use std::{io::IsTerminal, net::SocketAddr, process::ExitCode};

use clap::Parser;
use demo_mcp_server::DemoMcpOptions;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "demo-mcp-server",
    version,
    about = "A small real MCP server (Streamable HTTP, SSE) to put behind mcp-auth-bridge's gateway"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    bind: SocketAddr,
    /// When set, every POST first checks the `X-Auth-Upstream-Token` against this URL and
    /// answers 401 when that URL does.
    #[arg(long)]
    upstream_check_url: Option<url::Url>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        // Colour codes only on a terminal: the interop run and compose write the logs to files.
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let options = DemoMcpOptions {
        upstream_check_url: cli.upstream_check_url,
        ..Default::default()
    };
    let run = |rt: tokio::runtime::Runtime| {
        rt.block_on(demo_mcp_server::run_until_signal(cli.bind, options))
    };
    match tokio::runtime::Runtime::new().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-mcp-server: {e}");
            ExitCode::FAILURE
        }
    }
}
