//! One sweep: take the lock on a dedicated connection, delete kind by kind in bounded batches,
//! record the run, release the lock.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use super::{CodeOrder, RUN_LOG_RETENTION, SweepError, SweepReport, Sweeper};
use crate::store::{
    sweeper::{self as sql, Cutoffs, SweepKind},
    sweeper_heap::{self as heap, HeapPosition},
    sweeper_runs as runs,
};

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
    if !runs::try_lock(conn).await? {
        let report = SweepReport::skipped(started.elapsed());
        report.publish();
        return Ok(report);
    }
    let lock_timeout_ms = sweeper.options.lock_timeout.as_millis().max(1);
    runs::set_lock_timeout(conn, u64::try_from(lock_timeout_ms).unwrap_or(u64::MAX)).await?;
    runs::relax_commit_durability(conn).await?;
    let run_id = runs::start_run(&sweeper.pool, now).await?;
    let mut report = SweepReport::default();
    let outcome = delete_all(sweeper, conn, &cutoffs(sweeper, now), shutdown, &mut report).await;
    report.duration = started.elapsed();
    let error = outcome.as_ref().err().map(ToString::to_string);
    let finished_at = now + chrono::Duration::from_std(report.duration).unwrap_or_default();
    let deleted = serde_json::to_value(&report.deleted).unwrap_or_default();
    runs::finish_run(
        &sweeper.pool,
        run_id,
        finished_at,
        deleted,
        error.as_deref(),
    )
    .await?;
    runs::unlock(conn).await?;
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

/// One kind, batch after batch, until nothing more is due, the per-kind cap is reached, or
/// shutdown is signalled. Bounded by `max_batches_per_kind`.
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
    let mut walk =
        if kind == SweepKind::AuthorizationCodes && sweeper.options.code_order == CodeOrder::Heap {
            Walk::heap(conn, cutoffs).await?
        } else {
            Walk::Key(sql::cursor_start())
        };
    loop {
        if *shutdown.borrow() {
            tally.stop = Some(Stop::Shutdown);
            return Ok(());
        }
        if walk.is_done() {
            return Ok(());
        }
        if tally.batches >= sweeper.options.max_batches_per_kind {
            tally.stop = Some(Stop::Capped);
            return Ok(());
        }
        tally.batches += 1;
        let started = Instant::now();
        let n = walk.next_batch(conn, kind, cutoffs, limit).await?;
        tally.slowest = tally.slowest.max(started.elapsed());
        tally.deleted += n;
        metrics::counter!("sweeper_deleted_rows_total", "kind" => kind.as_str()).increment(n);
    }
}

/// Where a kind's sweep stands between two batches.
enum Walk {
    /// Along the kind's sort key (or none): done once a batch comes back short.
    Key(DateTime<Utc>),
    /// Authorization codes in heap order (see [`HeapPosition`]): after `after`, up to
    /// `end_page`, the heap's length when the walk started.
    Heap {
        after: HeapPosition,
        end_page: i64,
    },
    Done,
}

impl Walk {
    /// Starts a heap walk, or nothing at all when no code is due.
    async fn heap(conn: &mut PgConnection, cutoffs: &Cutoffs) -> Result<Self, SweepError> {
        if !heap::any_code_due(conn, cutoffs.now).await? {
            return Ok(Walk::Done);
        }
        Ok(Walk::Heap {
            after: HeapPosition::page_start(0),
            end_page: heap::code_heap_pages(conn).await?,
        })
    }

    fn is_done(&self) -> bool {
        match self {
            Walk::Done => true,
            Walk::Heap { after, end_page } => after.page >= *end_page,
            Walk::Key(_) => false,
        }
    }

    /// Runs one batch and moves on; returns how many rows it deleted.
    ///
    /// A heap batch looks at no more than `limit` pages (8 MB at the default 1,000), so a
    /// stretch of live rows costs about what a full batch does, and deletes at most `limit`
    /// rows. A full batch resumes right after its last row; a short one has seen its whole
    /// range and resumes at the page after it.
    async fn next_batch(
        &mut self,
        conn: &mut PgConnection,
        kind: SweepKind,
        cutoffs: &Cutoffs,
        limit: i64,
    ) -> Result<u64, SweepError> {
        let full = u64::try_from(limit).unwrap_or(u64::MAX);
        match *self {
            Walk::Key(cursor) => {
                let batch = sql::delete_batch(conn, kind, cutoffs, limit, cursor).await?;
                *self = if batch.deleted < full {
                    Walk::Done
                } else {
                    Walk::Key(batch.cursor.unwrap_or(cursor))
                };
                Ok(batch.deleted)
            }
            Walk::Heap { after, end_page } => {
                let range_end = after.page.saturating_add(limit).min(end_page);
                let batch =
                    heap::delete_codes_in_heap_order(conn, cutoffs.now, after, range_end, limit)
                        .await?;
                let after = match batch.last {
                    Some(last) if batch.deleted >= full => last,
                    _ => HeapPosition::page_start(range_end),
                };
                *self = Walk::Heap { after, end_page };
                Ok(batch.deleted)
            }
            Walk::Done => Ok(0),
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
