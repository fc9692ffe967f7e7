//! The user-context cache: who is behind a grant, as the upstream says, kept for
//! `auth.cache_ttl`. Concurrent misses for one grant share one load (moka's `try_get_with`), so
//! however many requests race after a cold start or a TTL expiry, the upstream sees one
//! userinfo call per grant.
//!
//! When that load fails for a reason other than "the user must authorize again" (the IdP is
//! down, slow or answering 5xx after the loader's own retries), the last context loaded for the
//! grant is served instead, for up to `auth.stale_if_error` after it expired: RFC 5861's
//! `stale-if-error`, applied here. A context served that way is kept for a few seconds only, so
//! the IdP is asked again soon but not by every request while it is failing.
//!
//! What is kept is a [`CachedUser`], not the whole [`UserContext`]: the gateway forwards the
//! email and the display name only, and the provider's raw claims (the whole userinfo answer,
//! the larger part of a context) cost memory per user for nothing (issue 13, item 4).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, future::Cache};
use uuid::Uuid;

use crate::domain::{MappedClaims, UserContext};

/// Why a user context could not be loaded: the same reasons as for an upstream token.
pub use super::upstream_token::TokenProblem as LoadError;

/// How long a stale context, once served, is kept before the IdP is asked again.
const STALE_RECHECK: Duration = Duration::from_secs(2);

/// What the gateway keeps of a user context: what it forwards (identity headers, assertion).
/// The subject comes from the access token, the raw claims are not needed here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CachedUser {
    pub email: Option<Box<str>>,
    /// Display name.
    pub name: Option<Box<str>>,
    /// What the provider's claim mapping kept (bounded: `domain::claims`); empty for most
    /// providers, which map nothing.
    pub claims: MappedClaims,
}

impl From<UserContext> for CachedUser {
    fn from(user: UserContext) -> Self {
        Self {
            email: user.email.map(String::into_boxed_str),
            name: user.name.map(String::into_boxed_str),
            claims: user.mapped,
        }
    }
}

/// A cached context and how long this entry lives (the TTL, or less when it is a stale one).
#[derive(Clone)]
struct Entry {
    user: Arc<CachedUser>,
    lives: Duration,
}

struct PerEntry;

impl Expiry<Uuid, Entry> for PerEntry {
    fn expire_after_create(&self, _: &Uuid, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.lives)
    }
}

/// The last context loaded from the IdP for a grant, and when.
#[derive(Clone)]
struct LastGood {
    user: Arc<CachedUser>,
    loaded: Instant,
}

#[derive(Clone)]
pub struct UserContexts {
    cache: Cache<Uuid, Entry>,
    /// Kept for `ttl + stale_if_error`; empty when `stale_if_error` is zero.
    last_good: Cache<Uuid, LastGood>,
    ttl: Duration,
    stale_if_error: Duration,
}

impl UserContexts {
    pub fn new(ttl: Duration, stale_if_error: Duration, capacity: u64) -> Self {
        let cache = Cache::builder()
            .expire_after(PerEntry)
            .max_capacity(capacity)
            .eviction_listener(|_, _, cause| {
                metrics::counter!("user_context_cache_evictions_total", "cause" => format!("{cause:?}")).increment(1);
            })
            .build();
        let last_good = Cache::builder()
            .time_to_live(ttl.saturating_add(stale_if_error))
            .max_capacity(if stale_if_error.is_zero() {
                0
            } else {
                capacity
            })
            .build();
        Self {
            cache,
            last_good,
            ttl,
            stale_if_error,
        }
    }

    /// The cached context, or the result of `load()` shared by every concurrent caller (or, when
    /// it failed transiently, the last good context within `stale_if_error`). `load` is called
    /// only on a miss: building the load future is not free.
    pub async fn get_or_load<F, Fut>(
        &self,
        grant: Uuid,
        load: F,
    ) -> Result<Arc<CachedUser>, LoadError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<UserContext, LoadError>>,
    {
        if let Some(hit) = self.cache.get(&grant).await {
            metrics::counter!("user_context_cache_hits_total").increment(1);
            return Ok(hit.user);
        }
        metrics::counter!("user_context_cache_misses_total").increment(1);
        self.cache
            .try_get_with(grant, async move {
                metrics::counter!("user_context_cache_loads_total").increment(1);
                match load().await {
                    Ok(user) => Ok(self.loaded(grant, user).await),
                    Err(problem) => self.stale(grant, problem).await,
                }
            })
            .await
            .map(|entry| entry.user)
            .map_err(|e: Arc<LoadError>| {
                metrics::counter!("user_context_cache_load_failures_total").increment(1);
                (*e).clone()
            })
    }

