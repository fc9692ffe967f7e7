//! Grants: the upstream tokens of one user's login through one client, sealed at rest.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::{
    crypto::{Sealed, Sealer},
    domain::{Grant, GrantStatus, ProviderKind, Secret, UpstreamTokens},
};

/// The AAD that binds a sealed upstream token to its grant and role.
pub fn aad(grant_id: Uuid, which: &str) -> String {
    format!("grant:{grant_id}:{which}")
}

pub struct NewGrant<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider_id: Uuid,
    pub client_pk: Uuid,
    pub subject: &'a str,
    pub user_context: &'a serde_json::Value,
    pub tokens: &'a UpstreamTokens,
}

/// Seals the upstream tokens and inserts the grant.
#[tracing::instrument(name = "db.grants.insert", skip_all)]
pub async fn insert(
    conn: &mut PgConnection,
    sealer: &Sealer,
    g: &NewGrant<'_>,
) -> Result<(), StoreError> {
    let access = sealer.seal_str(&g.tokens.access_token, &aad(g.id, "access"));
    let refresh = g
        .tokens
        .refresh_token
        .as_deref()
        .map(|r| sealer.seal_str(r, &aad(g.id, "refresh")));
    sqlx::query!(
        "INSERT INTO grants (id, tenant_id, provider_id, client_pk, subject, user_context,
             upstream_access_token, upstream_access_key_id, upstream_access_expires_at,
             upstream_refresh_token, upstream_refresh_key_id, upstream_refresh_expires_at,
             upstream_scopes, upstream_extra)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        g.id,
        g.tenant_id,
        g.provider_id,
        g.client_pk,
        g.subject,
        g.user_context,
        access.blob,
        access.key_id,
        g.tokens.access_expires_at,
        refresh.as_ref().map(|s| &s.blob),
        refresh.as_ref().map(|s| &s.key_id),
        g.tokens.refresh_expires_at,
        &g.tokens.scopes,
        g.tokens.extra,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A row as `query_as!` reads it; [`GrantRow::into_domain`] parses the status once.
struct GrantRow {
    id: Uuid,
    tenant_id: Uuid,
    provider_id: Uuid,
    client_pk: Uuid,
    subject: String,
    user_context: serde_json::Value,
    status: String,
    version: i64,
    upstream_access_expires_at: Option<DateTime<Utc>>,
}

impl GrantRow {
    fn into_domain(self) -> Grant {
        Grant {
            id: self.id,
            tenant_id: self.tenant_id,
            provider_id: self.provider_id,
            client_pk: self.client_pk,
            subject: self.subject,
            user_context: self.user_context,
            status: GrantStatus::parse(&self.status),
            version: self.version,
            upstream_access_expires_at: self.upstream_access_expires_at,
        }
    }
}

/// Works on the pool or inside a transaction (callers holding a transaction must not take a
/// second connection: under load that starves the pool).
#[tracing::instrument(name = "db.grants.find", skip_all)]
pub async fn find<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    id: Uuid,
) -> Result<Option<Grant>, StoreError> {
    let row = sqlx::query_as!(
        GrantRow,
        "SELECT id, tenant_id, provider_id, client_pk, subject, user_context, status, version,
                upstream_access_expires_at
         FROM grants WHERE id = $1",
        id,
    )
    .fetch_optional(executor)
    .await?;
    Ok(row.map(GrantRow::into_domain))
}

/// The grant's current upstream access token, opened.
#[tracing::instrument(name = "db.grants.upstream_access_token", skip_all)]
// The span's macro spells the return type out once more, which trips the lint.
#[allow(clippy::type_complexity)]
pub async fn upstream_access_token(
    pool: &PgPool,
    sealer: &Sealer,
    id: Uuid,
) -> Result<Option<(String, Option<DateTime<Utc>>)>, StoreError> {
    let row = sqlx::query!(
        "SELECT upstream_access_token, upstream_access_key_id, upstream_access_expires_at FROM grants WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (blob, key_id, expires) = (
        row.upstream_access_token,
        row.upstream_access_key_id,
        row.upstream_access_expires_at,
    );
    let token = sealer
        .open_string(&Sealed { key_id, blob }, &aad(id, "access"))
        .map_err(|e| StoreError::Corrupt(format!("grant {id} access token: {e}")))?;
    Ok(Some((token, expires)))
}

