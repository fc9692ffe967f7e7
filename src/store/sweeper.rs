//! The sweeper's SQL: bounded batch deletes of rows nothing needs any more, the advisory lock
//! that lets one replica sweep at a time, and the `sweeper_runs` record.
//!
//! Every delete has the same shape,
//! `DELETE FROM t WHERE pk = ANY(ARRAY(SELECT pk FROM t WHERE <due> LIMIT $n FOR UPDATE SKIP LOCKED))`
//! (authorization codes, the big kind, select by `ctid` in heap order instead: see
//! [`HeapPosition`]):
//! one statement (its own transaction) per batch, so row locks live for one batch only, and
//! `SKIP LOCKED` so the sweeper never waits behind (nor makes wait) a request that is working on
//! a row right now; a skipped row is simply taken next round. `= ANY(ARRAY(…))` rather than
//! `IN (…)`: with `IN`, the generic plan of the prepared statement (used from the sixth batch on)
//! is a hash semi-join that scans the whole table for every batch (88 ms instead of ~10 ms per
//! 1,000 codes out of 210,000, measured); the array makes it an init-plan plus primary-key
//! lookups whatever the plan.
//!
//! One rule holds for every kind: **a row is only removed by its own rule.** A parent (family,
//! grant, client) is deleted only once nothing still references it, so `ON DELETE CASCADE` never
//! takes a child before the child's own retention has passed, and never a live token. The one
//! exception is deliberate: a family's rotated refresh tokens live exactly as long as the family
//! (see [`SweepKind::RefreshTokens`]). Revoked grants and families are the other direction: once
//! revoked longer than the retention they go with everything under them, which can only turn a
//! "revoked" answer into an "unknown" one, both of which reject.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::StoreError;

/// The constant key of the session-level advisory lock held while sweeping (ASCII `"sweeper"`).
/// sqlx's migrator uses keys derived from the database name, so the two never meet.
pub const ADVISORY_LOCK_KEY: i64 = 0x0073_7765_6570_6572;

/// What the sweeper deletes, in the order it deletes them: children before the parents whose
/// deletion waits until nothing references them, so one run clears a whole dead tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SweepKind {
    /// Codes past `expires_at`, used or not: a used code is kept for replay detection only while
    /// it could still be presented, i.e. until it expires (an expired code is refused anyway).
    AuthorizationCodes,
    /// Pending authorizations past `expires_at`: the callback can no longer complete them.
    PendingAuthorizations,
    /// Access tokens expired, or revoked, longer than `auth.retention` ago (kept that long for
    /// introspection and audit).
    AccessTokens,
    /// Rotated refresh tokens in the tagged format whose grace period is over. Their row is only
    /// needed to answer a retry with the same response; a later replay is recognised from the
    /// token itself (it names its family and generation) against the family's newest
    /// generation, so deleting them keeps reuse detection while a long-lived family no longer
    /// accumulates one row (and a sealed response) per refresh.
    RotatedRefreshTokens,
    /// Active or revoked refresh tokens whose idle expiry passed longer than the retention ago.
    /// Rotated tokens of the older, opaque format are *not* deleted here: they exist to detect
    /// reuse (RFC 9700 §4.14.2), and a stolen rotated token can be presented for as long as its
    /// family lives, so they stay until the family itself is deleted and cascade with it.
    RefreshTokens,
    /// Families that are over: revoked longer than the retention ago, past
    /// `absolute_expires_at` by more than the retention, or dead because no active token is left
    /// (its idle expiry passed, so the row went above) — and in every case no access token row
    /// refers to the family any more.
    RefreshTokenFamilies,
    /// Grants revoked longer than the retention ago, and orphaned grants: untouched for the
    /// retention and referred to by no access token, family or authorization code. (Tokens
    /// without their grant cannot exist: every `grant_id` is `ON DELETE CASCADE`.)
    Grants,
    /// Dynamically registered clients never used within `registration.unused_client_ttl`.
    UnusedDynamicClients,
    /// The sweeper's own run log, after 30 days.
    SweeperRuns,
}

impl SweepKind {
    /// Every kind, in sweeping order.
    pub const ALL: [SweepKind; 9] = [
        SweepKind::AuthorizationCodes,
        SweepKind::PendingAuthorizations,
        SweepKind::AccessTokens,
        SweepKind::RotatedRefreshTokens,
        SweepKind::RefreshTokens,
        SweepKind::RefreshTokenFamilies,
        SweepKind::Grants,
        SweepKind::UnusedDynamicClients,
        SweepKind::SweeperRuns,
    ];

