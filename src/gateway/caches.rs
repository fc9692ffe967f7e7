//! The gateway's in-memory state: resolved targets, verified tokens, token states, user contexts.
//!
//! What is cached and for how long, and why revocation still bites:
//! * targets (tenant + MCP server) for 5 s: configuration changes show within 5 s;
//! * verified JWT claims by token hash for an hour (each use still checks `exp`; revocation is
//!   enforced by the token state below, not by this cache): a signature is checked once;
//! * the token's revocation state by `jti` for 5 minutes while the cache-coherence listener is
//!   subscribed, else 1 s (`token_states.rs`), dropped at once on a revocation here or on
//!   another replica (pushed by the listener);
//! * user contexts by grant for `auth.cache_ttl` (and, while the IdP fails, the last one for
//!   up to `auth.stale_if_error` after that);
//! * the identity headers by `jti` (with the signed `X-Auth-Assertion`) for half the
//!   assertion's 60 s lifetime, and only while the user context they were built from is the
//!   cached one: signing was the single largest cost of a gateway request, and encoding the
//!   headers the next.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use uuid::Uuid;

use super::{
    Draining, IdentityHeaders, Proxy,
    user_cache::{CachedUser, UserContexts},
};
use crate::{
    config::Config,
    domain::McpServer,
    store::notify::{CacheEvent, Heartbeat},
    tenancy::TenantContext,
    tokens::AccessClaims,
};

use super::token_states::TokenStates;

/// An MCP server behind the gateway, with what its responses need.
pub struct Target {
    pub ctx: TenantContext,
    pub server: McpServer,
    pub upstream: url::Url,
    pub resource_url: String,
    pub metadata_url: String,
    pub scopes: Vec<String>,
    /// The server's per-tool policy and claim-header opt-in (`enforce.rs`).
    pub policy: super::enforce::ServerPolicy,
}

/// Identity headers as built for one access token from one user context.
pub struct CachedIdentity {
    /// The context they were built from: when the user cache holds another one (reloaded after
    /// its TTL or a change), the headers are built again.
    pub user: Arc<CachedUser>,
    pub headers: IdentityHeaders,
}

#[derive(Clone)]
pub struct Gateway {
    pub proxy: Proxy,
    pub targets: Cache<(String, String), Arc<Target>>,
    pub verified: Cache<[u8; 32], Arc<AccessClaims>>,
    pub token_states: TokenStates,
    pub users: UserContexts,
    pub identities: Cache<Uuid, Arc<CachedIdentity>>,
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
            verified: Cache::builder()
                .time_to_live(Duration::from_secs(3600))
                .max_capacity(config.auth.cache_capacity)
                .build(),
            token_states: TokenStates::new(config.auth.cache_capacity),
            users: UserContexts::new(
                config.auth.cache_ttl.get(),
                config.auth.stale_if_error.get(),
                config.auth.cache_capacity,
            ),
            identities: Cache::builder()
                .time_to_live(Duration::from_secs(
                    super::assertion::LIFETIME_SECS as u64 / 2,
                ))
                .max_capacity(config.auth.cache_capacity)
                .build(),
        }
    }

    /// Called on every local revocation (token, family, grant): the next request re-reads the
    /// database instead of trusting a cached "still valid".
    pub fn forget_token_states(&self) {
        self.token_states.invalidate_all();
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
                self.identities.invalidate_all();
            }
            CacheEvent::TenantChanged { .. } => self.targets.invalidate_all(),
            // The client's tokens went with it (cascade).
            CacheEvent::ClientChanged { .. } => self.forget_token_states(),
            CacheEvent::KeysRotated { .. } => {
                self.verified.invalidate_all();
                self.identities.invalidate_all();
            }
            CacheEvent::FlushAll => self.flush_all(),
        }
    }

    fn flush_all(&self) {
        self.targets.invalidate_all();
        self.verified.invalidate_all();
        self.forget_token_states();
        self.users.forget_all();
        self.identities.invalidate_all();
    }

    /// The coherence listener has subscribed (again): token states read from now on may be
    /// trusted for the long TTL.
    pub fn listener_subscribed(&self) {
        self.token_states.feed().subscribed();
    }

    /// The coherence listener's connection answers its heartbeat late (or on time again).
    pub fn listener_heartbeat(&self, heartbeat: Heartbeat) {
        self.token_states.feed().heartbeat(heartbeat);
    }

    /// The coherence listener lost its connection, or ended, and events may be missed until
    /// it subscribes again: token states fall back to the short TTL, and those read before the
    /// reconnect never regain the long one. Verified claims (kept an hour, which bounds
    /// nothing) are dropped: a missed `KeysRotated` must not leave a withdrawn key's tokens
    /// accepted.
    pub fn listener_lost(&self) {
        self.token_states.feed().lost();
        self.token_states.feed().heartbeat(Heartbeat::OnTime);
        self.verified.invalidate_all();
    }
}
