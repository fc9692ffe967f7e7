//! Per-server policies (`mcp_server_policies`): the policy document as written and the server's
//! claim-header opt-in. Compiling is the reader's job (`policy::Policy::compile`); a row holds
//! only what was checked when it was written.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;
use crate::domain::tenant::Source;

/// One server's row.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyRow {
    pub server_id: Uuid,
    pub tenant_id: Uuid,
    /// `None`: no policy (only the claim-header opt-in).
    pub document: Option<serde_json::Value>,
    pub claim_headers: bool,
    pub source: Source,
    pub updated_at: DateTime<Utc>,
}

fn from_row(r: &PgRow) -> Result<PolicyRow, StoreError> {
    let source: String = r.try_get("source")?;
    Ok(PolicyRow {
        server_id: r.try_get("server_id")?,
        tenant_id: r.try_get("tenant_id")?,
        document: r.try_get("document")?,
        claim_headers: r.try_get("claim_headers")?,
        source: match source.as_str() {
            "config" => Source::Config,
            _ => Source::Api,
        },
        updated_at: r.try_get("updated_at")?,
    })
}

/// The row of `server`, if it has one.
#[tracing::instrument(name = "db.policies.find", skip_all)]
pub async fn find(pool: &PgPool, server: Uuid) -> Result<Option<PolicyRow>, StoreError> {
    let row = sqlx::query(
        "SELECT server_id, tenant_id, document, claim_headers, source, updated_at
         FROM mcp_server_policies WHERE server_id = $1",
    )
    .bind(server)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Writes `row` (insert or replace), returning it as stored.
#[tracing::instrument(name = "db.policies.put", skip_all)]
pub async fn put(conn: &mut PgConnection, row: &PolicyRow) -> Result<PolicyRow, StoreError> {
    let source = match row.source {
        Source::Config => "config",
        Source::Api => "api",
    };
    let stored = sqlx::query(
        "INSERT INTO mcp_server_policies (server_id, tenant_id, document, claim_headers, source)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (server_id) DO UPDATE SET document = EXCLUDED.document,
             claim_headers = EXCLUDED.claim_headers, source = EXCLUDED.source, updated_at = now()
         RETURNING server_id, tenant_id, document, claim_headers, source, updated_at",
    )
    .bind(row.server_id)
    .bind(row.tenant_id)
    .bind(&row.document)
    .bind(row.claim_headers)
    .bind(source)
    .fetch_one(&mut *conn)
    .await?;
    from_row(&stored)
}

/// Deletes the row of `server`; whether there was one.
#[tracing::instrument(name = "db.policies.delete", skip_all)]
pub async fn delete(conn: &mut PgConnection, server: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM mcp_server_policies WHERE server_id = $1")
        .bind(server)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the row of `server` if the configuration file wrote it (start-up, for a server whose
/// file entry no longer has a policy); rows the admin API wrote stay.
#[tracing::instrument(name = "db.policies.delete_config", skip_all)]
pub async fn delete_config(conn: &mut PgConnection, server: Uuid) -> Result<bool, StoreError> {
    let done =
        sqlx::query("DELETE FROM mcp_server_policies WHERE server_id = $1 AND source = 'config'")
            .bind(server)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}