    /// The label used in reports, metrics and `sweeper_runs.deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepKind::AuthorizationCodes => "authorization_codes",
            SweepKind::PendingAuthorizations => "pending_authorizations",
            SweepKind::AccessTokens => "access_tokens",
            SweepKind::RotatedRefreshTokens => "rotated_refresh_tokens",
            SweepKind::RefreshTokens => "refresh_tokens",
            SweepKind::RefreshTokenFamilies => "refresh_token_families",
            SweepKind::Grants => "grants",
            SweepKind::UnusedDynamicClients => "unused_dynamic_clients",
            SweepKind::SweeperRuns => "sweeper_runs",
        }
    }

    /// The batch delete. Parameters: `$1` now, `$2` retained_before, `$3` unused_clients_before,
    /// `$4` runs_before, `$5` batch size (see [`Cutoffs`]), `$6` the keyset cursor. It returns
    /// `k`, the sort key of each deleted row where the kind walks an index in order, else NULL.
    ///
    /// The cursor matters for the big kinds: deleted rows stay in the index until vacuum, and a
    /// scan that restarted at the lowest `expires_at` every batch would step over every row the
    /// earlier batches deleted, visiting the heap for each (measured: batch 200 of 1,000 codes
    /// took 80 ms instead of 6 ms, 200,000 buffer hits). Starting at the last deleted key keeps
    /// every batch as cheap as the first.
    fn sql(self) -> &'static str {
        match self {
            SweepKind::AuthorizationCodes => {
                "DELETE FROM authorization_codes WHERE code_hash = ANY(ARRAY(
                     SELECT code_hash FROM authorization_codes WHERE expires_at <= $1 AND expires_at >= $6
                     ORDER BY expires_at LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING expires_at AS k"
            }
            SweepKind::PendingAuthorizations => {
                "DELETE FROM pending_authorizations WHERE id = ANY(ARRAY(
                     SELECT id FROM pending_authorizations WHERE expires_at <= $1 AND expires_at >= $6
                     ORDER BY expires_at LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING expires_at AS k"
            }
            SweepKind::AccessTokens => {
                "DELETE FROM access_tokens WHERE jti = ANY(ARRAY(
                     SELECT jti FROM access_tokens WHERE expires_at <= $2 OR revoked_at <= $2
                     LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING NULL::timestamptz AS k"
            }
            SweepKind::RotatedRefreshTokens => {
                "DELETE FROM refresh_tokens WHERE token_hash = ANY(ARRAY(
                     SELECT token_hash FROM refresh_tokens
                     WHERE status = 'rotated' AND tagged AND grace_until <= $1 AND grace_until >= $6
                     ORDER BY grace_until LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING grace_until AS k"
            }
            SweepKind::RefreshTokens => {
                "DELETE FROM refresh_tokens WHERE token_hash = ANY(ARRAY(
                     SELECT token_hash FROM refresh_tokens
                     WHERE expires_at <= $2 AND status <> 'rotated'
                     LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING NULL::timestamptz AS k"
            }
            SweepKind::RefreshTokenFamilies => {
                // `created_at` guards a family whose first token is not committed yet.
                "DELETE FROM refresh_token_families WHERE id = ANY(ARRAY(
                     SELECT f.id FROM refresh_token_families f
                     WHERE (f.revoked_at <= $2
                            OR f.absolute_expires_at <= $2
                            OR (f.created_at <= $2 AND NOT EXISTS (
                                    SELECT 1 FROM refresh_tokens t
                                    WHERE t.family_id = f.id AND t.status <> 'rotated')))
                       AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.family_id = f.id)
                     LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING NULL::timestamptz AS k"
            }
            SweepKind::Grants => {
                "DELETE FROM grants WHERE id = ANY(ARRAY(
                     SELECT g.id FROM grants g
                     WHERE (g.status = 'revoked' AND g.revoked_at <= $2)
                        OR (g.updated_at <= $2
                            AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id)
                            AND NOT EXISTS (SELECT 1 FROM refresh_token_families f WHERE f.grant_id = g.id)
                            AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id))
                     LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING NULL::timestamptz AS k"
            }
            SweepKind::UnusedDynamicClients => {
                // `last_used_at` is the signal; a client that something still points to has been
                // used whatever the column says, so it stays (belt and braces).
                "DELETE FROM oauth_clients WHERE id = ANY(ARRAY(
                     SELECT c.id FROM oauth_clients c
                     WHERE c.kind = 'dynamic' AND c.last_used_at IS NULL AND c.created_at <= $3
                       AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_pk = c.id)
                       AND NOT EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_pk = c.id)
                     ORDER BY c.created_at LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING NULL::timestamptz AS k"
            }
            SweepKind::SweeperRuns => {
                "DELETE FROM sweeper_runs WHERE id = ANY(ARRAY(
                     SELECT id FROM sweeper_runs WHERE started_at <= $4
                     ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED))
                 RETURNING NULL::timestamptz AS k"
            }
        }
    }
}

