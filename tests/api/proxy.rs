//! The gateway's reverse proxy in front of a real demo MCP server on loopback: the Streamable
//! HTTP transport through it, identity headers, SSE while open, failures, and replay after 401.
//! No database: the proxy is independent of authentication.

mod failures;
mod hygiene;
mod identity;
mod pooling;
mod replay;
mod streams;
mod support;
mod transport;
