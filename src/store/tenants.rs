//! Tenants (`tenants`): the configuration file's upsert at start-up, the admin API's
//! one-row-at-a-time changes inside the caller's transaction (which also writes the audit
//! entry), and the lookup every tenant-scoped request starts with.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{RowLock, StoreError, upsert::Upserted};
use crate::domain::{
    TenantSlug,
    tenant::{Source, Tenant, TenantStatus},
};

/// A tenant as the configuration declares it.
pub struct TenantInput<'a> {
    pub slug: &'a TenantSlug,
    pub display_name: &'a str,
    pub scopes: &'a [String],
    pub access_token_ttl_seconds: Option<i64>,
}

#[tracing::instrument(name = "db.tenants.upsert_config_tenant", skip_all)]
pub async fn upsert_config_tenant(
    conn: &mut PgConnection,
    t: &TenantInput<'_>,
) -> Result<Upserted, StoreError> {
    let row = sqlx::query!(
        r#"INSERT INTO tenants (id, slug, display_name, source, scopes, access_token_ttl_seconds)
         VALUES ($1, $2, $3, 'config', $4, $5)
         ON CONFLICT (slug) DO UPDATE SET
             display_name = EXCLUDED.display_name, source = 'config', scopes = EXCLUDED.scopes,
             access_token_ttl_seconds = EXCLUDED.access_token_ttl_seconds, updated_at = now()
         WHERE (tenants.display_name, tenants.source, tenants.scopes, tenants.access_token_ttl_seconds)
               IS DISTINCT FROM
               (EXCLUDED.display_name, EXCLUDED.source, EXCLUDED.scopes, EXCLUDED.access_token_ttl_seconds)
         RETURNING id, (xmax = 0) AS "inserted!""#,
        Uuid::new_v4(),
        t.slug.as_str(),
        t.display_name,
        t.scopes,
        t.access_token_ttl_seconds,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => Ok(Upserted::from_returning(r.id, r.inserted)),
        None => {
            let id = sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", t.slug.as_str())
                .fetch_one(&mut *conn)
                .await?;
            Ok(Upserted::Unchanged(id))
        }
    }
}

/// A tenant and when it was created and last changed.
#[derive(Clone, Debug)]
pub struct TenantRecord {
    pub tenant: Tenant,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A row as `query_as!` reads it; [`TenantRow::into_record`] parses slug, source and status
/// once.
struct TenantRow {
    id: Uuid,
    slug: String,
    display_name: String,
    source: String,
    status: String,
    scopes: Vec<String>,
    access_token_ttl_seconds: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TenantRow {
    fn into_record(self) -> Result<TenantRecord, StoreError> {
        let slug = TenantSlug::parse(&self.slug)
            .map_err(|e| StoreError::Corrupt(format!("tenant slug {:?}: {e}", self.slug)))?;
        Ok(TenantRecord {
            tenant: Tenant {
                id: self.id,
                slug,
                display_name: self.display_name,
                source: Source::parse(&self.source),
                status: status_from(&self.status),
                scopes: self.scopes,
                access_token_ttl_seconds: self.access_token_ttl_seconds,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn status_from(value: &str) -> TenantStatus {
    if value == "active" {
        TenantStatus::Active
    } else {
        TenantStatus::Disabled
    }
}

pub fn status_str(status: TenantStatus) -> &'static str {
    match status {
        TenantStatus::Active => "active",
        TenantStatus::Disabled => "disabled",
    }
}

/// The tenant at `slug`, whatever its status (callers decide what a disabled one means).
#[tracing::instrument(name = "db.tenants.find_tenant", skip_all)]
pub async fn find_tenant(pool: &PgPool, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query_as!(
        TenantRow,
        "SELECT id, slug, display_name, source, status, scopes, access_token_ttl_seconds,
             created_at, updated_at
         FROM tenants WHERE slug = $1",
        slug.as_str(),
    )
    .fetch_optional(pool)
    .await?;
    Ok(row
        .map(TenantRow::into_record)
        .transpose()?
        .map(|r| r.tenant))
}

/// What a new tenant or a changed one holds.
pub struct TenantValues<'a> {
    pub display_name: &'a str,
    pub status: TenantStatus,
    pub scopes: &'a [String],
    pub access_token_ttl_seconds: Option<i64>,
}

/// Inserts an API-owned tenant; `None` when the slug is taken.
#[tracing::instrument(name = "db.tenants.insert", skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    v: &TenantValues<'_>,
) -> Result<Option<TenantRecord>, StoreError> {
    let row = sqlx::query_as!(
        TenantRow,
        "INSERT INTO tenants (id, slug, display_name, source, status, scopes, access_token_ttl_seconds)
         VALUES ($1, $2, $3, 'api', $4, $5, $6)
         ON CONFLICT (slug) DO NOTHING
         RETURNING id, slug, display_name, source, status, scopes, access_token_ttl_seconds,
             created_at, updated_at",
        Uuid::new_v4(),
        slug.as_str(),
        v.display_name,
        status_str(v.status),
        v.scopes,
        v.access_token_ttl_seconds,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(TenantRow::into_record).transpose()
}

/// The tenant at `slug`; inside a transaction, [`RowLock::ForUpdate`] holds its row until
/// commit so the audited `before` is what the update replaced.
#[tracing::instrument(name = "db.tenants.find", skip_all)]
pub async fn find(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    lock: RowLock,
) -> Result<Option<TenantRecord>, StoreError> {
    let row = match lock {
        RowLock::None => {
            sqlx::query_as!(
                TenantRow,
                "SELECT id, slug, display_name, source, status, scopes, access_token_ttl_seconds,
                     created_at, updated_at
                 FROM tenants WHERE slug = $1",
                slug.as_str(),
            )
            .fetch_optional(&mut *conn)
            .await?
        }
        RowLock::ForUpdate => {
            sqlx::query_as!(
                TenantRow,
                "SELECT id, slug, display_name, source, status, scopes, access_token_ttl_seconds,
                     created_at, updated_at
                 FROM tenants WHERE slug = $1 FOR UPDATE",
                slug.as_str(),
            )
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    row.map(TenantRow::into_record).transpose()
}

/// Every tenant, or only `only` (a tenant-bound token's), by slug.
#[tracing::instrument(name = "db.tenants.list", skip_all)]
pub async fn list(pool: &PgPool, only: Option<&str>) -> Result<Vec<TenantRecord>, StoreError> {
    let rows = sqlx::query_as!(
        TenantRow,
        "SELECT id, slug, display_name, source, status, scopes, access_token_ttl_seconds,
             created_at, updated_at
         FROM tenants WHERE ($1::text IS NULL OR slug = $1) ORDER BY slug",
        only,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(TenantRow::into_record).collect()
}

#[tracing::instrument(name = "db.tenants.update", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    v: &TenantValues<'_>,
) -> Result<TenantRecord, StoreError> {
    sqlx::query_as!(
        TenantRow,
        "UPDATE tenants SET display_name = $2, status = $3, scopes = $4,
             access_token_ttl_seconds = $5, updated_at = now()
         WHERE id = $1
         RETURNING id, slug, display_name, source, status, scopes, access_token_ttl_seconds,
             created_at, updated_at",
        id,
        v.display_name,
        status_str(v.status),
        v.scopes,
        v.access_token_ttl_seconds,
    )
    .fetch_one(&mut *conn)
    .await?
    .into_record()
}

/// Deletes the tenant and, by cascade, everything it owns. Returns whether a row went.
#[tracing::instrument(name = "db.tenants.delete", skip_all)]
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!("DELETE FROM tenants WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
