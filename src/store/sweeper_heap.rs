//! Expired authorization codes deleted in heap order (`ctid`), the sweeper's walk over its
//! biggest table; why heap order rather than `expires_at` order is on [`HeapPosition`].

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::StoreError;

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
#[tracing::instrument(name = "db.sweeper_heap.any_code_due", skip_all)]
pub async fn any_code_due(conn: &mut PgConnection, now: DateTime<Utc>) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM authorization_codes WHERE expires_at <= $1) AS "due!""#,
        now,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The heap's length in pages now: where a heap-order walk ends. Rows added behind it later
/// are new, so not due.
#[tracing::instrument(name = "db.sweeper_heap.code_heap_pages", skip_all)]
pub async fn code_heap_pages(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT pg_relation_size('authorization_codes') / current_setting('block_size')::int8
               AS "pages!""#,
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
#[tracing::instrument(name = "db.sweeper_heap.delete_codes_in_heap_order", skip_all)]
pub async fn delete_codes_in_heap_order(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    after: HeapPosition,
    end_page: i64,
    limit: i64,
) -> Result<HeapBatch, StoreError> {
    let row = sqlx::query!(
        r#"WITH gone AS (
             DELETE FROM authorization_codes WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM authorization_codes
                 WHERE ctid > $2::text::tid AND ctid < $3::text::tid AND expires_at <= $1
                 LIMIT $4 FOR UPDATE SKIP LOCKED))
               AND expires_at <= $1
             RETURNING ctid)
         SELECT count(*) AS "deleted!", (max(ctid)::text::point)[0]::int8 AS page,
                (max(ctid)::text::point)[1]::int4 AS line
         FROM gone"#,
        now,
        after.tid(),
        HeapPosition::page_start(end_page).tid(),
        limit,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(HeapBatch {
        deleted: u64::try_from(row.deleted).unwrap_or(0),
        last: row
            .page
            .zip(row.line)
            .map(|(page, line)| HeapPosition { page, line }),
    })
}