/// The instants that decide what is due, all derived from the `now` passed in (never the
/// database clock), so tests can move time.
#[derive(Clone, Copy, Debug)]
pub struct Cutoffs {
    /// Codes and pending authorizations expiring at or before this go.
    pub now: DateTime<Utc>,
    /// `now - auth.retention`: expired or revoked rows older than this go.
    pub retained_before: DateTime<Utc>,
    /// `now - registration.unused_client_ttl`.
    pub unused_clients_before: DateTime<Utc>,
    /// `now - 30 days`, for `sweeper_runs`.
    pub runs_before: DateTime<Utc>,
}

/// What one batch did.
#[derive(Clone, Copy, Debug)]
pub struct Batch {
    pub deleted: u64,
    /// The cursor for the next batch of the same kind (the largest sort key deleted), when the
    /// kind walks an index in order.
    pub cursor: Option<DateTime<Utc>>,
}

/// Where a kind's keyset cursor starts: 0001-01-01, before any row (Postgres' `-infinity` has
/// no `chrono` counterpart).
pub fn cursor_start() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Deletes at most `limit` rows of `kind` due at `cutoffs`, with sort key at or after `cursor`,
/// in one statement.
#[tracing::instrument(name = "db.sweeper.delete_batch", skip_all)]
pub async fn delete_batch(
    conn: &mut PgConnection,
    kind: SweepKind,
    cutoffs: &Cutoffs,
    limit: i64,
    cursor: DateTime<Utc>,
) -> Result<Batch, StoreError> {
    let sql = format!(
        "WITH gone AS ({}) SELECT count(*), max(k) FROM gone",
        kind.sql()
    );
    let (deleted, cursor): (i64, Option<DateTime<Utc>>) = sqlx::query_as(&sql)
        .bind(cutoffs.now)
        .bind(cutoffs.retained_before)
        .bind(cutoffs.unused_clients_before)
        .bind(cutoffs.runs_before)
        .bind(limit)
        .bind(cursor)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Batch {
        deleted: u64::try_from(deleted).unwrap_or(0),
        cursor,
    })
}

/// A heap position of `authorization_codes`: Postgres' `ctid`, `(page, line pointer)`.
///
/// Expired codes are deleted in heap order rather than in `expires_at` order. Codes expire
/// in an order that has nothing to do with where their rows sit, so a batch of the next 1,000
/// by `expires_at` lands on ~1,000 different pages, and every page is modified once per due row
/// on it (~40 times for a page of codes). Once the table outgrows `shared_buffers` each of those
/// pages has been evicted, dirty, between two visits, so every batch reads ~1,400 pages and
/// writes ~1,300 dirty ones itself to make room (measured at 1,000,000 codes, 128 MB
/// `shared_buffers`: 111 ms for one batch, none of it checkpoints or index bloat; see
/// `bench/README.md`). Walking the heap page by page modifies each page once, in one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HeapPosition {
    pub page: i64,
    pub line: i32,
}

impl HeapPosition {
    /// Before the first row of `page` (line pointers start at 1).
    pub fn page_start(page: i64) -> Self {
        Self { page, line: 0 }
    }

    fn tid(self) -> String {
        format!("({},{})", self.page, self.line)
    }
}

/// What one heap-order batch did.
#[derive(Clone, Copy, Debug)]
pub struct HeapBatch {
    pub deleted: u64,
    /// The last position deleted (the next batch starts after it).
    pub last: Option<HeapPosition>,
}

