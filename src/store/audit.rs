//! The audit log: who changed what, with secrets already removed by the caller.

use sqlx::PgConnection;
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

pub async fn record(conn: &mut PgConnection, e: &AuditEntry<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, before, after, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.tenant_id)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target_type)
    .bind(&e.target_id)
    .bind(&e.before)
    .bind(&e.after)
    .bind(e.request_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
