//! "Last used" of grants, for the account page, without a write per request: each replica
//! remembers the grants it marked within `gateway.last_used_interval` and marks a grant again
//! only after that; the update itself skips rows marked within the interval, so several
//! replicas together still write a grant at most once per interval.
//!
//! The marks are written in batches: the first grant to mark opens a short window
//! ([`BATCH_WINDOW`]), every grant marked meanwhile joins it, and one statement writes them
//! all when it closes. Marking one statement per grant made a population of users who each
//! call now and then pay a database write on nearly every request (the round-robin row of the
//! gateway benchmark: 1.5 transactions per request). A request never waits for the write, and
//! a failure only leaves the time older.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use moka::future::Cache;
use sqlx::PgPool;
use uuid::Uuid;

/// How long marks are collected before they are written together.
pub const BATCH_WINDOW: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct LastUsed {
    marked: Cache<Uuid, ()>,
    interval_secs: i64,
    /// Grants waiting for the open batch's write; empty when no batch is open.
    pending: Arc<Mutex<Vec<Uuid>>>,
}

impl LastUsed {
    pub fn new(interval: Duration, capacity: u64) -> Self {
        Self {
            marked: Cache::builder()
                .time_to_live(interval.max(Duration::from_secs(1)))
                .max_capacity(capacity)
                .build(),
            interval_secs: i64::try_from(interval.as_secs()).unwrap_or(i64::MAX),
            pending: Arc::default(),
        }
    }

    /// Records that `grant` is being used now, unless this replica did so within the interval.
    pub async fn note(&self, pool: &PgPool, grant: Uuid) {
        // Nearly every request finds its grant marked: a plain lookup allocates nothing, where
        // `entry` allocates its key's `Arc` whether or not it inserts.
        if self.marked.contains_key(&grant) {
            return;
        }
        let entry = self.marked.entry(grant).or_insert(()).await;
        if !entry.is_fresh() {
            return;
        }
        let opens_batch = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.push(grant);
            pending.len() == 1
        };
        if !opens_batch {
            return;
        }
        let (pool, interval, pending) = (pool.clone(), self.interval_secs, self.pending.clone());
        tokio::spawn(async move {
            tokio::time::sleep(BATCH_WINDOW).await;
            let grants = std::mem::take(&mut *pending.lock().unwrap_or_else(|e| e.into_inner()));
            let marked =
                crate::store::grant_usage::mark_many_used(&pool, &grants, Utc::now(), interval)
                    .await;
            if let Err(error) = marked {
                tracing::debug!(grants = grants.len(), %error, "could not record the grants' last use");
            }
        });
    }
}
