//! The background sweeper: deletes expired authorization codes, pending authorizations,
//! tokens past their retention, orphaned grants and never-used dynamic clients.
//!
//! [`Sweeper::run_once`] does one sweep at a given `now` and returns a [`SweepReport`]; tests and
//! `mcp-auth-bridge sweep` call it directly. [`Sweeper::spawn`] is the thin loop `serve` runs:
//! once at start-up, then every `auth.cleanup_interval`. Replicas share the work safely: a sweep
//! runs only while holding a Postgres advisory lock, so at most one replica sweeps at a time.
//! What is due, and why, is documented on [`SweepKind`].

mod report;
mod run;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::{sync::watch, task::JoinHandle};

pub use crate::store::sweeper::SweepKind;
use crate::{config::Config, store::StoreError};
pub use report::SweepReport;

/// How hard one sweep works. The defaults suit production; tests shrink the batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepOptions {
    /// Rows deleted per statement. Small enough that one batch holds its row locks for a few
    /// milliseconds; large enough that a big backlog is cleared in few round trips.
    pub batch_size: u32,
    /// Most statements per kind in one run (so the most rows one run deletes per kind is
    /// `batch_size * max_batches_per_kind`); a bigger backlog continues next round. Per kind
    /// rather than per run so a huge backlog of one kind cannot starve the others.
    pub max_batches_per_kind: u32,
    /// How long one batch may wait for a lock before the sweep gives up until next round.
    pub lock_timeout: Duration,
    /// The order expired authorization codes are deleted in.
    pub code_order: CodeOrder,
}

/// The order the sweeper deletes expired authorization codes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CodeOrder {
    /// Page by page through the table: each page is modified once, by one batch, which keeps
    /// the cost of a batch flat however large the table grows (see
    /// [`HeapPosition`](crate::store::sweeper_heap::HeapPosition)).
    #[default]
    Heap,
    /// By `expires_at`, along its index: the order before the heap walk, kept as the
    /// reference the sweeper benchmark measures the heap walk against.
    Expiry,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            batch_size: 1_000,
            max_batches_per_kind: 1_000,
            lock_timeout: Duration::from_secs(2),
            code_order: CodeOrder::Heap,
        }
    }
}

/// Why a sweep failed. It is logged and retried next interval; nothing else depends on it.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("sweeper cannot open its connection: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("sweep failed: {0}")]
    Store(#[from] StoreError),
}

/// The sweeper of one replica. Cheap to build; holds the pool and the lifetimes it needs.
pub struct Sweeper {
    pool: PgPool,
    /// `None` when `auth.cleanup_interval` is zero: the sweeper is disabled.
    interval: Option<Duration>,
    retention: chrono::Duration,
    unused_client_ttl: chrono::Duration,
    options: SweepOptions,
}

/// `sweeper_runs` rows are kept this long.
const RUN_LOG_RETENTION: chrono::Duration = chrono::Duration::days(30);

impl Sweeper {
    /// Takes `auth.cleanup_interval`, `auth.retention` and `registration.unused_client_ttl` from
    /// the configuration, and default [`SweepOptions`].
    pub fn new(pool: PgPool, config: &Config) -> Self {
        let interval = config.auth.cleanup_interval;
        Self {
            pool,
            interval: (!interval.is_zero()).then(|| interval.get()),
            retention: config.auth.retention.to_chrono(),
            unused_client_ttl: config.registration.unused_client_ttl.to_chrono(),
            options: SweepOptions::default(),
        }
    }

    /// Replaces the batch size, batch cap and lock timeout (tests, the benchmark).
    pub fn with_options(mut self, options: SweepOptions) -> Self {
        self.options = options;
        self
    }

    /// One sweep at `now`, to completion (or the batch cap). Returns `skipped` when another
    /// replica is sweeping.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<SweepReport, SweepError> {
        let (_never, shutdown) = watch::channel(false);
        self.run_until(now, &shutdown).await
    }

    /// Like [`Sweeper::run_once`], but stops between two batches once `shutdown` is `true`
    /// (the report then says `interrupted`), so a long sweep never delays shutdown by more
    /// than one batch.
    pub async fn run_until(
        &self,
        now: DateTime<Utc>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<SweepReport, SweepError> {
        run::sweep(self, now, shutdown).await
    }

    /// Runs a sweep now and then every `auth.cleanup_interval` until `shutdown` turns `true`
    /// (or its sender is dropped: nobody is left to stop us). A failed sweep is logged and
    /// retried next interval. With a zero interval the task ends at once.
    pub fn spawn(self, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let Some(interval) = self.interval else {
                tracing::info!("sweeper disabled (auth.cleanup_interval = 0)");
                return;
            };
            while !*shutdown.borrow() {
                if let Err(e) = self.run_until(Utc::now(), &shutdown).await {
                    tracing::warn!(error = %e, "sweep failed; retrying next interval");
                }
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
            }
            tracing::info!("sweeper stopped");
        })
    }
}
