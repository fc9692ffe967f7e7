use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: measured on the gateway's hot path
/// (`bench/gateway.sh`), where glibc's malloc and free were the largest user-space cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    mcp_auth_bridge::cli::run(mcp_auth_bridge::cli::Cli::parse())
}
