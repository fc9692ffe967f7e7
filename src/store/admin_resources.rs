//! Upstream providers and MCP servers of a tenant as the admin API writes them: whole rows,
//! inside the caller's transaction. A unique violation (a taken name, a taken token-exchange
//! client id) comes back as [`Write::Conflict`] rather than an error, so it becomes a 409.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;
use crate::{crypto::Sealed, domain::tenant::Source};

/// The outcome of an insert or update that can hit a unique constraint.
pub enum Write<T> {
    Done(T),
    Conflict,
}

fn conflict_or<T>(e: sqlx::Error) -> Result<Write<T>, StoreError> {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => Ok(Write::Conflict),
        _ => Err(e.into()),
    }
}

/// A provider row. `client_secret` stays sealed and never leaves the admin module's handlers.
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

const PROVIDER_COLUMNS: &str = "id, name, kind, position, issuer, client_id, client_secret,
    client_secret_key_id, scopes, authorization_url, token_url, userinfo_url, jwks_url,
    revocation_url, default_token_lifetime_seconds, settings, source, created_at, updated_at";

fn provider_from_row(r: &PgRow) -> Result<ProviderRow, StoreError> {
    let blob: Option<Vec<u8>> = r.try_get("client_secret")?;
    let key_id: Option<String> = r.try_get("client_secret_key_id")?;
    Ok(ProviderRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        position: r.try_get("position")?,
        issuer: r.try_get("issuer")?,
        client_id: r.try_get("client_id")?,
        client_secret: blob
            .zip(key_id)
            .map(|(blob, key_id)| Sealed { key_id, blob }),
        scopes: r.try_get("scopes")?,
        authorization_url: r.try_get("authorization_url")?,
        token_url: r.try_get("token_url")?,
        userinfo_url: r.try_get("userinfo_url")?,
        jwks_url: r.try_get("jwks_url")?,
        revocation_url: r.try_get("revocation_url")?,
        default_token_lifetime_seconds: r.try_get("default_token_lifetime_seconds")?,
        settings: r.try_get("settings")?,
        source: Source::parse(r.try_get::<&str, _>("source")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn list_providers(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Vec<ProviderRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM upstream_providers WHERE tenant_id = $1 ORDER BY position, name"
    ))
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(provider_from_row).collect()
}

/// The provider `name` of a tenant; `lock` holds the row until the transaction ends.
pub async fn find_provider(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
    lock: bool,
) -> Result<Option<ProviderRow>, StoreError> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {PROVIDER_COLUMNS} FROM upstream_providers WHERE tenant_id = $1 AND name = $2{suffix}"
    ))
    .bind(tenant_id)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(provider_from_row).transpose()
}

/// Inserts (`p.id` new) or replaces (`p.id` existing) a provider row with every column of `p`.
pub async fn save_provider(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    p: &ProviderRow,
) -> Result<Write<ProviderRow>, StoreError> {
    let (secret, secret_key) = match &p.client_secret {
        Some(s) => (Some(s.blob.as_slice()), Some(s.key_id.as_str())),
        None => (None, None),
    };
    let result = sqlx::query(&format!(
        "INSERT INTO upstream_providers (id, tenant_id, name, kind, position, issuer, client_id,
             client_secret, client_secret_key_id, scopes, authorization_url, token_url, userinfo_url,
             jwks_url, revocation_url, default_token_lifetime_seconds, settings, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'api')
         ON CONFLICT (id) DO UPDATE SET
             kind = EXCLUDED.kind, position = EXCLUDED.position, issuer = EXCLUDED.issuer,
             client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,
             client_secret_key_id = EXCLUDED.client_secret_key_id, scopes = EXCLUDED.scopes,
             authorization_url = EXCLUDED.authorization_url, token_url = EXCLUDED.token_url,
             userinfo_url = EXCLUDED.userinfo_url, jwks_url = EXCLUDED.jwks_url,
             revocation_url = EXCLUDED.revocation_url,
             default_token_lifetime_seconds = EXCLUDED.default_token_lifetime_seconds,
             settings = EXCLUDED.settings, updated_at = now()
         RETURNING {PROVIDER_COLUMNS}"
    ))
    .bind(p.id)
    .bind(tenant_id)
    .bind(&p.name)
    .bind(&p.kind)
    .bind(p.position)
    .bind(&p.issuer)
    .bind(&p.client_id)
    .bind(secret)
    .bind(secret_key)
    .bind(&p.scopes)
    .bind(&p.authorization_url)
    .bind(&p.token_url)
    .bind(&p.userinfo_url)
    .bind(&p.jwks_url)
    .bind(&p.revocation_url)
    .bind(p.default_token_lifetime_seconds)
    .bind(&p.settings)
    .fetch_one(&mut *conn)
    .await;
    match result {
        Ok(row) => Ok(Write::Done(provider_from_row(&row)?)),
        Err(e) => conflict_or(e),
    }
}

