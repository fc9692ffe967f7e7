//! The gateway's in-memory state: resolved targets, what is kept per access token, user
//! contexts.
//!
//! What is cached and for how long, and why revocation still bites:
//! * targets (tenant + MCP server) for 5 s: configuration changes show within 5 s;
//! * per access token, one entry keyed by the token's hash (`token_cache.rs`) holding
//!   - the verified JWT claims, until the token is unused for an hour (each use still checks
//!     `exp`; revocation is enforced by the token state, not by this): a signature is checked
//!     once;
//!   - the token's revocation state, trusted for 5 minutes while the cache-coherence listener
//!     is subscribed, else 1 s (`token_states.rs`), and untrusted at once on a revocation here
//!     or on another replica (pushed by the listener);
//!   - the `X-Auth-Assertion`'s signature for half the assertion's 60 s lifetime, and only
//!     while the user context it was signed over is the cached one: signing was the single
//!     largest cost of a gateway request (the JWT and the identity headers are encoded again
//!     per request, about a microsecond);
//!
//!   one entry rather than a cache each, because a moka entry costs ~250 bytes of its own;
//! * user contexts by grant for `auth.cache_ttl` (and, while the IdP fails, the last one for
//!   up to `auth.stale_if_error` after that).

use std::{sync::Arc, time::Duration};

use moka::future::Cache;

use super::{Draining, Proxy, token_cache::TokenCache, user_cache::UserContexts};
use crate::{
    config::Config,
    domain::McpServer,
    store::notify::{CacheEvent, Heartbeat},
    tenancy::TenantContext,
};

/// An MCP server behind the gateway, with what its responses need.
pub struct Target {
    pub ctx: TenantContext,
    pub server: McpServer,
    pub upstream: url::Url,
    pub resource_url: String,
    pub metadata_url: String,
    /// What a `401` asks for: the server's scopes less its policy's step-up ones (`auth.rs`).
    pub scopes: Vec<String>,
    /// The server's per-tool policy and claim-header opt-in (`enforce.rs`).
    pub policy: super::enforce::ServerPolicy,
}

#[derive(Clone)]
pub struct Gateway {
    pub proxy: Proxy,
    /// By tenant slug and server name, looked up without copying them (`target_key.rs`).
    pub targets: Cache<super::target_key::TargetKey, Arc<Target>>,
    /// Claims, state and assertion signature per access token.
    pub tokens: TokenCache,
    pub users: UserContexts,
    /// Grants whose last use this replica recorded within `gateway.last_used_interval`.
    pub last_used: super::last_used::LastUsed,
    /// Started when shutdown starts: relayed SSE streams then end at an event boundary.
    pub draining: Draining,
}

impl Gateway {
    pub fn new(config: &Config) -> Self {
        let draining = Draining::default();
        Self {
            proxy: Proxy::new(&config.gateway)
                .with_network(
                    &config.gateway,
                    &config.server.trusted_proxies,
                    crate::net_guard::UpstreamGuard::new(&config.admin.allowed_upstream_hosts),
                )
                .ending_streams_on(draining.clone()),
            draining,
            last_used: super::last_used::LastUsed::new(
                config.gateway.last_used_interval.get(),
                config.auth.cache_capacity,
            ),
            targets: Cache::builder()
                .time_to_live(Duration::from_secs(5))
                .max_capacity(10_000)
                .build(),
            tokens: TokenCache::new(config.auth.cache_capacity),
            users: UserContexts::new(
                config.auth.cache_ttl.get(),
                config.auth.stale_if_error.get(),
                config.auth.cache_capacity,
            ),
        }
    }

    /// Called on every local revocation (token, family, grant): the next request re-reads the
    /// database instead of trusting a cached "still valid".
    pub fn forget_token_states(&self) {
        self.tokens.forget_states();
    }

    /// Applies a cache event (from this replica or another) to the gateway's caches: the
    /// coherence module forwards events here and knows nothing of the gateway's fields.
    pub async fn apply(&self, event: &CacheEvent) {
        match event {
            CacheEvent::TokensRevoked => self.forget_token_states(),
            CacheEvent::GrantChanged { grant } => {
                self.users.forget(*grant).await;
                self.forget_token_states();
                // Identity headers carry the user's email and name.
                self.tokens.forget_identities();
            }
            CacheEvent::TenantChanged { .. } => self.targets.invalidate_all(),
            // The client's tokens went with it (cascade).
            CacheEvent::ClientChanged { .. } => self.forget_token_states(),
            // Claims verified with a withdrawn key, assertions signed with one.
            CacheEvent::KeysRotated { .. } => {
                self.tokens.forget_claims();
                self.tokens.forget_identities();
            }
            CacheEvent::FlushAll => self.flush_all(),
        }
    }

    fn flush_all(&self) {
        self.targets.invalidate_all();
        self.tokens.forget_all();
        self.forget_token_states();
        self.users.forget_all();
    }

    /// The coherence listener has subscribed (again): token states read from now on may be
    /// trusted for the long TTL.
    pub fn listener_subscribed(&self) {
        self.tokens.feed().subscribed();
    }

    /// The coherence listener's connection answers its heartbeat late (or on time again).
    pub fn listener_heartbeat(&self, heartbeat: Heartbeat) {
        self.tokens.feed().heartbeat(heartbeat);
    }

    /// The coherence listener lost its connection, or ended, and events may be missed until
    /// it subscribes again: token states fall back to the short TTL, and those read before the
    /// reconnect never regain the long one. Verified claims (kept while the token is in use,
    /// which bounds nothing) are dropped: a missed `KeysRotated` must not leave a withdrawn key's tokens
    /// accepted: each token is verified again, its state and assertion signature stay
    /// (`token_cache.rs`).
    pub fn listener_lost(&self) {
        self.tokens.feed().lost();
        self.tokens.feed().heartbeat(Heartbeat::OnTime);
        self.tokens.forget_claims();
    }
}
