//! One sweep: take the lock on a dedicated connection, delete kind by kind in bounded batches,
//! record the run, release the lock.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use super::{RUN_LOG_RETENTION, SweepError, SweepReport, Sweeper};
use crate::store::sweeper::{self as sql, Cutoffs, SweepKind};

pub(super) async fn sweep(
    sweeper: &Sweeper,
    now: DateTime<Utc>,
    shutdown: &watch::Receiver<bool>,
) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    // A connection of its own, outside the pool: a session-level advisory lock on a pooled
    // connection would go back to the pool still held if anything failed before the unlock.
    // Closing (or dropping) this one always releases it.
    let mut conn = PgConnection::connect_with(&sweeper.pool.connect_options())
        .await
        .map_err(SweepError::Connect)?;
    let result = locked(sweeper, &mut conn, now, shutdown, started).await;
    // Closing ends the session and with it the lock, whether or not `locked` got to unlock.
    let _ = conn.close().await;
    if let Err(e) = &result {
        metrics::counter!("sweeper_runs_total", "outcome" => "error").increment(1);
        tracing::warn!(error = %e, "sweep failed");
    }
    result
}

async fn locked(
    sweeper: &Sweeper,
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    shutdown: &watch::Receiver<bool>,
    started: Instant,
) -> Result<SweepReport, SweepError> {
    if !sql::try_lock(conn).await? {
        let report = SweepReport::skipped(started.elapsed());
        report.publish();
        return Ok(report);
    }
    let lock_timeout_ms = sweeper.options.lock_timeout.as_millis().max(1);
    sql::set_lock_timeout(conn, u64::try_from(lock_timeout_ms).unwrap_or(u64::MAX)).await?;
    let run_id = sql::start_run(&sweeper.pool, now).await?;
    let mut report = SweepReport::default();
    let outcome = delete_all(sweeper, conn, &cutoffs(sweeper, now), shutdown, &mut report).await;
    report.duration = started.elapsed();
    let error = outcome.as_ref().err().map(ToString::to_string);
    let finished_at = now + chrono::Duration::from_std(report.duration).unwrap_or_default();
    let deleted = serde_json::to_value(&report.deleted).unwrap_or_default();
    sql::finish_run(
        &sweeper.pool,
        run_id,
        finished_at,
        deleted,
        error.as_deref(),
    )
    .await?;
    sql::unlock(conn).await?;
    outcome?;
    report.publish();
    Ok(report)
}

/// Every kind in order until shutdown is signalled; stops at the first failing batch (the
/// counts so far stay in the report, and so in `sweeper_runs`).
async fn delete_all(
    sweeper: &Sweeper,
    conn: &mut PgConnection,
    cutoffs: &Cutoffs,
    shutdown: &watch::Receiver<bool>,
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    for kind in SweepKind::ALL {
        let mut tally = Tally::default();
        let outcome = delete_kind(sweeper, conn, kind, cutoffs, shutdown, &mut tally).await;
        report.deleted.insert(kind.as_str(), tally.deleted);
        report.batches.insert(kind.as_str(), tally.batches);
        report.slowest_batch = report.slowest_batch.max(tally.slowest);
        match tally.stop {
            Some(Stop::Shutdown) => {
                report.interrupted = true;
                return outcome;
            }
            Some(Stop::Capped) => report.capped.push(kind.as_str()),
            None => {}
        }
        outcome?;
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    deleted: u64,
    batches: u32,
    slowest: Duration,
    stop: Option<Stop>,
}

enum Stop {
    Shutdown,
    Capped,
}

/// One kind, batch after batch, until a batch comes back short (nothing more is due), the
/// per-kind cap is reached, or shutdown is signalled. Bounded by `max_batches_per_kind`.
async fn delete_kind(
    sweeper: &Sweeper,
    conn: &mut PgConnection,
    kind: SweepKind,
    cutoffs: &Cutoffs,
    shutdown: &watch::Receiver<bool>,
    tally: &mut Tally,
) -> Result<(), SweepError> {
    let size = u64::from(sweeper.options.batch_size.max(1));
    let limit = i64::try_from(size).unwrap_or(i64::MAX);
    let mut cursor = sql::cursor_start();
    loop {
        if *shutdown.borrow() {
            tally.stop = Some(Stop::Shutdown);
            return Ok(());
        }
        if tally.batches >= sweeper.options.max_batches_per_kind {
            tally.stop = Some(Stop::Capped);
            return Ok(());
        }
        tally.batches += 1;
        let started = Instant::now();
        let batch = sql::delete_batch(conn, kind, cutoffs, limit, cursor).await?;
        tally.slowest = tally.slowest.max(started.elapsed());
        let n = batch.deleted;
        cursor = batch.cursor.unwrap_or(cursor);
        tally.deleted += n;
        metrics::counter!("sweeper_deleted_rows_total", "kind" => kind.as_str()).increment(n);
        if n < size {
            return Ok(());
        }
    }
}

/// The instants that make a row due, from the `now` passed in. A retention so large that
/// subtracting it overflows means "keep everything": the cutoff becomes the Unix epoch.
fn cutoffs(sweeper: &Sweeper, now: DateTime<Utc>) -> Cutoffs {
    let before =
        |age: chrono::Duration| now.checked_sub_signed(age).unwrap_or(DateTime::UNIX_EPOCH);
    Cutoffs {
        now,
        retained_before: before(sweeper.retention),
        unused_clients_before: before(sweeper.unused_client_ttl),
        runs_before: before(RUN_LOG_RETENTION),
    }
}
