//! Remote-OAuth MCP servers (`remote_oauth_servers`): which servers have their own authorization
//! server and the settings the operator gave (scopes, a pre-configured client), and the
//! registration the bridge obtained there (`remote_registrations`), kept and reused. Client
//! secrets are sealed, bound to their server.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;
use crate::crypto::{Sealed, Sealer};

/// The operator's settings of one remote-OAuth server. `client_secret` is open here (sealed in
/// the row), so this type never derives `Debug`.
#[derive(Clone)]
pub struct RemoteSettings {
    pub mcp_server_id: Uuid,
    pub scopes: Option<Vec<String>>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// How the bridge holds its client registration at a remote authorization server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationMethod {
    Preconfigured,
    MetadataDocument,
    Dynamic,
}

impl RegistrationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preconfigured => "preconfigured",
            Self::MetadataDocument => "metadata_document",
            Self::Dynamic => "dynamic",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "preconfigured" => Self::Preconfigured,
            "metadata_document" => Self::MetadataDocument,
            _ => Self::Dynamic,
        }
    }
}

/// What discovery found and the registration obtained. Never `Debug` (the secret is open).
#[derive(Clone)]
pub struct Registration {
    pub mcp_server_id: Uuid,
    pub method: RegistrationMethod,
    pub issuer: String,
    pub resource: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
}

fn settings_aad(server: Uuid) -> String {
    format!("remote:{server}:client_secret")
}

fn registration_aad(server: Uuid) -> String {
    format!("remote:{server}:registration_secret")
}

/// Opens a sealed client secret; `None` when the row holds none.
fn open(
    sealer: &Sealer,
    blob: Option<Vec<u8>>,
    key_id: Option<String>,
    aad: &str,
) -> Result<Option<String>, StoreError> {
    match (blob, key_id) {
        (Some(blob), Some(key_id)) => sealer
            .open_string(&Sealed { key_id, blob }, aad)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("remote client secret: {e}"))),
        _ => Ok(None),
    }
}

/// A `remote_oauth_servers` row as `query_as!` reads it, the secret still sealed.
struct StoredSettings {
    mcp_server_id: Uuid,
    scopes: Option<Vec<String>>,
    client_id: Option<String>,
    client_secret: Option<Vec<u8>>,
    client_secret_key_id: Option<String>,
}

impl StoredSettings {
    /// Opens the secret (bound to the row's server) and gives the settings.
    fn open(self, sealer: &Sealer) -> Result<RemoteSettings, StoreError> {
        let client_secret = open(
            sealer,
            self.client_secret,
            self.client_secret_key_id,
            &settings_aad(self.mcp_server_id),
        )?;
        Ok(RemoteSettings {
            mcp_server_id: self.mcp_server_id,
            scopes: self.scopes,
            client_id: self.client_id,
            client_secret,
        })
    }
}

/// A `remote_registrations` row as `query_as!` reads it: the method still text, the secret
/// still sealed.
struct StoredRegistration {
    mcp_server_id: Uuid,
    method: String,
    issuer: String,
    resource: String,
    authorization_endpoint: String,
    token_endpoint: String,
    revocation_endpoint: Option<String>,
    scopes: Vec<String>,
    client_id: String,
    client_secret: Option<Vec<u8>>,
    client_secret_key_id: Option<String>,
}

impl StoredRegistration {
    /// Parses the method and opens the secret (bound to the row's server).
    fn open(self, sealer: &Sealer) -> Result<Registration, StoreError> {
        let client_secret = open(
            sealer,
            self.client_secret,
            self.client_secret_key_id,
            &registration_aad(self.mcp_server_id),
        )?;
        Ok(Registration {
            mcp_server_id: self.mcp_server_id,
            method: RegistrationMethod::parse(&self.method),
            issuer: self.issuer,
            resource: self.resource,
            authorization_endpoint: self.authorization_endpoint,
            token_endpoint: self.token_endpoint,
            revocation_endpoint: self.revocation_endpoint,
            scopes: self.scopes,
            client_id: self.client_id,
            client_secret,
        })
    }
}