/// Whether any code is due at `now`: one probe of the `expires_at` index, so a sweep with
/// nothing to delete does not read the whole heap.
#[tracing::instrument(name = "db.sweeper.any_code_due", skip_all)]
pub async fn any_code_due(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM authorization_codes WHERE expires_at <= $1)",
    )
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// The heap's length in pages now: where a heap-order walk ends. Rows added behind it later
/// are new, so not due.
#[tracing::instrument(name = "db.sweeper.code_heap_pages", skip_all)]
pub async fn code_heap_pages(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT pg_relation_size('authorization_codes') / current_setting('block_size')::int8",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Deletes at most `limit` codes due at `now` lying after `after` and before page `end_page`,
/// in heap order, in one statement.
///
/// The inner select is a TID range scan, which reads pages in ascending order and stops at the
/// `limit`th row, so everything due before the returned `last` position has been taken (or was
/// locked by someone else: skipped, as by every kind). The outer `expires_at <= $1` re-checks
/// the row actually found at each `ctid`: the rows are locked by this statement, but the check
/// makes "only due rows go" hold by construction, whatever became of a line pointer.
#[tracing::instrument(name = "db.sweeper.delete_codes_in_heap_order", skip_all)]
pub async fn delete_codes_in_heap_order(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    after: HeapPosition,
    end_page: i64,
    limit: i64,
) -> Result<HeapBatch, StoreError> {
    let (deleted, page, line): (i64, Option<i64>, Option<i32>) = sqlx::query_as(
        "WITH gone AS (
             DELETE FROM authorization_codes WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM authorization_codes
                 WHERE ctid > $2::text::tid AND ctid < $3::text::tid AND expires_at <= $1
                 LIMIT $4 FOR UPDATE SKIP LOCKED))
               AND expires_at <= $1
             RETURNING ctid)
         SELECT count(*), (max(ctid)::text::point)[0]::int8, (max(ctid)::text::point)[1]::int4
         FROM gone",
    )
    .bind(now)
    .bind(after.tid())
    .bind(HeapPosition::page_start(end_page).tid())
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?;
    Ok(HeapBatch {
        deleted: u64::try_from(deleted).unwrap_or(0),
        last: page
            .zip(line)
            .map(|(page, line)| HeapPosition { page, line }),
    })
}

/// Tries to take the sweeper's session-level advisory lock without waiting. It is held by the
/// connection, so it disappears when that connection closes, however the sweep ended.
#[tracing::instrument(name = "db.sweeper.try_lock", skip_all)]
pub async fn try_lock(conn: &mut PgConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?)
}

/// Releases the advisory lock taken by [`try_lock`] on the same connection.
#[tracing::instrument(name = "db.sweeper.unlock", skip_all)]
pub async fn unlock(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Bounds how long one batch may wait for a lock (a cascade can need a row a request holds);
/// past it the batch fails and the sweep is retried next interval instead of queueing traffic
/// behind the locks it already holds.
#[tracing::instrument(name = "db.sweeper.set_lock_timeout", skip_all)]
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
#[tracing::instrument(name = "db.sweeper.relax_commit_durability", skip_all)]
pub async fn relax_commit_durability(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records that a sweep started; returns the row id for [`finish_run`].
#[tracing::instrument(name = "db.sweeper.start_run", skip_all)]
pub async fn start_run(pool: &PgPool, started_at: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("INSERT INTO sweeper_runs (started_at) VALUES ($1) RETURNING id")
            .bind(started_at)
            .fetch_one(pool)
            .await?,
    )
}

/// Records how a sweep ended: rows deleted per kind and the error, if any.
#[tracing::instrument(name = "db.sweeper.finish_run", skip_all)]
pub async fn finish_run(
    pool: &PgPool,
    id: i64,
    finished_at: DateTime<Utc>,
    deleted: serde_json::Value,
    error: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sweeper_runs SET finished_at = $2, deleted = $3, error = $4 WHERE id = $1")
        .bind(id)
        .bind(finished_at)
        .bind(deleted)
        .bind(error)
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

#[tracing::instrument(name = "db.sweeper.last_run", skip_all)]
pub async fn last_run(pool: &PgPool) -> Result<Option<SweeperRun>, StoreError> {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT id, started_at, finished_at, deleted, error FROM sweeper_runs
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(SweeperRun {
            id: r.try_get("id")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            deleted: r.try_get("deleted")?,
            error: r.try_get("error")?,
        })
    })
    .transpose()
}
