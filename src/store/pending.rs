//! Pending authorizations: single-use rows that carry an authorization from `/authorize`
//! through consent and the upstream login to the callback (possibly on another replica).

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::StoreError;
use crate::{
    crypto::Sealed,
    domain::{PendingAuthorization, PkceChallenge, Scopes},
};

const COLUMNS: &str =
    "id, tenant_id, client_pk, provider_id, mcp_server_id, redirect_uri, client_state,
    code_challenge, scopes, resource, consent_binding_hash, upstream_nonce, expires_at,
    upstream_pkce_verifier, upstream_pkce_key_id, remembered_subject";

fn from_row(row: &PgRow) -> Result<PendingAuthorization, StoreError> {
    Ok(PendingAuthorization {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        client_pk: row.try_get("client_pk")?,
        provider_id: row.try_get("provider_id")?,
        mcp_server_id: row.try_get("mcp_server_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        client_state: row.try_get("client_state")?,
        code_challenge: PkceChallenge::from_trusted(row.try_get("code_challenge")?),
        scopes: Scopes::from_trusted(row.try_get::<Vec<String>, _>("scopes")?),
        resource: row.try_get("resource")?,
        consent_binding_hash: row.try_get("consent_binding_hash")?,
        upstream_nonce: row.try_get("upstream_nonce")?,
        remembered_subject: row.try_get("remembered_subject")?,
        expires_at: row.try_get("expires_at")?,
    })
}

#[tracing::instrument(name = "db.pending.insert", skip_all)]
pub async fn insert(pool: &PgPool, p: &PendingAuthorization) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pending_authorizations (id, tenant_id, client_pk, provider_id, mcp_server_id,
             redirect_uri, client_state, code_challenge, scopes, resource, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(p.id)
    .bind(p.tenant_id)
    .bind(p.client_pk)
    .bind(p.provider_id)
    .bind(p.mcp_server_id)
    .bind(&p.redirect_uri)
    .bind(&p.client_state)
    .bind(p.code_challenge.as_str())
    .bind(p.scopes.to_vec())
    .bind(&p.resource)
    .bind(p.expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// A pending authorization still awaiting consent (no upstream state yet) and not expired.
#[tracing::instrument(name = "db.pending.find_awaiting_consent", skip_all)]
pub async fn find_awaiting_consent(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<PendingAuthorization>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM pending_authorizations
         WHERE id = $1 AND tenant_id = $2 AND expires_at > $3 AND upstream_state_hash IS NULL"
    ))
    .bind(id)
    .bind(tenant_id)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// What consent adds before the browser goes upstream.
pub struct UpstreamBinding<'a> {
    pub state_hash: Vec<u8>,
    pub pkce_verifier: &'a Sealed,
    pub nonce: &'a str,
    pub consent_binding_hash: Vec<u8>,
    /// `Some` when the consent page was skipped for the remembered-user cookie's subject.
    pub remembered_subject: Option<&'a str>,
}

/// Records the approval; succeeds once per pending authorization (a second approval of the
/// same request, e.g. a double-submitted form, finds nothing to update).
#[tracing::instrument(name = "db.pending.approve", skip_all)]
pub async fn approve(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    b: &UpstreamBinding<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE pending_authorizations
         SET upstream_state_hash = $3, upstream_pkce_verifier = $4, upstream_pkce_key_id = $5,
             upstream_nonce = $6, consent_binding_hash = $7, remembered_subject = $9
         WHERE id = $1 AND tenant_id = $2 AND upstream_state_hash IS NULL AND expires_at > $8",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(&b.state_hash)
    .bind(&b.pkce_verifier.blob)
    .bind(&b.pkce_verifier.key_id)
    .bind(b.nonce)
    .bind(&b.consent_binding_hash)
    .bind(now)
    .bind(b.remembered_subject)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The approved pending authorization whose upstream `state` hashes to `state_hash`, read without
/// consuming it: the callback first checks that it came back to the browser that approved it,
/// so a request from any other browser leaves it pending for the real one (issue 11).
#[tracing::instrument(name = "db.pending.find_by_state", skip_all)]
pub async fn find_by_state(
    pool: &PgPool,
    tenant_id: Uuid,
    state_hash: &[u8],
) -> Result<Option<PendingAuthorization>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM pending_authorizations WHERE tenant_id = $1 AND upstream_state_hash = $2"
    ))
    .bind(tenant_id)
    .bind(state_hash)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Consumes the pending authorization whose upstream `state` hashes to `state_hash` and whose
/// consent binding is `binding_hash`: the row is deleted in the same statement that reads it, so
/// a state is usable once even under races. Returns it with its sealed upstream PKCE verifier;
/// the caller checks expiry.
#[tracing::instrument(name = "db.pending.consume_by_state", skip_all)]
pub async fn consume_by_state(
    pool: &PgPool,
    tenant_id: Uuid,
    state_hash: &[u8],
    binding_hash: &[u8],
) -> Result<Option<(PendingAuthorization, Sealed)>, StoreError> {
    let row = sqlx::query(&format!(
        "DELETE FROM pending_authorizations
         WHERE tenant_id = $1 AND upstream_state_hash = $2 AND consent_binding_hash = $3
         RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(state_hash)
    .bind(binding_hash)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let pending = from_row(&row)?;
    let verifier = Sealed {
        blob: row
            .try_get::<Option<Vec<u8>>, _>("upstream_pkce_verifier")?
            .unwrap_or_default(),
        key_id: row
            .try_get::<Option<String>, _>("upstream_pkce_key_id")?
            .unwrap_or_default(),
    };
    Ok(Some((pending, verifier)))
}

/// Deletes a pending authorization (the user denied consent).
#[tracing::instrument(name = "db.pending.delete", skip_all)]
pub async fn delete(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<PendingAuthorization>, StoreError> {
    let row = sqlx::query(&format!(
        "DELETE FROM pending_authorizations WHERE id = $1 AND tenant_id = $2 AND upstream_state_hash IS NULL RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}
