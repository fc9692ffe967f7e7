//! Tenants, upstream providers and MCP servers.

use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;
use crate::{
    crypto::Sealed,
    domain::{
        McpServer, ProviderKind, ResourceName, TenantSlug, UpstreamProvider,
        tenant::{Source, Tenant, TenantStatus},
    },
};

/// What an upsert did, so start-up can log it and tests can assert idempotency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Inserted(Uuid),
    Updated(Uuid),
    Unchanged(Uuid),
}

impl Upserted {
    pub fn id(self) -> Uuid {
        match self {
            Self::Inserted(id) | Self::Updated(id) | Self::Unchanged(id) => id,
        }
    }
}

fn outcome(row: Option<PgRow>) -> Result<Option<Upserted>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let id: Uuid = row.try_get("id")?;
    Ok(Some(if row.try_get::<bool, _>("inserted")? {
        Upserted::Inserted(id)
    } else {
        Upserted::Updated(id)
    }))
}

/// A tenant as the configuration declares it.
pub struct TenantInput<'a> {
    pub slug: &'a TenantSlug,
    pub display_name: &'a str,
    pub scopes: &'a [String],
    pub access_token_ttl_seconds: Option<i64>,
}

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
    match outcome(row)? {
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

/// An upstream provider as the configuration declares it, its secret already sealed.
pub struct ProviderInput<'a> {
    pub name: &'a ResourceName,
    pub kind: ProviderKind,
    pub position: i32,
    pub issuer: Option<String>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<Sealed>,
    pub scopes: Option<&'a [String]>,
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub jwks_url: Option<String>,
    pub revocation_url: Option<String>,
    pub default_token_lifetime_seconds: Option<i64>,
    pub settings: serde_json::Value,
}

pub async fn upsert_config_provider(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    p: &ProviderInput<'_>,
) -> Result<Upserted, StoreError> {
    let (secret, secret_key) = match &p.client_secret {
        Some(s) => (Some(s.blob.as_slice()), Some(s.key_id.as_str())),
        None => (None, None),
    };
    let row = sqlx::query(
        "INSERT INTO upstream_providers (id, tenant_id, name, kind, position, issuer, client_id,
             client_secret, client_secret_key_id, scopes, authorization_url, token_url, userinfo_url,
             jwks_url, revocation_url, default_token_lifetime_seconds, settings, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'config')
         ON CONFLICT (tenant_id, name) DO UPDATE SET
             kind = EXCLUDED.kind, position = EXCLUDED.position, issuer = EXCLUDED.issuer,
             client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,
             client_secret_key_id = EXCLUDED.client_secret_key_id, scopes = EXCLUDED.scopes,
             authorization_url = EXCLUDED.authorization_url, token_url = EXCLUDED.token_url,
             userinfo_url = EXCLUDED.userinfo_url, jwks_url = EXCLUDED.jwks_url,
             revocation_url = EXCLUDED.revocation_url,
             default_token_lifetime_seconds = EXCLUDED.default_token_lifetime_seconds,
             settings = EXCLUDED.settings, source = 'config', updated_at = now()
         WHERE (upstream_providers.kind, upstream_providers.position, upstream_providers.issuer,
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
         RETURNING id, (xmax = 0) AS inserted",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(p.name.as_str())
    .bind(p.kind.as_str())
    .bind(p.position)
    .bind(&p.issuer)
    .bind(p.client_id)
    .bind(secret)
    .bind(secret_key)
    .bind(p.scopes)
    .bind(&p.authorization_url)
    .bind(&p.token_url)
    .bind(&p.userinfo_url)
    .bind(&p.jwks_url)
    .bind(&p.revocation_url)
    .bind(p.default_token_lifetime_seconds)
    .bind(&p.settings)
    .fetch_optional(&mut *conn)
    .await?;
    match outcome(row)? {
        Some(done) => Ok(done),
        None => Ok(Upserted::Unchanged(
            provider_id(&mut *conn, tenant_id, p.name.as_str())
                .await?
                .ok_or_else(|| StoreError::Corrupt("provider vanished during upsert".into()))?,
        )),
    }
}

/// The sealed client secret currently stored for a provider, so an unchanged secret is not
/// re-sealed (a fresh nonce would make every start-up look like a change).
pub async fn provider_secret(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<Sealed>, StoreError> {
    let row: Option<(Option<Vec<u8>>, Option<String>)> = sqlx::query_as(
        "SELECT client_secret, client_secret_key_id FROM upstream_providers
         WHERE tenant_id = $1 AND name = $2",
    )
    .bind(tenant_id)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some((Some(blob), Some(key_id))) => Some(Sealed { key_id, blob }),
        _ => None,
    })
}