    async fn loaded(&self, grant: Uuid, user: UserContext) -> Entry {
        let user = Arc::new(CachedUser::from(user));
        if !self.stale_if_error.is_zero() {
            let loaded = Instant::now();
            let last = LastGood {
                user: user.clone(),
                loaded,
            };
            self.last_good.insert(grant, last).await;
        }
        Entry {
            user,
            lives: self.ttl,
        }
    }

    /// The last good context if the failure allows it and it expired less than
    /// `stale_if_error` ago; else the failure.
    async fn stale(&self, grant: Uuid, problem: LoadError) -> Result<Entry, LoadError> {
        if matches!(problem, LoadError::NeedsReauth) {
            return Err(problem);
        }
        let window = self.ttl.saturating_add(self.stale_if_error);
        let Some(last) = self.last_good.get(&grant).await else {
            return Err(problem);
        };
        let age = last.loaded.elapsed();
        let Some(left) = window.checked_sub(age).filter(|left| !left.is_zero()) else {
            return Err(problem);
        };
        metrics::counter!("user_context_stale_served_total").increment(1);
        tracing::warn!(
            %grant,
            reason = %problem,
            age_seconds = age.as_secs(),
            "the user context cannot be loaded; serving the last one (stale_if_error)"
        );
        Ok(Entry {
            user: last.user,
            lives: left.min(STALE_RECHECK),
        })
    }

    /// Drops a grant's entry (revocation, refresh that changed the user, needs_reauth), stale
    /// copy included.
    pub async fn forget(&self, grant: Uuid) {
        self.cache.invalidate(&grant).await;
        self.last_good.invalidate(&grant).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
        self.last_good.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs moka's pending housekeeping now (evictions, counts): for measurements.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
        self.last_good.run_pending_tasks().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserContext {
        UserContext {
            subject: "s".into(),
            email: None,
            name: Some(name.into()),
            username: None,
            provider: "p".into(),
            claims: serde_json::Value::Null,
            mapped: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_transient_failure_after_the_ttl_serves_the_last_context_within_the_window() {
        let users = UserContexts::new(Duration::from_millis(100), Duration::from_millis(400), 10);
        let grant = Uuid::new_v4();
        users
            .get_or_load(grant, || async { Ok(user("a")) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;

        let down = || async { Err(LoadError::Unavailable(1)) };
        let stale = users.get_or_load(grant, down).await.unwrap();
        assert_eq!(stale.name.as_deref(), Some("a"));

        tokio::time::sleep(Duration::from_millis(400)).await;
        let gone = users.get_or_load(grant, down).await;
        assert!(matches!(gone, Err(LoadError::Unavailable(1))));
    }

    #[tokio::test]
    async fn needs_reauth_is_never_answered_with_a_stale_context() {
        let users = UserContexts::new(Duration::from_millis(50), Duration::from_secs(60), 10);
        let grant = Uuid::new_v4();
        users
            .get_or_load(grant, || async { Ok(user("a")) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;

        let refused = users
            .get_or_load(grant, || async { Err(LoadError::NeedsReauth) })
            .await;
        assert!(matches!(refused, Err(LoadError::NeedsReauth)));
    }

    #[tokio::test]
    async fn a_zero_window_serves_nothing_stale() {
        let users = UserContexts::new(Duration::from_millis(50), Duration::ZERO, 10);
        let grant = Uuid::new_v4();
        users
            .get_or_load(grant, || async { Ok(user("a")) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;

        let down = users
            .get_or_load(grant, || async { Err(LoadError::Unavailable(1)) })
            .await;
        assert!(matches!(down, Err(LoadError::Unavailable(1))));
    }
}
