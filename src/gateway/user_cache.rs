//! The user-context cache: who is behind a grant, as the upstream says, kept for
//! `auth.cache_ttl`. Concurrent misses for one grant share one load (moka's `try_get_with`), so
//! however many requests race after a cold start or a TTL expiry, the upstream sees one
//! userinfo call per grant.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;
use uuid::Uuid;

use crate::domain::UserContext;

/// Why a user context could not be loaded: the same reasons as for an upstream token.
pub use super::upstream_token::TokenProblem as LoadError;

#[derive(Clone)]
pub struct UserContexts {
    cache: Cache<Uuid, Arc<UserContext>>,
}

impl UserContexts {
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        let cache = Cache::builder()
            .time_to_live(ttl)
            .max_capacity(capacity)
            .eviction_listener(|_, _, cause| {
                metrics::counter!("user_context_cache_evictions_total", "cause" => format!("{cause:?}")).increment(1);
            })
            .build();
        Self { cache }
    }

    /// The cached context, or the result of `load()` shared by every concurrent caller. `load`
    /// is called only on a miss: building the load future is not free.
    pub async fn get_or_load<F, Fut>(
        &self,
        grant: Uuid,
        load: F,
    ) -> Result<Arc<UserContext>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UserContext, LoadError>>,
    {
        if let Some(hit) = self.cache.get(&grant).await {
            metrics::counter!("user_context_cache_hits_total").increment(1);
            return Ok(hit);
        }
        metrics::counter!("user_context_cache_misses_total").increment(1);
        self.cache
            .try_get_with(grant, async move {
                metrics::counter!("user_context_cache_loads_total").increment(1);
                load().await.map(Arc::new)
            })
            .await
            .map_err(|e: Arc<LoadError>| {
                metrics::counter!("user_context_cache_load_failures_total").increment(1);
                (*e).clone()
            })
    }

    /// Drops a grant's entry (revocation, refresh that changed the user, needs_reauth).
    pub async fn forget(&self, grant: Uuid) {
        self.cache.invalidate(&grant).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }
}
