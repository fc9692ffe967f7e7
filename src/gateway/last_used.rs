//! "Last used" of grants, for the account page, without a write per request: each replica
//! remembers the grants it marked within `gateway.last_used_interval` and marks a grant again
//! only after that; the update itself skips rows marked within the interval, so several
//! replicas together still write a grant at most once per interval. The write runs in the
//! background: a request never waits for it, and a failure only leaves the time older.

use std::time::Duration;

use chrono::Utc;
use moka::future::Cache;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone)]
pub struct LastUsed {
    marked: Cache<Uuid, ()>,
    interval_secs: i64,
}

impl LastUsed {
    pub fn new(interval: Duration, capacity: u64) -> Self {
        Self {
            marked: Cache::builder()
                .time_to_live(interval.max(Duration::from_secs(1)))
                .max_capacity(capacity)
                .build(),
            interval_secs: i64::try_from(interval.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Records that `grant` is being used now, unless this replica did so within the interval.
    pub async fn note(&self, pool: &PgPool, grant: Uuid) {
        let entry = self.marked.entry(grant).or_insert(()).await;
        if !entry.is_fresh() {
            return;
        }
        let (pool, interval) = (pool.clone(), self.interval_secs);
        tokio::spawn(async move {
            let marked =
                crate::store::grant_usage::mark_used(&pool, grant, Utc::now(), interval).await;
            if let Err(error) = marked {
                tracing::debug!(%grant, %error, "could not record the grant's last use");
            }
        });
    }
}
