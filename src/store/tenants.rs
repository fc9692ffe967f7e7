//! Tenants (`tenants`): the configuration file's upsert at start-up, the admin API's
//! one-row-at-a-time changes inside the caller's transaction (which also writes the audit
//! entry), and the lookup every tenant-scoped request starts with.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::{StoreError, upsert::Upserted};
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
    let row = sqlx::query(
        "INSERT INTO tenants (id, slug, display_name, source, scopes, access_token_ttl_seconds)
         VALUES ($1, $2, $3, 'config', $4, $5)
         ON CONFLICT (slug) DO UPDATE SET
             display_name = EXCLUDED.display_name, source = 'config', scopes = EXCLUDED.scopes,
             access_token_ttl_seconds = EXCLUDED.access_token_ttl_seconds, updated_at = now()
         WHERE (tenants.display_name, tenants.source, tenants.scopes, tenants.access_token_ttl_seconds)
               IS DISTINCT FROM
               (EXCLUDED.display_name, EXCLUDED.source, EXCLUDED.scopes, EXCLUDED.access_token_ttl_seconds)
         RETURNING id, (xmax = 0) AS inserted",
    )
    .bind(Uuid::new_v4())
    .bind(t.slug.as_str())
    .bind(t.display_name)
    .bind(t.scopes)
    .bind(t.access_token_ttl_seconds)
    .fetch_optional(&mut *conn)
    .await?;
    match Upserted::from_returning(row.as_ref())? {
        Some(done) => Ok(done),
        None => {
            let id = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
                .bind(t.slug.as_str())
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

const COLUMNS: &str = "id, slug, display_name, source, status, scopes, access_token_ttl_seconds, created_at, updated_at";

fn from_row(row: &PgRow) -> Result<TenantRecord, StoreError> {
    let slug: String = row.try_get("slug")?;
    Ok(TenantRecord {
        tenant: Tenant {
            id: row.try_get("id")?,
            slug: TenantSlug::parse(&slug)
                .map_err(|e| StoreError::Corrupt(format!("tenant slug {slug:?}: {e}")))?,
            display_name: row.try_get("display_name")?,
            source: Source::parse(row.try_get::<&str, _>("source")?),
            status: status_from(row.try_get::<&str, _>("status")?),
            scopes: row.try_get("scopes")?,
            access_token_ttl_seconds: row.try_get("access_token_ttl_seconds")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
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
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
        .bind(slug.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?.map(|r| r.tenant))
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
    let row = sqlx::query(&format!(
        "INSERT INTO tenants (id, slug, display_name, source, status, scopes, access_token_ttl_seconds)
         VALUES ($1, $2, $3, 'api', $4, $5, $6)
         ON CONFLICT (slug) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(slug.as_str())
    .bind(v.display_name)
    .bind(status_str(v.status))
    .bind(v.scopes)
    .bind(v.access_token_ttl_seconds)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The tenant at `slug`; inside a transaction, `lock` holds its row until commit so the
/// audited `before` is what the update replaced.
#[tracing::instrument(name = "db.tenants.find", skip_all)]
pub async fn find(
    conn: &mut PgConnection,
    slug: &TenantSlug,
    lock: bool,
) -> Result<Option<TenantRecord>, StoreError> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE slug = $1{suffix}"
    ))
    .bind(slug.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every tenant, or only `only` (a tenant-bound token's), by slug.
#[tracing::instrument(name = "db.tenants.list", skip_all)]
pub async fn list(pool: &PgPool, only: Option<&str>) -> Result<Vec<TenantRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE ($1::text IS NULL OR slug = $1) ORDER BY slug"
    ))
    .bind(only)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

#[tracing::instrument(name = "db.tenants.update", skip_all)]
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    v: &TenantValues<'_>,
) -> Result<TenantRecord, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE tenants SET display_name = $2, status = $3, scopes = $4,
             access_token_ttl_seconds = $5, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(v.display_name)
    .bind(status_str(v.status))
    .bind(v.scopes)
    .bind(v.access_token_ttl_seconds)
    .fetch_one(&mut *conn)
    .await?;
    from_row(&row)
}

/// Deletes the tenant and, by cascade, everything it owns. Returns whether a row went.
#[tracing::instrument(name = "db.tenants.delete", skip_all)]
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