async fn provider_id(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<Uuid>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM upstream_providers WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_id)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// An MCP server as the configuration declares it.
pub struct McpServerInput<'a> {
    pub name: &'a ResourceName,
    pub upstream_url: &'a str,
    pub provider_id: Option<Uuid>,
    pub scopes: Option<&'a [String]>,
    pub required_scopes: &'a [String],
    pub forward_upstream_token: bool,
    pub exchange_client_id: Option<&'a str>,
    pub exchange_secret_hash: Option<Vec<u8>>,
}

pub async fn upsert_config_mcp_server(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    s: &McpServerInput<'_>,
) -> Result<Upserted, StoreError> {
    let row = sqlx::query(
        "INSERT INTO mcp_servers (id, tenant_id, name, upstream_url, provider_id, scopes,
             required_scopes, forward_upstream_token, exchange_client_id, exchange_secret_hash, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'config')
         ON CONFLICT (tenant_id, name) DO UPDATE SET
             upstream_url = EXCLUDED.upstream_url, provider_id = EXCLUDED.provider_id,
             scopes = EXCLUDED.scopes, required_scopes = EXCLUDED.required_scopes,
             forward_upstream_token = EXCLUDED.forward_upstream_token,
             exchange_client_id = EXCLUDED.exchange_client_id,
             exchange_secret_hash = EXCLUDED.exchange_secret_hash, source = 'config', updated_at = now()
         WHERE (mcp_servers.upstream_url, mcp_servers.provider_id, mcp_servers.scopes,
                mcp_servers.required_scopes, mcp_servers.forward_upstream_token,
                mcp_servers.exchange_client_id, mcp_servers.exchange_secret_hash, mcp_servers.source)
               IS DISTINCT FROM
               (EXCLUDED.upstream_url, EXCLUDED.provider_id, EXCLUDED.scopes, EXCLUDED.required_scopes,
                EXCLUDED.forward_upstream_token, EXCLUDED.exchange_client_id,
                EXCLUDED.exchange_secret_hash, EXCLUDED.source)
         RETURNING id, (xmax = 0) AS inserted",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(s.name.as_str())
    .bind(s.upstream_url)
    .bind(s.provider_id)
    .bind(s.scopes)
    .bind(s.required_scopes)
    .bind(s.forward_upstream_token)
    .bind(s.exchange_client_id)
    .bind(&s.exchange_secret_hash)
    .fetch_optional(&mut *conn)
    .await?;
    match outcome(row)? {
        Some(done) => Ok(done),
        None => {
            let id =
                sqlx::query_scalar("SELECT id FROM mcp_servers WHERE tenant_id = $1 AND name = $2")
                    .bind(tenant_id)
                    .bind(s.name.as_str())
                    .fetch_one(&mut *conn)
                    .await?;
            Ok(Upserted::Unchanged(id))
        }
    }
}

/// Deletes the config-owned providers and servers of a tenant that the configuration no longer
/// declares. Rows created through the API are left alone. Returns how many rows went.
pub async fn prune_config_children(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    providers: &[String],
    servers: &[String],
) -> Result<u64, StoreError> {
    let s = sqlx::query("DELETE FROM mcp_servers WHERE tenant_id = $1 AND source = 'config' AND NOT (name = ANY($2))")
        .bind(tenant_id)
        .bind(servers)
        .execute(&mut *conn)
        .await?;
    let p = sqlx::query(
        "DELETE FROM upstream_providers WHERE tenant_id = $1 AND source = 'config' AND NOT (name = ANY($2))",
    )
    .bind(tenant_id)
    .bind(providers)
    .execute(&mut *conn)
    .await?;
    Ok(s.rows_affected() + p.rows_affected())
}

