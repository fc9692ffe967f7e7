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

use std::{sync::Arc, time::Duration};

use moka::{future::Cache, ops::compute::Op};
use uuid::Uuid;

use super::clock::{Clock, nanos};
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

/// A cached context: served while fresh, kept after that (as the last good one) and served
/// while the IdP fails until `stale_if_error` past its TTL. One entry for both: a moka entry
/// costs ~250 bytes of its own, and a second cache for the stale copies doubled that per user.
///
/// An entry goes once unused for `ttl + stale_if_error` (moka's time to idle): a context in
/// use is loaded again when its TTL ends anyway, and whether a stale one may still be served
/// is decided by its `loaded` time, not by its presence. A per-entry expiry (until
/// `ttl + stale_if_error` after the load) cost each entry a timer-wheel node (~40 bytes per
/// user) for the same outcome.
///
/// Its times are readings of the cache's [`Clock`] (8 bytes each, not an `Instant`'s 16).
#[derive(Clone)]
struct Entry {
    /// `None` only for a grant whose first load failed (see `failure`).
    user: Option<Arc<CachedUser>>,
    /// Until when it is served without asking the IdP (the TTL, or a few seconds for a stale
    /// one served while the IdP fails).
    fresh_until: u64,
    /// When it was loaded from the IdP: it may be served stale until `ttl + stale_if_error`
    /// after that.
    loaded: u64,
    /// The last load's failure and when: callers that were already waiting for that load get
    /// it too rather than asking the IdP again one after the other (as `try_get_with` shared
    /// a failure with every waiter).
    failure: Option<Arc<(LoadError, u64)>>,
}

#[derive(Clone)]
pub struct UserContexts {
    cache: Cache<Uuid, Entry>,
    clock: Clock,
    ttl: Duration,
    stale_if_error: Duration,
}

impl UserContexts {
    pub fn new(ttl: Duration, stale_if_error: Duration, capacity: u64) -> Self {
        let cache = Cache::builder()
            .time_to_idle(ttl.saturating_add(stale_if_error))
            .max_capacity(capacity)
            .eviction_listener(|_, _, cause| {
                metrics::counter!("user_context_cache_evictions_total", "cause" => format!("{cause:?}")).increment(1);
            })
            .build();
        Self {
            cache,
            clock: Clock::new(),
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
        if let Some(hit) = self.cache.get(&grant).await
            && self.clock.now() < hit.fresh_until
            && let Some(user) = hit.user
        {
            metrics::counter!("user_context_cache_hits_total").increment(1);
            return Ok(user);
        }
        metrics::counter!("user_context_cache_misses_total").increment(1);
        let asked = self.clock.now();
        let computed = self
            .cache
            .entry(grant)
            .and_try_compute_with(|current| async move {
                let current = current.map(moka::Entry::into_value);
                if let Some(c) = &current {
                    if c.user.is_some() && self.clock.now() < c.fresh_until {
                        return Ok(Op::Nop);
                    }
                    // A load that failed while this caller waited: its answer too.
                    if let Some(failed) = c.failure.as_ref().filter(|f| f.1 >= asked) {
                        return Err(failed.0.clone());
                    }
                }
                metrics::counter!("user_context_cache_loads_total").increment(1);
                match load().await {
                    Ok(user) => Ok(Op::Put(self.loaded(user))),
                    Err(problem) => Ok(Op::Put(self.stale(grant, current, problem))),
                }
            })
            .await;
        let failed = |problem: LoadError| {
            metrics::counter!("user_context_cache_load_failures_total").increment(1);
            problem
        };
        let entry = computed
            .map_err(failed)?
            .into_entry()
            .map(moka::Entry::into_value);
        match entry {
            Some(Entry {
                user: Some(user),
                failure: None,
                ..
            }) => Ok(user),
            Some(Entry {
                failure: Some(f), ..
            }) => Err(failed(f.0.clone())),
            // `Nop` only on a fresh entry, else `Put` of one with a user or a failure.
            _ => Err(failed(LoadError::Unavailable(1))),
        }
    }

    fn loaded(&self, user: UserContext) -> Entry {
        let now = self.clock.now();
        Entry {
            user: Some(Arc::new(CachedUser::from(user))),
            fresh_until: now.saturating_add(nanos(self.ttl)),
            loaded: now,
            failure: None,
        }
    }

    /// The last good context, served for a few seconds, if the failure allows it and it
    /// expired less than `stale_if_error` ago; else the failure, kept with the last context.
    fn stale(&self, grant: Uuid, last: Option<Entry>, problem: LoadError) -> Entry {
        let now = self.clock.now();
        let window = self.ttl.saturating_add(self.stale_if_error);
        let usable = last.as_ref().filter(|last| {
            !matches!(problem, LoadError::NeedsReauth)
                && !self.stale_if_error.is_zero()
                && last.user.is_some()
                && self.clock.since(last.loaded) < window
        });
        let Some(last) = usable else {
            return Entry {
                failure: Some(Arc::new((problem, now))),
                fresh_until: now,
                ..last.unwrap_or(Entry {
                    user: None,
                    fresh_until: now,
                    loaded: now,
                    failure: None,
                })
            };
        };
        let age = self.clock.since(last.loaded);
        let left = window.saturating_sub(age);
        metrics::counter!("user_context_stale_served_total").increment(1);
        tracing::warn!(
            %grant,
            reason = %problem,
            age_seconds = age.as_secs(),
            "the user context cannot be loaded; serving the last one (stale_if_error)"
        );
        Entry {
            fresh_until: now.saturating_add(nanos(left.min(STALE_RECHECK))),
            failure: None,
            ..last.clone()
        }
    }

    /// Drops a grant's entry (revocation, refresh that changed the user, needs_reauth), stale
    /// copy included.
    pub async fn forget(&self, grant: Uuid) {
        self.cache.invalidate(&grant).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Runs moka's pending housekeeping now (evictions, counts): for measurements.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
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
    async fn a_context_goes_once_unused_for_its_ttl_and_stale_window() {
        let (ttl, stale) = (Duration::from_millis(100), Duration::from_millis(200));
        let users = UserContexts::new(ttl, stale, 10);
        let loads = std::sync::atomic::AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(user("a"))
        };
        let grant = Uuid::new_v4();
        users.get_or_load(grant, load).await.unwrap();
        tokio::time::sleep(ttl / 2).await;
        users.get_or_load(grant, load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);

        tokio::time::sleep((ttl + stale) * 2).await;
        users.run_pending_tasks().await;
        assert_eq!(users.entry_count(), 0, "dropped, not only stale");
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
