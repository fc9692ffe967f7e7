//! One replica sweeps at a time (a session-level advisory lock on the sweeper's connection),
//! and every sweep leaves a record in `sweeper_runs` that the admin API shows.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::{StoreError, sweeper::ADVISORY_LOCK_KEY};

/// Tries to take the sweeper's session-level advisory lock without waiting. It is held by the
/// connection, so it disappears when that connection closes, however the sweep ended.
#[tracing::instrument(name = "db.sweeper_runs.try_lock", skip_all)]
pub async fn try_lock(conn: &mut PgConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_lock($1) AS "taken!""#,
        ADVISORY_LOCK_KEY
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Releases the advisory lock taken by [`try_lock`] on the same connection.
#[tracing::instrument(name = "db.sweeper_runs.unlock", skip_all)]
pub async fn unlock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?;
    Ok(())
}

/// Bounds how long one batch may wait for a lock (a cascade can need a row a request holds);
/// past it the batch fails and the sweep is retried next interval instead of queueing traffic
/// behind the locks it already holds.
#[tracing::instrument(name = "db.sweeper_runs.set_lock_timeout", skip_all)]
pub async fn set_lock_timeout(conn: &mut PgConnection, millis: u64) -> Result<(), StoreError> {
    // SET takes no bind parameters; the value is a number we formatted.
    sqlx::query(&format!("SET lock_timeout = {millis}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Lets the sweep's batches commit without waiting for their WAL to reach the disk
/// (`synchronous_commit = off`, this session only). A batch only deletes rows that are already
/// expired: if a crash loses its last commits, those rows come back still expired and the next
/// sweep deletes them again, so nothing is lost but a little work. Each batch then stops paying a
/// WAL flush, which was a fixed part of every batch's time (issue 13; `bench/README.md`,
/// "Sweeper"). Requests' own transactions keep the server's setting.
#[tracing::instrument(name = "db.sweeper_runs.relax_commit_durability", skip_all)]
pub async fn relax_commit_durability(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query!("SET synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that a sweep started; returns the row id for [`finish_run`].
#[tracing::instrument(name = "db.sweeper_runs.start_run", skip_all)]
pub async fn start_run(pool: &PgPool, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        "INSERT INTO sweeper_runs (started_at) VALUES ($1) RETURNING id",
        started_at,
    )
    .fetch_one(pool)
    .await?)
}

/// Records how a sweep ended: rows deleted per kind and the error, if any.
#[tracing::instrument(name = "db.sweeper_runs.finish_run", skip_all)]
pub async fn finish_run(
    pool: &PgPool,
    id: i64,
    finished_at: DateTime<Utc>,
    deleted: serde_json::Value,
    error: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE sweeper_runs SET finished_at = $2, deleted = $3, error = $4 WHERE id = $1",
        id,
        finished_at,
        deleted,
        error,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The most recent sweep, finished or not (the admin API shows it).
pub struct SweeperRun {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deleted: serde_json::Value,
    pub error: Option<String>,
}

#[tracing::instrument(name = "db.sweeper_runs.last_run", skip_all)]
pub async fn last_run(pool: &PgPool) -> Result<Option<SweeperRun>, StoreError> {
    Ok(sqlx::query_as!(
        SweeperRun,
        "SELECT id, started_at, finished_at, deleted, error FROM sweeper_runs
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}
