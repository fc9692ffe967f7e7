//! Pending authorizations: single-use rows that carry an authorization from `/authorize`
//! through consent and the upstream login to the callback (possibly on another replica).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::{
    crypto::Sealed,
    domain::{PendingAuthorization, PkceChallenge, Scopes},
};

/// A row as `query_as!` reads it (every query below selects exactly these columns, checked at
/// compile time); turned into the domain type by [`PendingRow::into_domain`].
struct PendingRow {
    id: Uuid,
    tenant_id: Uuid,
    client_pk: Uuid,
    provider_id: Uuid,
    mcp_server_id: Uuid,
    redirect_uri: String,
    client_state: Option<String>,
    code_challenge: String,
    scopes: Vec<String>,
    resource: String,
    consent_binding_hash: Option<Vec<u8>>,
    upstream_nonce: Option<String>,
    expires_at: DateTime<Utc>,
    upstream_pkce_verifier: Option<Vec<u8>>,
    upstream_pkce_key_id: Option<String>,
    remembered_subject: Option<String>,
}

impl PendingRow {
    fn into_domain(self) -> PendingAuthorization {
        PendingAuthorization {
            id: self.id,
            tenant_id: self.tenant_id,
            client_pk: self.client_pk,
            provider_id: self.provider_id,
            mcp_server_id: self.mcp_server_id,
            redirect_uri: self.redirect_uri,
            client_state: self.client_state,
            code_challenge: PkceChallenge::from_trusted(self.code_challenge),
            scopes: Scopes::from_trusted(self.scopes),
            resource: self.resource,
            consent_binding_hash: self.consent_binding_hash,
            upstream_nonce: self.upstream_nonce,
            remembered_subject: self.remembered_subject,
            expires_at: self.expires_at,
        }
    }
}

#[tracing::instrument(name = "db.pending.insert", skip_all)]
pub async fn insert(pool: &PgPool, p: &PendingAuthorization) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO pending_authorizations (id, tenant_id, client_pk, provider_id, mcp_server_id,
             redirect_uri, client_state, code_challenge, scopes, resource, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        p.id,
        p.tenant_id,
        p.client_pk,
        p.provider_id,
        p.mcp_server_id,
        p.redirect_uri,
        p.client_state,
        p.code_challenge.as_str(),
        &p.scopes.to_vec(),
        p.resource,
        p.expires_at,
    )
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
    let row = sqlx::query_as!(
        PendingRow,
        "SELECT id, tenant_id, client_pk, provider_id, mcp_server_id, redirect_uri, client_state,
                code_challenge, scopes, resource, consent_binding_hash, upstream_nonce, expires_at,
                upstream_pkce_verifier, upstream_pkce_key_id, remembered_subject
         FROM pending_authorizations
         WHERE id = $1 AND tenant_id = $2 AND expires_at > $3 AND upstream_state_hash IS NULL",
        id,
        tenant_id,
        now,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(PendingRow::into_domain))
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
    let done = sqlx::query!(
        "UPDATE pending_authorizations
         SET upstream_state_hash = $3, upstream_pkce_verifier = $4, upstream_pkce_key_id = $5,
             upstream_nonce = $6, consent_binding_hash = $7, remembered_subject = $9
         WHERE id = $1 AND tenant_id = $2 AND upstream_state_hash IS NULL AND expires_at > $8",
        id,
        tenant_id,
        b.state_hash,
        b.pkce_verifier.blob,
        b.pkce_verifier.key_id,
        b.nonce,
        b.consent_binding_hash,
        now,
        b.remembered_subject,
    )
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
    let row = sqlx::query_as!(
        PendingRow,
        "SELECT id, tenant_id, client_pk, provider_id, mcp_server_id, redirect_uri, client_state,
                code_challenge, scopes, resource, consent_binding_hash, upstream_nonce, expires_at,
                upstream_pkce_verifier, upstream_pkce_key_id, remembered_subject
         FROM pending_authorizations WHERE tenant_id = $1 AND upstream_state_hash = $2",
        tenant_id,
        state_hash,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(PendingRow::into_domain))
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
    let row = sqlx::query_as!(
        PendingRow,
        "DELETE FROM pending_authorizations
         WHERE tenant_id = $1 AND upstream_state_hash = $2 AND consent_binding_hash = $3
         RETURNING id, tenant_id, client_pk, provider_id, mcp_server_id, redirect_uri, client_state,
                code_challenge, scopes, resource, consent_binding_hash, upstream_nonce, expires_at,
                upstream_pkce_verifier, upstream_pkce_key_id, remembered_subject",
        tenant_id,
        state_hash,
        binding_hash,
    )
    .fetch_optional(pool)
    .await?;
    let Some(mut row) = row else { return Ok(None) };
    let verifier = Sealed {
        blob: row.upstream_pkce_verifier.take().unwrap_or_default(),
        key_id: row.upstream_pkce_key_id.take().unwrap_or_default(),
    };
    Ok(Some((row.into_domain(), verifier)))
}

/// Deletes a pending authorization (the user denied consent).
#[tracing::instrument(name = "db.pending.delete", skip_all)]
pub async fn delete(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<PendingAuthorization>, StoreError> {
    let row = sqlx::query_as!(
        PendingRow,
        "DELETE FROM pending_authorizations
         WHERE id = $1 AND tenant_id = $2 AND upstream_state_hash IS NULL
         RETURNING id, tenant_id, client_pk, provider_id, mcp_server_id, redirect_uri, client_state,
                code_challenge, scopes, resource, consent_binding_hash, upstream_nonce, expires_at,
                upstream_pkce_verifier, upstream_pkce_key_id, remembered_subject",
        id,
        tenant_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(PendingRow::into_domain))
}
