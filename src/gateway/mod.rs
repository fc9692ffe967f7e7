//! The gateway in front of MCP servers: `/t/{t}/mcp/{server}/…`.
//!
//! [`proxy`] is the reverse proxy itself: given an [`Identity`] and the MCP server's URL it
//! forwards one request (streaming both ways, SSE included), replaces whatever identity headers
//! the client sent with the gateway's own, and answers gateway failures as JSON. It knows
//! nothing of tokens; the bearer-auth layer in front of it ([`auth`]) decides who the request is
//! for, and [`user_cache`] remembers who that is.

pub mod assertion;
pub mod auth;
mod body;
pub mod caches;
pub mod challenge;
mod clock;
pub mod enforce;
mod handler;
mod headers;
mod identity;
mod interned;
pub mod last_used;
mod list_filter;
pub mod proxy;
mod proxy_client;
mod remote_oauth;
pub mod routes;
mod spoofed;
mod state;
pub mod stream_end;
mod target;
pub mod target_key;
pub mod token_cache;
pub mod token_claims;
pub mod token_states;
mod upstream_body;
mod upstream_client;
mod upstream_error;
mod upstream_metrics;
mod upstream_pool;
pub mod upstream_token;
pub mod user_cache;
mod user_loader;

pub use caches::Gateway;
pub use identity::{Identity, IdentityHeaders};
pub use proxy::{AdminConfigured, Forwarded, Proxy, Replay};
pub use state::{GatewayShared, GatewayState};
pub use stream_end::Draining;
