//! Upstream providers (`upstream_providers`): the rows the configuration file and the admin
//! API write through one upsert, the sealed client secret, and the listings (the domain
//! [`UpstreamProvider`] the login flow uses, whole [`ProviderRow`]s for the admin API).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    RowLock, StoreError,
    upsert::{Upserted, Write, conflict_or},
};
use crate::{
    crypto::Sealed,
    domain::{ProviderKind, ResourceName, UpstreamProvider, tenant::Source},
};

/// A provider row. `client_secret` stays sealed and never leaves the store and the admin
/// handlers. On write, `source` and the timestamps are ignored: the writer owns the row and the
/// database keeps the times.
#[derive(Clone, Debug)]
pub struct ProviderRow {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub position: i32,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Sealed>,
    pub scopes: Option<Vec<String>>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub revocation_url: Option<String>,
    pub default_token_lifetime_seconds: Option<i64>,
    pub settings: serde_json::Value,
    pub source: Source,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProviderRow {
    /// The provider as the login flow uses it: name and kind parsed (a row that does not
    /// parse was not written by this service).
    fn into_domain(self, tenant_id: Uuid) -> Result<UpstreamProvider, StoreError> {
        Ok(UpstreamProvider {
            id: self.id,
            tenant_id,
            name: ResourceName::parse(&self.name)
                .map_err(|_| StoreError::Corrupt(format!("provider name {:?}", self.name)))?,
            kind: ProviderKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("provider kind {:?}", self.kind)))?,
            issuer: self.issuer,
            client_id: self.client_id,
            scopes: self.scopes,
            authorization_url: self.authorization_url,
            token_url: self.token_url,
            userinfo_url: self.userinfo_url,
            jwks_url: self.jwks_url,
            revocation_url: self.revocation_url,
            default_token_lifetime_seconds: self.default_token_lifetime_seconds,
            settings: self.settings,
        })
    }
}