/// Makes `s` a remote-OAuth server (or updates its settings); writes nothing when the stored
/// settings are already these (a restart with the same file changes no row). A changed setting
/// drops the registration obtained under the old one, so the next connect registers afresh.
/// Returns whether it wrote.
#[tracing::instrument(name = "db.remote_registrations.upsert_settings", skip_all)]
pub async fn upsert_settings(
    conn: &mut PgConnection,
    sealer: &Sealer,
    s: &RemoteSettings,
) -> Result<bool, StoreError> {
    let current = sqlx::query_as!(
        StoredSettings,
        "SELECT mcp_server_id, scopes, client_id, client_secret, client_secret_key_id
         FROM remote_oauth_servers WHERE mcp_server_id = $1 FOR UPDATE",
        s.mcp_server_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(stored) = current {
        let current = stored.open(sealer)?;
        if current.scopes == s.scopes
            && current.client_id == s.client_id
            && current.client_secret == s.client_secret
        {
            return Ok(false);
        }
    }
    let secret = s
        .client_secret
        .as_deref()
        .map(|secret| sealer.seal_str(secret, &settings_aad(s.mcp_server_id)));
    sqlx::query!(
        "INSERT INTO remote_oauth_servers (mcp_server_id, scopes, client_id, client_secret, client_secret_key_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (mcp_server_id) DO UPDATE SET scopes = EXCLUDED.scopes,
             client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,
             client_secret_key_id = EXCLUDED.client_secret_key_id, updated_at = now()",
        s.mcp_server_id,
        s.scopes.as_deref(),
        s.client_id.as_deref(),
        secret.as_ref().map(|x| x.blob.as_slice()),
        secret.as_ref().map(|x| x.key_id.as_str()),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM remote_registrations WHERE mcp_server_id = $1",
        s.mcp_server_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Makes `server` a plain MCP server again; its connections and registration go by cascade.
#[tracing::instrument(name = "db.remote_registrations.delete_settings", skip_all)]
pub async fn delete_settings(conn: &mut PgConnection, server: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "DELETE FROM remote_oauth_servers WHERE mcp_server_id = $1",
        server
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(name = "db.remote_registrations.settings", skip_all)]
pub async fn settings(
    pool: &PgPool,
    sealer: &Sealer,
    server: Uuid,
) -> Result<Option<RemoteSettings>, StoreError> {
    let row = sqlx::query_as!(
        StoredSettings,
        "SELECT mcp_server_id, scopes, client_id, client_secret, client_secret_key_id
         FROM remote_oauth_servers WHERE mcp_server_id = $1",
        server,
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.open(sealer)).transpose()
}

#[tracing::instrument(name = "db.remote_registrations.find", skip_all)]
pub async fn find(
    pool: &PgPool,
    sealer: &Sealer,
    server: Uuid,
) -> Result<Option<Registration>, StoreError> {
    let row = sqlx::query_as!(
        StoredRegistration,
        "SELECT mcp_server_id, method, issuer, resource, authorization_endpoint, token_endpoint,
             revocation_endpoint, scopes, client_id, client_secret, client_secret_key_id
         FROM remote_registrations WHERE mcp_server_id = $1",
        server,
    )
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.open(sealer)).transpose()
}

/// Stores (or replaces) the registration of a server.
#[tracing::instrument(name = "db.remote_registrations.save", skip_all)]
pub async fn save(pool: &PgPool, sealer: &Sealer, r: &Registration) -> Result<(), StoreError> {
    let secret = r
        .client_secret
        .as_deref()
        .map(|secret| sealer.seal_str(secret, &registration_aad(r.mcp_server_id)));
    sqlx::query!(
        "INSERT INTO remote_registrations (mcp_server_id, method, issuer, resource,
             authorization_endpoint, token_endpoint, revocation_endpoint, scopes, client_id,
             client_secret, client_secret_key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (mcp_server_id) DO UPDATE SET method = EXCLUDED.method,
             issuer = EXCLUDED.issuer, resource = EXCLUDED.resource,
             authorization_endpoint = EXCLUDED.authorization_endpoint,
             token_endpoint = EXCLUDED.token_endpoint,
             revocation_endpoint = EXCLUDED.revocation_endpoint, scopes = EXCLUDED.scopes,
             client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,
             client_secret_key_id = EXCLUDED.client_secret_key_id, created_at = now()",
        r.mcp_server_id,
        r.method.as_str(),
        r.issuer,
        r.resource,
        r.authorization_endpoint,
        r.token_endpoint,
        r.revocation_endpoint.as_deref(),
        r.scopes.as_slice(),
        r.client_id,
        secret.as_ref().map(|x| x.blob.as_slice()),
        secret.as_ref().map(|x| x.key_id.as_str()),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The remote refused the registration (`invalid_client`): forget it, so the next connect
/// registers again.
#[tracing::instrument(name = "db.remote_registrations.forget", skip_all)]
pub async fn forget(pool: &PgPool, server: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "DELETE FROM remote_registrations WHERE mcp_server_id = $1",
        server
    )
    .execute(pool)
    .await?;
    Ok(())
}