/// Marks a grant revoked and revokes every token issued from it. Returns whether it was active.
#[tracing::instrument(name = "db.grants.revoke", skip_all)]
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE grants SET status = 'revoked', revoked_at = $2, updated_at = $2, version = version + 1
         WHERE id = $1 AND status <> 'revoked'",
        id,
        now,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE refresh_token_families SET revoked_at = $2, revoked_reason = 'grant_revoked' WHERE grant_id = $1 AND revoked_at IS NULL",
        id,
        now,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
        id,
        now,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Provider data kept from token responses (Salesforce `instance_url`, …) and the provider id.
#[tracing::instrument(name = "db.grants.upstream_extra", skip_all)]
pub async fn upstream_extra(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(Uuid, serde_json::Value)>, StoreError> {
    let row = sqlx::query!(
        "SELECT provider_id, upstream_extra FROM grants WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.provider_id, r.upstream_extra)))
}

// ---------------------------------------------------------------------------------------------
// Refresh: what the refresh coordinator (`upstream::refresh`) reads and writes. The lease and
// every write are conditional on the version the caller read (optimistic concurrency), and no
// row lock is ever held while the IdP is called.

/// A grant's upstream tokens as the refresh coordinator needs them: the access token opened,
/// the refresh token still sealed (opened only by the one caller that refreshes).
pub struct GrantTokens {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The tenant's slug, which the upstream adapter needs to build endpoints (`dev` provider).
    pub tenant_slug: String,
    pub provider_id: Uuid,
    pub provider_kind: ProviderKind,
    pub status: GrantStatus,
    pub version: i64,
    pub access_token: Secret<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
    /// When the current access token was obtained (last refresh, else the login).
    pub access_obtained_at: DateTime<Utc>,
    /// When the grant was last refreshed (`None`: never since the login).
    pub last_refreshed_at: Option<DateTime<Utc>>,
    refresh_token: Option<Sealed>,
}

impl GrantTokens {
    pub fn has_refresh_token(&self) -> bool {
        self.refresh_token.is_some()
    }

    /// Opens the refresh token (AAD bound to this grant).
    pub fn refresh_token(&self, sealer: &Sealer) -> Result<Option<Secret<String>>, StoreError> {
        let Some(sealed) = &self.refresh_token else {
            return Ok(None);
        };
        sealer
            .open_string(sealed, &aad(self.id, "refresh"))
            .map(|t| Some(Secret::new(t)))
            .map_err(|e| StoreError::Corrupt(format!("grant {} refresh token: {e}", self.id)))
    }
}

/// Loads a grant's tokens and opens the access token. `None`: no such grant.
#[tracing::instrument(name = "db.grants.load_tokens", skip_all)]
pub async fn load_tokens(
    pool: &PgPool,
    sealer: &Sealer,
    id: Uuid,
) -> Result<Option<GrantTokens>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT g.tenant_id, t.slug, g.provider_id, p.kind, g.status, g.version,
                g.upstream_access_token, g.upstream_access_key_id, g.upstream_access_expires_at,
                g.upstream_refresh_token, g.upstream_refresh_key_id,
                COALESCE(g.last_refreshed_at, g.created_at) AS "obtained_at!", g.last_refreshed_at
         FROM grants g JOIN tenants t ON t.id = g.tenant_id
              JOIN upstream_providers p ON p.id = g.provider_id
         WHERE g.id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let access = Sealed {
        blob: row.upstream_access_token,
        key_id: row.upstream_access_key_id,
    };
    let access_token = sealer
        .open_string(&access, &aad(id, "access"))
        .map_err(|e| StoreError::Corrupt(format!("grant {id} access token: {e}")))?;
    let provider_kind = ProviderKind::parse(&row.kind)
        .ok_or_else(|| StoreError::Corrupt(format!("provider kind {:?}", row.kind)))?;
    Ok(Some(GrantTokens {
        id,
        tenant_id: row.tenant_id,
        tenant_slug: row.slug,
        provider_id: row.provider_id,
        provider_kind,
        status: GrantStatus::parse(&row.status),
        version: row.version,
        access_token: Secret::new(access_token),
        access_expires_at: row.upstream_access_expires_at,
        access_obtained_at: row.obtained_at,
        last_refreshed_at: row.last_refreshed_at,
        refresh_token: row
            .upstream_refresh_token
            .zip(row.upstream_refresh_key_id)
            .map(|(blob, key_id)| Sealed { key_id, blob }),
    }))
}

// The lease itself and the back-off after failed refreshes: `super::refresh_leases`.

/// Stores the tokens of a refresh in one statement, if the grant is still active at `version`:
/// both tokens sealed, `version + 1`, the lease released. A response without a refresh token
/// keeps the stored one (Google); one without scopes keeps the stored scopes; provider extras
/// are merged. Returns the new version, or `None` when the grant changed meanwhile.
#[tracing::instrument(name = "db.grants.commit_refresh", skip_all)]
pub async fn commit_refresh(
    pool: &PgPool,
    sealer: &Sealer,
    id: Uuid,
    version: i64,
    tokens: &UpstreamTokens,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let access = sealer.seal_str(&tokens.access_token, &aad(id, "access"));
    let refresh = tokens
        .refresh_token
        .as_deref()
        .map(|r| sealer.seal_str(r, &aad(id, "refresh")));
    let new_version = sqlx::query_scalar!(
        "UPDATE grants SET
             upstream_access_token = $3, upstream_access_key_id = $4,
             upstream_access_expires_at = $5,
             upstream_refresh_token = COALESCE($6, upstream_refresh_token),
             upstream_refresh_key_id = COALESCE($7, upstream_refresh_key_id),
             upstream_refresh_expires_at =
                 CASE WHEN $6::bytea IS NULL THEN upstream_refresh_expires_at ELSE $8 END,
             upstream_scopes =
                 CASE WHEN cardinality($9::text[]) = 0 THEN upstream_scopes ELSE $9 END,
             upstream_extra = upstream_extra || $10::jsonb,
             version = version + 1, last_refreshed_at = $11, updated_at = $11,
             refresh_lease_until = NULL, refresh_lease_owner = NULL,
             refresh_failures = 0, refresh_not_before = NULL, refresh_ambiguous_at = NULL
         WHERE id = $1 AND version = $2 AND status = 'active'
         RETURNING version",
        id,
        version,
        access.blob,
        access.key_id,
        tokens.access_expires_at,
        refresh.as_ref().map(|s| &s.blob),
        refresh.as_ref().map(|s| &s.key_id),
        tokens.refresh_expires_at,
        &tokens.scopes,
        tokens.extra,
        now,
    )
    .fetch_optional(pool)
    .await?;
    Ok(new_version)
}

/// The IdP refused the refresh token for good: the user must log in again. Conditional on
/// `version`, so an `invalid_grant` earned with a token another refresher already replaced does
/// not end a grant that holds a working one. Returns whether the grant was marked.
#[tracing::instrument(name = "db.grants.mark_needs_reauth", skip_all)]
pub async fn mark_needs_reauth(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE grants SET status = 'needs_reauth', version = version + 1, updated_at = $3,
             refresh_lease_until = NULL, refresh_lease_owner = NULL
         WHERE id = $1 AND version = $2 AND status = 'active'",
        id,
        version,
        now,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
