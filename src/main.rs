use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    mcp_auth_bridge::cli::run(mcp_auth_bridge::cli::Cli::parse())
}