/// A row as `query_as!` reads it; [`StoredProvider::into_row`] pairs the sealed secret with its
/// key id and parses the source once.
struct StoredProvider {
    id: Uuid,
    name: String,
    kind: String,
    position: i32,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Vec<u8>>,
    client_secret_key_id: Option<String>,
    scopes: Option<Vec<String>>,
    authorization_url: Option<String>,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    jwks_url: Option<String>,
    revocation_url: Option<String>,
    default_token_lifetime_seconds: Option<i64>,
    settings: serde_json::Value,
    source: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StoredProvider {
    fn into_row(self) -> ProviderRow {
        ProviderRow {
            id: self.id,
            name: self.name,
            kind: self.kind,
            position: self.position,
            issuer: self.issuer,
            client_id: self.client_id,
            client_secret: self
                .client_secret
                .zip(self.client_secret_key_id)
                .map(|(blob, key_id)| Sealed { key_id, blob }),
            scopes: self.scopes,
            authorization_url: self.authorization_url,
            token_url: self.token_url,
            userinfo_url: self.userinfo_url,
            jwks_url: self.jwks_url,
            revocation_url: self.revocation_url,
            default_token_lifetime_seconds: self.default_token_lifetime_seconds,
            settings: self.settings,
            source: Source::parse(&self.source),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The one statement that writes a provider, keyed on `(tenant_id, name)`. A row owned by the
/// configuration is only touched when it differs (so a restart with the same file changes
/// nothing); an API write only replaces the row it read (same id), so creating a name that is
/// taken writes nothing. An API tenant only ever holds API rows, so taking `source` from the
/// writer never hands a row to the other owner. Returns what it wrote, if it wrote.
async fn upsert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    p: &ProviderRow,
    source: Source,
) -> Result<Option<Upserted>, sqlx::Error> {
    let (secret, secret_key) = match &p.client_secret {
        Some(s) => (Some(s.blob.as_slice()), Some(s.key_id.as_str())),
        None => (None, None),
    };
    let row = sqlx::query!(
        r#"INSERT INTO upstream_providers (id, tenant_id, name, kind, position, issuer, client_id,
             client_secret, client_secret_key_id, scopes, authorization_url, token_url, userinfo_url,
             jwks_url, revocation_url, default_token_lifetime_seconds, settings, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT (tenant_id, name) DO UPDATE SET
             kind = EXCLUDED.kind, position = EXCLUDED.position, issuer = EXCLUDED.issuer,
             client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,
             client_secret_key_id = EXCLUDED.client_secret_key_id, scopes = EXCLUDED.scopes,
             authorization_url = EXCLUDED.authorization_url, token_url = EXCLUDED.token_url,
             userinfo_url = EXCLUDED.userinfo_url, jwks_url = EXCLUDED.jwks_url,
             revocation_url = EXCLUDED.revocation_url,
             default_token_lifetime_seconds = EXCLUDED.default_token_lifetime_seconds,
             settings = EXCLUDED.settings, source = EXCLUDED.source, updated_at = now()
         WHERE CASE EXCLUDED.source
             WHEN 'api' THEN upstream_providers.id = EXCLUDED.id
             ELSE (upstream_providers.kind, upstream_providers.position, upstream_providers.issuer,
                   upstream_providers.client_id, upstream_providers.client_secret,
                   upstream_providers.scopes, upstream_providers.authorization_url,
                   upstream_providers.token_url, upstream_providers.userinfo_url,
                   upstream_providers.jwks_url, upstream_providers.revocation_url,
                   upstream_providers.default_token_lifetime_seconds, upstream_providers.settings,
                   upstream_providers.source)
                  IS DISTINCT FROM
                  (EXCLUDED.kind, EXCLUDED.position, EXCLUDED.issuer, EXCLUDED.client_id,
                   EXCLUDED.client_secret, EXCLUDED.scopes, EXCLUDED.authorization_url,
                   EXCLUDED.token_url, EXCLUDED.userinfo_url, EXCLUDED.jwks_url,
                   EXCLUDED.revocation_url, EXCLUDED.default_token_lifetime_seconds,
                   EXCLUDED.settings, EXCLUDED.source)
             END
         RETURNING id, (xmax = 0) AS "inserted!""#,
        p.id,
        tenant_id,
        p.name,
        p.kind,
        p.position,
        p.issuer.as_deref(),
        p.client_id.as_deref(),
        secret,
        secret_key,
        p.scopes.as_deref(),
        p.authorization_url.as_deref(),
        p.token_url.as_deref(),
        p.userinfo_url.as_deref(),
        p.jwks_url.as_deref(),
        p.revocation_url.as_deref(),
        p.default_token_lifetime_seconds,
        p.settings,
        source.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| Upserted::from_returning(r.id, r.inserted)))
}

/// Writes a provider the configuration declares, as the configuration's.
#[tracing::instrument(name = "db.providers.upsert_config", skip_all)]
pub async fn upsert_config(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    p: &ProviderRow,
) -> Result<Upserted, StoreError> {
    match upsert(conn, tenant_id, p, Source::Config).await? {
        Some(done) => Ok(done),
        None => Ok(Upserted::Unchanged(
            id_of(&mut *conn, tenant_id, &p.name)
                .await?
                .ok_or_else(|| StoreError::Corrupt("provider vanished during upsert".into()))?,
        )),
    }
}

/// Inserts (`p.id` new) or replaces (`p.id` existing) a provider through the admin API, as
/// the API's, and returns it as stored; [`Write::Conflict`] when another provider has its name.
#[tracing::instrument(name = "db.providers.save", skip_all)]
pub async fn save(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    p: &ProviderRow,
) -> Result<Write<ProviderRow>, StoreError> {
    match upsert(conn, tenant_id, p, Source::Api).await {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Write::Conflict),
        Err(e) => return conflict_or(e),
    }
    let saved = find(conn, tenant_id, &p.name, RowLock::None)
        .await?
        .ok_or_else(|| StoreError::Corrupt("provider vanished after save".into()))?;
    Ok(Write::Done(saved))
}

/// The sealed client secret currently stored for a provider, so an unchanged secret is not
/// re-sealed (a fresh nonce would make every start-up look like a change).
#[tracing::instrument(name = "db.providers.sealed_secret", skip_all)]
pub async fn sealed_secret(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<Sealed>, StoreError> {
    let row = sqlx::query!(
        "SELECT client_secret, client_secret_key_id FROM upstream_providers
         WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        name,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|r| {
        r.client_secret
            .zip(r.client_secret_key_id)
            .map(|(blob, key_id)| Sealed { key_id, blob })
    }))
}

async fn id_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM upstream_providers WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        name,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Every provider row of a tenant in its order (the first is the default).
#[tracing::instrument(name = "db.providers.list_rows", skip_all)]
pub async fn list_rows(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<ProviderRow>, StoreError> {
    let rows = sqlx::query_as!(
        StoredProvider,
        "SELECT id, name, kind, position, issuer, client_id, client_secret,
             client_secret_key_id, scopes, authorization_url, token_url, userinfo_url, jwks_url,
             revocation_url, default_token_lifetime_seconds, settings, source, created_at, updated_at
         FROM upstream_providers WHERE tenant_id = $1 ORDER BY position, name",
        tenant_id,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(StoredProvider::into_row).collect())
}

/// Every provider of a tenant as the login flow uses it, in order.
#[tracing::instrument(name = "db.providers.list", skip_all)]
pub async fn list(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<UpstreamProvider>, StoreError> {
    list_rows(pool, tenant_id)
        .await?
        .into_iter()
        .map(|p| p.into_domain(tenant_id))
        .collect()
}

/// The provider `name` of a tenant; [`RowLock::ForUpdate`] holds the row until the
/// transaction ends.
#[tracing::instrument(name = "db.providers.find", skip_all)]
pub async fn find(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
    lock: RowLock,
) -> Result<Option<ProviderRow>, StoreError> {
    let row = match lock {
        RowLock::None => {
            sqlx::query_as!(
                StoredProvider,
                "SELECT id, name, kind, position, issuer, client_id, client_secret,
             client_secret_key_id, scopes, authorization_url, token_url, userinfo_url, jwks_url,
             revocation_url, default_token_lifetime_seconds, settings, source, created_at, updated_at
                 FROM upstream_providers WHERE tenant_id = $1 AND name = $2",
                tenant_id,
                name,
            )
            .fetch_optional(&mut *conn)
            .await?
        }
        RowLock::ForUpdate => {
            sqlx::query_as!(
                StoredProvider,
                "SELECT id, name, kind, position, issuer, client_id, client_secret,
             client_secret_key_id, scopes, authorization_url, token_url, userinfo_url, jwks_url,
             revocation_url, default_token_lifetime_seconds, settings, source, created_at, updated_at
                 FROM upstream_providers WHERE tenant_id = $1 AND name = $2 FOR UPDATE",
                tenant_id,
                name,
            )
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    Ok(row.map(StoredProvider::into_row))
}

/// Deletes a provider; its grants go by cascade. Returns whether a row went.
#[tracing::instrument(name = "db.providers.delete", skip_all)]
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!("DELETE FROM upstream_providers WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the config-owned providers of a tenant that the configuration no longer declares;
/// rows created through the API are left alone. Returns how many went.
#[tracing::instrument(name = "db.providers.prune_config", skip_all)]
pub async fn prune_config(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    declared: &[String],
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM upstream_providers WHERE tenant_id = $1 AND source = 'config' AND NOT (name = ANY($2))",
        tenant_id,
        declared,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