fn tenant_from_row(row: &PgRow) -> Result<Tenant, StoreError> {
    let slug: String = row.try_get("slug")?;
    Ok(Tenant {
        id: row.try_get("id")?,
        slug: TenantSlug::parse(&slug)
            .map_err(|e| StoreError::Corrupt(format!("tenant slug {slug:?}: {e}")))?,
        display_name: row.try_get("display_name")?,
        source: Source::parse(row.try_get::<&str, _>("source")?),
        status: if row.try_get::<&str, _>("status")? == "active" {
            TenantStatus::Active
        } else {
            TenantStatus::Disabled
        },
        scopes: row.try_get("scopes")?,
        access_token_ttl_seconds: row.try_get("access_token_ttl_seconds")?,
    })
}

const TENANT_COLUMNS: &str =
    "id, slug, display_name, source, status, scopes, access_token_ttl_seconds";

pub async fn find_tenant(pool: &PgPool, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1"
    ))
    .bind(slug.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub async fn list_tenants(pool: &PgPool) -> Result<Vec<Tenant>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY slug"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(tenant_from_row).collect()
}

pub async fn list_mcp_servers(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Vec<McpServer>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, name, upstream_url, provider_id, scopes, required_scopes,
                forward_upstream_token, exchange_client_id
         FROM mcp_servers WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            Ok(McpServer {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                name: ResourceName::parse(&name)
                    .map_err(|_| StoreError::Corrupt(format!("server name {name:?}")))?,
                upstream_url: row.try_get("upstream_url")?,
                provider_id: row.try_get("provider_id")?,
                scopes: row.try_get("scopes")?,
                required_scopes: row.try_get("required_scopes")?,
                forward_upstream_token: row.try_get("forward_upstream_token")?,
                exchange_client_id: row.try_get("exchange_client_id")?,
            })
        })
        .collect()
}

pub async fn list_providers(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Vec<UpstreamProvider>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, tenant_id, name, kind, issuer, client_id, scopes, authorization_url, token_url,
                userinfo_url, jwks_url, revocation_url, default_token_lifetime_seconds, settings
         FROM upstream_providers WHERE tenant_id = $1 ORDER BY position, name",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            let kind: String = row.try_get("kind")?;
            Ok(UpstreamProvider {
                id: row.try_get("id")?,
                tenant_id: row.try_get("tenant_id")?,
                name: ResourceName::parse(&name)
                    .map_err(|_| StoreError::Corrupt(format!("provider name {name:?}")))?,
                kind: ProviderKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("provider kind {kind:?}")))?,
                issuer: row.try_get("issuer")?,
                client_id: row.try_get("client_id")?,
                scopes: row.try_get("scopes")?,
                authorization_url: row.try_get("authorization_url")?,
                token_url: row.try_get("token_url")?,
                userinfo_url: row.try_get("userinfo_url")?,
                jwks_url: row.try_get("jwks_url")?,
                revocation_url: row.try_get("revocation_url")?,
                default_token_lifetime_seconds: row.try_get("default_token_lifetime_seconds")?,
                settings: row.try_get("settings")?,
            })
        })
        .collect()
}

/// The MCP server whose RFC 8693 / introspection credentials carry this client id, with the
/// stored hash of its secret.
pub async fn find_server_by_exchange_client(
    pool: &PgPool,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<(Uuid, String, Vec<u8>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, exchange_secret_hash FROM mcp_servers
         WHERE tenant_id = $1 AND exchange_client_id = $2 AND exchange_secret_hash IS NOT NULL",
    )
    .bind(tenant_id)
    .bind(client_id)
    .fetch_optional(pool)
    .await?)
}
