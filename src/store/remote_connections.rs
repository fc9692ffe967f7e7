//! A user's connections to remote-OAuth MCP servers (`remote_connections`, tokens sealed, one
//! row per tenant, subject and server). The one-time connect links handed out in elicitations
//! and the authorization requests in flight are `remote_connect_flow`'s (re-exported here).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::StoreError;
use crate::{
    crypto::{Sealed, Sealer},
    domain::UpstreamTokens,
};

pub use super::remote_connect_flow::{
    ConnectFor, Pending, consume_link, consume_pending, insert_link, insert_pending,
};

/// Whether a connection may be used or must be made again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    Active,
    /// The remote refused the refresh token (`invalid_grant`): the user must connect again.
    NeedsReconnect,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReconnect => "needs_reconnect",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "active" {
            Self::Active
        } else {
            Self::NeedsReconnect
        }
    }
}

/// A connection with its tokens opened. Never `Debug`.
#[derive(Clone)]
pub struct Connection {
    pub id: Uuid,
    pub status: ConnectionStatus,
    pub access_token: String,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_token: Option<String>,
    pub version: i64,
}

fn aad(id: Uuid, which: &str) -> String {
    format!("remote_connection:{id}:{which}")
}

/// A `remote_connections` row as `query_as!` reads it: tokens still sealed, status still text.
struct StoredConnection {
    id: Uuid,
    status: String,
    access_token: Vec<u8>,
    access_key_id: String,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<Vec<u8>>,
    refresh_key_id: Option<String>,
    version: i64,
}

impl StoredConnection {
    /// Opens the tokens (each bound to the row's id and its kind) and parses the status.
    fn open(self, sealer: &Sealer) -> Result<Connection, StoreError> {
        let id = self.id;
        let corrupt =
            |e: crate::crypto::seal::SealError| StoreError::Corrupt(format!("remote token: {e}"));
        let access = Sealed {
            key_id: self.access_key_id,
            blob: self.access_token,
        };
        let refresh_token = match (self.refresh_token, self.refresh_key_id) {
            (Some(blob), Some(key_id)) => Some(
                sealer
                    .open_string(&Sealed { key_id, blob }, &aad(id, "refresh"))
                    .map_err(corrupt)?,
            ),
            _ => None,
        };
        Ok(Connection {
            id,
            status: ConnectionStatus::parse(&self.status),
            access_token: sealer
                .open_string(&access, &aad(id, "access"))
                .map_err(corrupt)?,
            access_expires_at: self.access_expires_at,
            refresh_token,
            version: self.version,
        })
    }
}

/// A deleted `remote_connections` row (`DELETE … RETURNING`): its server and subject beside
/// the connection columns.
struct StoredDeleted {
    mcp_server_id: Uuid,
    subject: String,
    id: Uuid,
    status: String,
    access_token: Vec<u8>,
    access_key_id: String,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<Vec<u8>>,
    refresh_key_id: Option<String>,
    version: i64,
}

impl StoredDeleted {
    fn open(self, sealer: &Sealer) -> Result<Deleted, StoreError> {
        let connection = StoredConnection {
            id: self.id,
            status: self.status,
            access_token: self.access_token,
            access_key_id: self.access_key_id,
            access_expires_at: self.access_expires_at,
            refresh_token: self.refresh_token,
            refresh_key_id: self.refresh_key_id,
            version: self.version,
        }
        .open(sealer)?;
        Ok(Deleted {
            mcp_server_id: self.mcp_server_id,
            subject: self.subject,
            connection,
        })
    }
}

/// The connection of `subject` to `server` in `tenant`, if any.
#[tracing::instrument(name = "db.remote_connections.find", skip_all)]
pub async fn find(
    pool: &PgPool,
    sealer: &Sealer,
    tenant_id: Uuid,
    subject: &str,
    server: Uuid,
) -> Result<Option<Connection>, StoreError> {
    let row = sqlx::query_as!(
        StoredConnection,
        "SELECT id, status, access_token, access_key_id, access_expires_at, refresh_token,
             refresh_key_id, version
         FROM remote_connections
         WHERE tenant_id = $1 AND subject = $2 AND mcp_server_id = $3",
        tenant_id,
        subject,
        server,
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.open(sealer)).transpose()
}

