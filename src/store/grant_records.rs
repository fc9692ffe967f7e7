//! Grants as operators see them: metadata only (never the sealed upstream tokens, except
//! [`open_tokens`] for revoking them upstream), filtered, keyset-paged on `(created_at, id)` so
//! a page never shifts while rows are added; and the grant ids whose cached user contexts an
//! admin change must drop. Kept beside `grants.rs` (the login and refresh paths): the operator's
//! view of the same table, and together they would pass the 400-line mark.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::{StoreError, grants::aad};
use crate::crypto::{Sealed, Sealer};

/// A grant's metadata with the names an operator knows it by.
#[derive(Clone, Debug)]
pub struct GrantRecord {
    pub id: Uuid,
    pub subject: String,
    pub client_id: String,
    pub provider: String,
    pub status: String,
    pub user_context: serde_json::Value,
    pub upstream_scopes: Vec<String>,
    pub upstream_access_expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Filters of [`list`]; `None` matches everything.
#[derive(Default)]
pub struct GrantFilter<'a> {
    pub subject: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Only rows after this `(created_at, id)` (the cursor).
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

/// Up to `limit` grants of a tenant matching `f`, oldest first.
#[tracing::instrument(name = "db.grant_records.list", skip_all)]
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    f: &GrantFilter<'_>,
    limit: i64,
) -> Result<Vec<GrantRecord>, StoreError> {
    let (after_t, after_id) = f.after.unzip();
    Ok(sqlx::query_as!(
        GrantRecord,
        "SELECT g.id, g.subject, c.client_id, p.name AS provider, g.status, g.user_context,
             g.upstream_scopes, g.upstream_access_expires_at, g.last_refreshed_at, g.created_at,
             g.updated_at, g.revoked_at
         FROM grants g JOIN oauth_clients c ON c.id = g.client_pk
         JOIN upstream_providers p ON p.id = g.provider_id
         WHERE g.tenant_id = $1 AND ($2::text IS NULL OR g.subject = $2)
           AND ($3::text IS NULL OR c.client_id = $3) AND ($4::text IS NULL OR g.status = $4)
           AND ($5::timestamptz IS NULL OR (g.created_at, g.id) > ($5, $6))
         ORDER BY g.created_at, g.id LIMIT $7",
        tenant_id,
        f.subject,
        f.client_id,
        f.status,
        after_t,
        after_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

#[tracing::instrument(name = "db.grant_records.get", skip_all)]
pub async fn get(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<GrantRecord>, StoreError> {
    Ok(sqlx::query_as!(
        GrantRecord,
        "SELECT g.id, g.subject, c.client_id, p.name AS provider, g.status, g.user_context,
             g.upstream_scopes, g.upstream_access_expires_at, g.last_refreshed_at, g.created_at,
             g.updated_at, g.revoked_at
         FROM grants g JOIN oauth_clients c ON c.id = g.client_pk
         JOIN upstream_providers p ON p.id = g.provider_id
         WHERE g.tenant_id = $1 AND g.id = $2",
        tenant_id,
        id,
    )
    .fetch_optional(pool)
    .await?)
}

/// The not-yet-revoked grants of one user in a tenant.
#[tracing::instrument(name = "db.grant_records.live_ids_of_subject", skip_all)]
pub async fn live_ids_of_subject(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    subject: &str,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM grants WHERE tenant_id = $1 AND subject = $2 AND status <> 'revoked'
         ORDER BY created_at, id FOR UPDATE",
        tenant_id,
        subject,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The ids of every grant of a tenant (to drop their cached user contexts).
#[tracing::instrument(name = "db.grant_records.ids_of_tenant", skip_all)]
pub async fn ids_of_tenant<'e>(
    executor: impl PgExecutor<'e>,
    tenant_id: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM grants WHERE tenant_id = $1", tenant_id)
            .fetch_all(executor)
            .await?,
    )
}

/// The grant ids of one client (to drop their cached user contexts once it is deleted).
#[tracing::instrument(name = "db.grant_records.ids_of_client", skip_all)]
pub async fn ids_of_client(
    conn: &mut PgConnection,
    client_pk: Uuid,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar!("SELECT id FROM grants WHERE client_pk = $1", client_pk)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// The upstream tokens a grant holds, opened, with its provider id: only to revoke them at
/// the provider. A token that no longer opens is left out (there is nothing to revoke with).
pub struct GrantTokens {
    pub provider_id: Uuid,
    pub access: Option<String>,
    pub refresh: Option<String>,
}

/// Works on the pool or inside the caller's transaction (which must not take a second
/// connection).
#[tracing::instrument(name = "db.grant_records.open_tokens", skip_all)]
pub async fn open_tokens<'e>(
    executor: impl PgExecutor<'e>,
    sealer: &Sealer,
    id: Uuid,
) -> Result<Option<GrantTokens>, StoreError> {
    let row = sqlx::query!(
        "SELECT provider_id, upstream_access_token, upstream_access_key_id,
                upstream_refresh_token, upstream_refresh_key_id FROM grants WHERE id = $1",
        id,
    )
    .fetch_optional(executor)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let open = |blob: Option<Vec<u8>>, key_id: Option<String>, which: &str| {
        let sealed = Sealed {
            key_id: key_id?,
            blob: blob?,
        };
        sealer.open_string(&sealed, &aad(id, which)).ok()
    };
    Ok(Some(GrantTokens {
        provider_id: r.provider_id,
        access: open(
            Some(r.upstream_access_token),
            Some(r.upstream_access_key_id),
            "access",
        ),
        refresh: open(
            r.upstream_refresh_token,
            r.upstream_refresh_key_id,
            "refresh",
        ),
    }))
}
