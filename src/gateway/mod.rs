//! The gateway in front of MCP servers: `/t/{t}/mcp/{server}/…`.
//!
//! [`proxy`] is the reverse proxy itself: given an [`Identity`] and the MCP server's URL it
//! forwards one request (streaming both ways, SSE included), replaces whatever identity headers
//! the client sent with the gateway's own, and answers gateway failures as JSON. It knows
//! nothing of tokens; the bearer-auth layer in front of it decides who the request is for.

mod body;
mod headers;
mod identity;
pub mod proxy;
mod target;
mod upstream_error;

pub use identity::Identity;
pub use proxy::{Forwarded, Proxy, Replay};