/// The connection locked for a refresh (`FOR UPDATE`, within `tx`): a refresh on another replica
/// waits here and then reads the version the winner committed.
#[tracing::instrument(name = "db.remote_connections.lock", skip_all)]
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    sealer: &Sealer,
    id: Uuid,
) -> Result<Option<Connection>, StoreError> {
    let row = sqlx::query_as!(
        StoredConnection,
        "SELECT id, status, access_token, access_key_id, access_expires_at, refresh_token,
             refresh_key_id, version
         FROM remote_connections WHERE id = $1 FOR UPDATE",
        id,
    )
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| r.open(sealer)).transpose()
}

fn seal_tokens(sealer: &Sealer, id: Uuid, tokens: &UpstreamTokens) -> (Sealed, Option<Sealed>) {
    let access = sealer.seal_str(&tokens.access_token, &aad(id, "access"));
    let refresh = tokens
        .refresh_token
        .as_deref()
        .map(|r| sealer.seal_str(r, &aad(id, "refresh")));
    (access, refresh)
}

/// Stores the tokens of a completed connect, replacing any earlier connection of the same
/// user and server (a reconnect). Returns the connection id and the replaced access and
/// refresh tokens, if any, so the caller can revoke them at the remote.
#[tracing::instrument(name = "db.remote_connections.connect", skip_all)]
pub async fn connect(
    pool: &PgPool,
    sealer: &Sealer,
    who: &ConnectFor,
    tokens: &UpstreamTokens,
) -> Result<(Uuid, Option<Connection>), StoreError> {
    let mut tx = pool.begin().await?;
    let old = sqlx::query_as!(
        StoredConnection,
        "DELETE FROM remote_connections WHERE tenant_id = $1 AND subject = $2 AND mcp_server_id = $3
         RETURNING id, status, access_token, access_key_id, access_expires_at, refresh_token,
             refresh_key_id, version",
        who.tenant_id,
        who.subject,
        who.mcp_server_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let old = old.map(|r| r.open(sealer)).transpose()?;
    let id = Uuid::new_v4();
    let (access, refresh) = seal_tokens(sealer, id, tokens);
    sqlx::query!(
        "INSERT INTO remote_connections (id, tenant_id, mcp_server_id, subject, access_token,
             access_key_id, access_expires_at, refresh_token, refresh_key_id, scopes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        who.tenant_id,
        who.mcp_server_id,
        who.subject,
        access.blob,
        access.key_id,
        tokens.access_expires_at,
        refresh.as_ref().map(|s| s.blob.as_slice()),
        refresh.as_ref().map(|s| s.key_id.as_str()),
        tokens.scopes.as_slice(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((id, old))
}

/// Stores refreshed tokens on the locked row (a refresh token the remote did not rotate is
/// kept) and bumps the version.
#[tracing::instrument(name = "db.remote_connections.store_refreshed", skip_all)]
pub async fn store_refreshed(
    tx: &mut Transaction<'_, Postgres>,
    sealer: &Sealer,
    id: Uuid,
    tokens: &UpstreamTokens,
) -> Result<i64, StoreError> {
    let (access, refresh) = seal_tokens(sealer, id, tokens);
    let version = sqlx::query_scalar!(
        "UPDATE remote_connections SET access_token = $2, access_key_id = $3,
             access_expires_at = $4,
             refresh_token = COALESCE($5, refresh_token),
             refresh_key_id = COALESCE($6, refresh_key_id),
             version = version + 1, refreshed_at = now(), status = 'active'
         WHERE id = $1 RETURNING version",
        id,
        access.blob,
        access.key_id,
        tokens.access_expires_at,
        refresh.as_ref().map(|s| s.blob.as_slice()),
        refresh.as_ref().map(|s| s.key_id.as_str()),
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(version)
}

/// The remote refused the refresh token: the connection needs the user again.
#[tracing::instrument(name = "db.remote_connections.mark_needs_reconnect", skip_all)]
pub async fn mark_needs_reconnect(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE remote_connections SET status = 'needs_reconnect', version = version + 1
         WHERE id = $1",
        id,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A connection as the admin API lists it: who, which server, state and times — no tokens.
#[derive(Clone, Debug)]
pub struct ConnectionRow {
    pub id: Uuid,
    pub subject: String,
    pub server: String,
    pub status: ConnectionStatus,
    pub scopes: Vec<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub has_refresh_token: bool,
    pub connected_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// The connections of a tenant, optionally of one subject and/or one server (by name).
#[tracing::instrument(name = "db.remote_connections.list", skip_all)]
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    subject: Option<&str>,
    server: Option<&str>,
) -> Result<Vec<ConnectionRow>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT c.id, c.subject, s.name AS server, c.status, c.scopes, c.access_expires_at,
             (c.refresh_token IS NOT NULL) AS "has_refresh_token!", c.connected_at, c.refreshed_at
         FROM remote_connections c JOIN mcp_servers s ON s.id = c.mcp_server_id
         WHERE c.tenant_id = $1 AND ($2::text IS NULL OR c.subject = $2)
           AND ($3::text IS NULL OR s.name = $3)
         ORDER BY c.subject, s.name LIMIT 1000"#,
        tenant_id,
        subject,
        server,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ConnectionRow {
            id: r.id,
            subject: r.subject,
            server: r.server,
            status: ConnectionStatus::parse(&r.status),
            scopes: r.scopes,
            access_expires_at: r.access_expires_at,
            has_refresh_token: r.has_refresh_token,
            connected_at: r.connected_at,
            refreshed_at: r.refreshed_at,
        })
        .collect())
}

/// A deleted connection: its server (for the revocation endpoint) and tokens (to revoke).
pub struct Deleted {
    pub mcp_server_id: Uuid,
    pub subject: String,
    pub connection: Connection,
}

/// Deletes one connection of a tenant and returns it (tokens open, to revoke remotely).
#[tracing::instrument(name = "db.remote_connections.delete", skip_all)]
pub async fn delete(
    pool: &PgPool,
    sealer: &Sealer,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Deleted>, StoreError> {
    let row = sqlx::query_as!(
        StoredDeleted,
        "DELETE FROM remote_connections WHERE tenant_id = $1 AND id = $2
         RETURNING mcp_server_id, subject, id, status, access_token, access_key_id,
             access_expires_at, refresh_token, refresh_key_id, version",
        tenant_id,
        id,
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.open(sealer)).transpose()
}

/// Deletes every connection of `subject` in a tenant (their grant was revoked).
#[tracing::instrument(name = "db.remote_connections.delete_subject", skip_all)]
pub async fn delete_subject(
    pool: &PgPool,
    sealer: &Sealer,
    tenant_id: Uuid,
    subject: &str,
) -> Result<Vec<Deleted>, StoreError> {
    let rows = sqlx::query_as!(
        StoredDeleted,
        "DELETE FROM remote_connections WHERE tenant_id = $1 AND subject = $2
         RETURNING mcp_server_id, subject, id, status, access_token, access_key_id,
             access_expires_at, refresh_token, refresh_key_id, version",
        tenant_id,
        subject,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|r| r.open(sealer)).collect()
}

/// Whether `server` is a remote-OAuth server.
#[tracing::instrument(name = "db.remote_connections.is_remote", skip_all)]
pub async fn is_remote(pool: &PgPool, server: Uuid) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM remote_oauth_servers WHERE mcp_server_id = $1) AS "remote!""#,
        server,
    )
    .fetch_one(pool)
    .await?)
}
