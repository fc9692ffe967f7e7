//! Per-server policies (`mcp_server_policies`): the policy document as written and the server's
//! claim-header opt-in. Compiling is the reader's job (`policy::Policy::compile`); a row holds
//! only what was checked when it was written.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
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

/// A row as `query_as!` reads it; [`StoredPolicy::into_row`] parses the source once.
struct StoredPolicy {
    server_id: Uuid,
    tenant_id: Uuid,
    document: Option<serde_json::Value>,
    claim_headers: bool,
    source: String,
    updated_at: DateTime<Utc>,
}

impl StoredPolicy {
    fn into_row(self) -> PolicyRow {
        PolicyRow {
            server_id: self.server_id,
            tenant_id: self.tenant_id,
            document: self.document,
            claim_headers: self.claim_headers,
            source: match self.source.as_str() {
                "config" => Source::Config,
                _ => Source::Api,
            },
            updated_at: self.updated_at,
        }
    }
}

/// The row of `server`, if it has one.
#[tracing::instrument(name = "db.policies.find", skip_all)]
pub async fn find(pool: &PgPool, server: Uuid) -> Result<Option<PolicyRow>, StoreError> {
    let row = sqlx::query_as!(
        StoredPolicy,
        "SELECT server_id, tenant_id, document, claim_headers, source, updated_at
         FROM mcp_server_policies WHERE server_id = $1",
        server,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(StoredPolicy::into_row))
}

/// Writes `row` (insert or replace), returning it as stored.
#[tracing::instrument(name = "db.policies.put", skip_all)]
pub async fn put(conn: &mut PgConnection, row: &PolicyRow) -> Result<PolicyRow, StoreError> {
    let source = match row.source {
        Source::Config => "config",
        Source::Api => "api",
    };
    let stored = sqlx::query_as!(
        StoredPolicy,
        "INSERT INTO mcp_server_policies (server_id, tenant_id, document, claim_headers, source)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (server_id) DO UPDATE SET document = EXCLUDED.document,
             claim_headers = EXCLUDED.claim_headers, source = EXCLUDED.source, updated_at = now()
         RETURNING server_id, tenant_id, document, claim_headers, source, updated_at",
        row.server_id,
        row.tenant_id,
        row.document,
        row.claim_headers,
        source,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(stored.into_row())
}

/// Deletes the row of `server`; whether there was one.
#[tracing::instrument(name = "db.policies.delete", skip_all)]
pub async fn delete(conn: &mut PgConnection, server: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM mcp_server_policies WHERE server_id = $1",
        server
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes the row of `server` if the configuration file wrote it (start-up, for a server whose
/// file entry no longer has a policy); rows the admin API wrote stay.
#[tracing::instrument(name = "db.policies.delete_config", skip_all)]
pub async fn delete_config(conn: &mut PgConnection, server: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM mcp_server_policies WHERE server_id = $1 AND source = 'config'",
        server
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
