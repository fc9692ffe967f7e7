//! The demo MCP server speaks the Streamable HTTP transport (MCP 2025-11-25) over real loopback
//! HTTP: sessions, JSON and SSE answers, the GET stream, errors, and upstream check mode.

mod client_support;
mod errors;
mod sessions;
mod streams;
mod tools;
mod upstream_check;
