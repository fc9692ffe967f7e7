//! The sweeper's batch statements, one per kind (`store::sweeper` has their shape and rules,
//! and dispatches to them). Each binds its cutoff as `$1`, the batch size as `$2` and, for the
//! kinds that walk an index in order, the cursor as `$3`; each returns how many rows went and
//! the largest sort key among them.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{
    StoreError,
    sweeper::{BatchRow, Cutoffs},
};

/// One statement, run once: the SQL must be a literal for `query_as!` to check it.
macro_rules! batch {
    ($conn:expr, $sql:literal, $($arg:expr),+) => {
        Ok(sqlx::query_as!(BatchRow, $sql, $($arg),+).fetch_one(&mut *$conn).await?)
    };
}

pub(super) async fn authorization_codes(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
    cursor: DateTime<Utc>,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM authorization_codes WHERE code_hash = ANY(ARRAY(
                         SELECT code_hash FROM authorization_codes
                         WHERE expires_at <= $1 AND expires_at >= $3
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING expires_at AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.now,
        limit,
        cursor
    )
}

pub(super) async fn pending_authorizations(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
    cursor: DateTime<Utc>,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM pending_authorizations WHERE id = ANY(ARRAY(
                         SELECT id FROM pending_authorizations
                         WHERE expires_at <= $1 AND expires_at >= $3
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING expires_at AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.now,
        limit,
        cursor
    )
}

pub(super) async fn access_tokens(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM access_tokens WHERE jti = ANY(ARRAY(
                         SELECT jti FROM access_tokens WHERE expires_at <= $1 OR revoked_at <= $1
                         LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING NULL::timestamptz AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.retained_before,
        limit
    )
}

pub(super) async fn rotated_refresh_tokens(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
    cursor: DateTime<Utc>,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM refresh_tokens WHERE token_hash = ANY(ARRAY(
                         SELECT token_hash FROM refresh_tokens
                         WHERE status = 'rotated' AND tagged AND grace_until <= $1
                           AND grace_until >= $3
                         ORDER BY grace_until LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING grace_until AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.now,
        limit,
        cursor
    )
}

pub(super) async fn refresh_tokens(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM refresh_tokens WHERE token_hash = ANY(ARRAY(
                         SELECT token_hash FROM refresh_tokens
                         WHERE expires_at <= $1 AND status <> 'rotated'
                         LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING NULL::timestamptz AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.retained_before,
        limit
    )
}

/// `created_at` guards a family whose first token is not committed yet.
pub(super) async fn refresh_token_families(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM refresh_token_families WHERE id = ANY(ARRAY(
                         SELECT f.id FROM refresh_token_families f
                         WHERE (f.revoked_at <= $1
                                OR f.absolute_expires_at <= $1
                                OR (f.created_at <= $1 AND NOT EXISTS (
                                        SELECT 1 FROM refresh_tokens t
                                        WHERE t.family_id = f.id AND t.status <> 'rotated')))
                           AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.family_id = f.id)
                         LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING NULL::timestamptz AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.retained_before,
        limit
    )
}

pub(super) async fn grants(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM grants WHERE id = ANY(ARRAY(
                         SELECT g.id FROM grants g
                         WHERE (g.status = 'revoked' AND g.revoked_at <= $1)
                            OR (g.updated_at <= $1
                                AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = g.id)
                                AND NOT EXISTS (SELECT 1 FROM refresh_token_families f WHERE f.grant_id = g.id)
                                AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id))
                         LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING NULL::timestamptz AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.retained_before,
        limit
    )
}

/// `last_used_at` is the signal; a client that something still points to has been
/// used whatever the column says, so it stays (belt and braces).
pub(super) async fn unused_dynamic_clients(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM oauth_clients WHERE id = ANY(ARRAY(
                         SELECT c.id FROM oauth_clients c
                         WHERE c.kind = 'dynamic' AND c.last_used_at IS NULL AND c.created_at <= $1
                           AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.client_pk = c.id)
                           AND NOT EXISTS (SELECT 1 FROM pending_authorizations p WHERE p.client_pk = c.id)
                         ORDER BY c.created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING NULL::timestamptz AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.unused_clients_before,
        limit
    )
}

pub(super) async fn sweeper_runs(
    conn: &mut PgConnection,
    c: &Cutoffs,
    limit: i64,
) -> Result<BatchRow, StoreError> {
    batch!(
        conn,
        r#"WITH gone AS (
                     DELETE FROM sweeper_runs WHERE id = ANY(ARRAY(
                         SELECT id FROM sweeper_runs WHERE started_at <= $1
                         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING NULL::timestamptz AS k)
                 SELECT count(*) AS "deleted!", max(k) AS cursor FROM gone"#,
        c.runs_before,
        limit
    )
}
