//! What one sweep did, as the CLI prints it, the log line says it and Prometheus counts it.

use std::{collections::BTreeMap, time::Duration};

use serde::{Serialize, Serializer};

/// The outcome of one [`Sweeper::run_once`](super::Sweeper::run_once).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SweepReport {
    /// Another replica held the sweeper lock, so this one did nothing this round.
    pub skipped: bool,
    /// Shutdown was signalled and the sweep stopped between two batches.
    pub interrupted: bool,
    /// Rows deleted per kind (only the rows a kind's own rule deleted, not cascades).
    pub deleted: BTreeMap<&'static str, u64>,
    /// Delete statements run per kind (the last one of a kind deletes less than a full batch).
    pub batches: BTreeMap<&'static str, u32>,
    /// Kinds that hit the per-run batch cap; what is left waits for the next round.
    pub capped: Vec<&'static str>,
    /// The longest single delete statement: about the longest a request touching the same
    /// rows could have waited for the sweeper.
    #[serde(rename = "slowest_batch_seconds", serialize_with = "seconds")]
    pub slowest_batch: Duration,
    /// Wall time of the sweep, lock and bookkeeping included.
    #[serde(rename = "duration_seconds", serialize_with = "seconds")]
    pub duration: Duration,
}

impl SweepReport {
    pub(super) fn skipped(duration: Duration) -> Self {
        Self {
            skipped: true,
            duration,
            ..Self::default()
        }
    }

    /// All rows deleted, every kind together.
    pub fn total_deleted(&self) -> u64 {
        self.deleted.values().sum()
    }

    /// All delete statements run, every kind together.
    pub fn total_batches(&self) -> u32 {
        self.batches.values().sum()
    }

    /// The label of `sweeper_runs_total{outcome}`.
    pub(super) fn outcome(&self) -> &'static str {
        if self.skipped {
            "skipped"
        } else if self.interrupted {
            "interrupted"
        } else {
            "ok"
        }
    }

    /// Emits the metrics and the one log line of a finished sweep (deleted rows are counted
    /// per batch as they go, so a failed sweep still counts what it deleted).
    pub(super) fn publish(&self) {
        metrics::counter!("sweeper_runs_total", "outcome" => self.outcome()).increment(1);
        if self.skipped {
            tracing::info!("sweep skipped: another replica holds the sweeper lock");
            return;
        }
        metrics::histogram!("sweeper_duration_seconds").record(self.duration.as_secs_f64());
        tracing::info!(
            deleted = ?self.deleted,
            total = self.total_deleted(),
            batches = self.total_batches(),
            interrupted = self.interrupted,
            capped = ?self.capped,
            slowest_batch_ms = self.slowest_batch.as_millis() as u64,
            duration_ms = self.duration.as_millis() as u64,
            "sweep finished"
        );
    }
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
