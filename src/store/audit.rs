//! The audit log (`audit_log`): who changed what, with secrets already removed by the caller;
//! read back newest first, a page at a time (keyset on the identity column, which only grows,
//! so new entries never shift older pages).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;

/// One audit entry. `before`/`after` must hold no secrets; callers pass redacted views.
pub struct AuditEntry<'a> {
    pub tenant_id: Option<Uuid>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<&'a str>,
}

#[tracing::instrument(name = "db.audit.record", skip_all)]
pub async fn record(conn: &mut PgConnection, e: &AuditEntry<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, before, after, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        e.tenant_id,
        e.actor,
        e.action,
        e.target_type,
        e.target_id.as_deref(),
        e.before.as_ref(),
        e.after.as_ref(),
        e.request_id,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One audit entry as stored (`before`/`after` were redacted when written).
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Default)]
pub struct AuditFilter<'a> {
    pub tenant_id: Option<Uuid>,
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    /// Only entries older than this id (the cursor).
    pub before_id: Option<i64>,
}

/// Up to `limit` entries matching `f`, newest first.
#[tracing::instrument(name = "db.audit.list", skip_all)]
pub async fn list(
    pool: &PgPool,
    f: &AuditFilter<'_>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    Ok(sqlx::query_as!(
        AuditRecord,
        "SELECT id, at, tenant_id, actor, action, target_type, target_id, before, after, request_id
         FROM audit_log
         WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR actor = $2)
           AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR target_type = $4)
           AND ($5::text IS NULL OR target_id = $5) AND ($6::bigint IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7",
        f.tenant_id,
        f.actor,
        f.action,
        f.target_type,
        f.target_id,
        f.before_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}