/// An MCP server row with its provider's name. The token-exchange secret stays a hash.
#[derive(Clone, Debug)]
pub struct ServerRow {
    pub id: Uuid,
    pub name: String,
    pub upstream_url: String,
    pub provider_id: Option<Uuid>,
    pub provider: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub required_scopes: Vec<String>,
    pub forward_upstream_token: bool,
    pub exchange_client_id: Option<String>,
    pub exchange_secret_hash: Option<Vec<u8>>,
    pub source: Source,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SERVER_SELECT: &str =
    "SELECT s.id, s.name, s.upstream_url, s.provider_id, p.name AS provider,
        s.scopes, s.required_scopes, s.forward_upstream_token, s.exchange_client_id,
        s.exchange_secret_hash, s.source, s.created_at, s.updated_at
    FROM mcp_servers s LEFT JOIN upstream_providers p ON p.id = s.provider_id";

fn server_from_row(r: &PgRow) -> Result<ServerRow, StoreError> {
    Ok(ServerRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        upstream_url: r.try_get("upstream_url")?,
        provider_id: r.try_get("provider_id")?,
        provider: r.try_get("provider")?,
        scopes: r.try_get("scopes")?,
        required_scopes: r.try_get("required_scopes")?,
        forward_upstream_token: r.try_get("forward_upstream_token")?,
        exchange_client_id: r.try_get("exchange_client_id")?,
        exchange_secret_hash: r.try_get("exchange_secret_hash")?,
        source: Source::parse(r.try_get::<&str, _>("source")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn list_servers(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<ServerRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SERVER_SELECT} WHERE s.tenant_id = $1 ORDER BY s.name"
    ))
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(server_from_row).collect()
}

pub async fn find_server(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<ServerRow>, StoreError> {
    let row = sqlx::query(&format!(
        "{SERVER_SELECT} WHERE s.tenant_id = $1 AND s.name = $2"
    ))
    .bind(tenant_id)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(server_from_row).transpose()
}

/// Inserts or replaces a server row; returns it re-read (with its provider's name).
pub async fn save_server(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    s: &ServerRow,
) -> Result<Write<ServerRow>, StoreError> {
    let result = sqlx::query(
        "INSERT INTO mcp_servers (id, tenant_id, name, upstream_url, provider_id, scopes,
             required_scopes, forward_upstream_token, exchange_client_id, exchange_secret_hash, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'api')
         ON CONFLICT (id) DO UPDATE SET
             upstream_url = EXCLUDED.upstream_url, provider_id = EXCLUDED.provider_id,
             scopes = EXCLUDED.scopes, required_scopes = EXCLUDED.required_scopes,
             forward_upstream_token = EXCLUDED.forward_upstream_token,
             exchange_client_id = EXCLUDED.exchange_client_id,
             exchange_secret_hash = EXCLUDED.exchange_secret_hash, updated_at = now()",
    )
    .bind(s.id)
    .bind(tenant_id)
    .bind(&s.name)
    .bind(&s.upstream_url)
    .bind(s.provider_id)
    .bind(&s.scopes)
    .bind(&s.required_scopes)
    .bind(s.forward_upstream_token)
    .bind(&s.exchange_client_id)
    .bind(&s.exchange_secret_hash)
    .execute(&mut *conn)
    .await;
    if let Err(e) = result {
        return conflict_or(e);
    }
    let saved = find_server(conn, tenant_id, &s.name)
        .await?
        .ok_or_else(|| StoreError::Corrupt("server vanished after save".into()))?;
    Ok(Write::Done(saved))
}

/// Deletes a provider (cascading to its grants) or a server, by table.
pub async fn delete(conn: &mut PgConnection, table: Table, id: Uuid) -> Result<bool, StoreError> {
    let sql = match table {
        Table::Providers => "DELETE FROM upstream_providers WHERE id = $1",
        Table::Servers => "DELETE FROM mcp_servers WHERE id = $1",
    };
    let done = sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Clone, Copy, Debug)]
pub enum Table {
    Providers,
    Servers,
}
