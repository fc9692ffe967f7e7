//! Connecting, before there is a connection: the one-time connect links handed out in
//! elicitations (`remote_connect_links`) and the authorization requests in flight
//! (`remote_pending`). Both are consumed atomically (`DELETE … RETURNING`); the connection
//! itself is `remote_connections`'.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::crypto::{Sealed, Sealer, hash};

/// Who a link or a pending authorization is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectFor {
    pub tenant_id: Uuid,
    pub mcp_server_id: Uuid,
    pub grant_id: Uuid,
    pub subject: String,
}

/// Stores a connect link (its hash) for `who`, valid until `expires_at`; expired links of
/// anyone go at the same time (they are never read again).
#[tracing::instrument(name = "db.remote_connections.insert_link", skip_all)]
pub async fn insert_link(
    pool: &PgPool,
    link: &str,
    who: &ConnectFor,
    elicitation_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM remote_connect_links WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let link_hash = hash::sha256(link.as_bytes());
    sqlx::query!(
        "INSERT INTO remote_connect_links (link_hash, tenant_id, mcp_server_id, grant_id, subject,
             elicitation_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        link_hash.as_slice(),
        who.tenant_id,
        who.mcp_server_id,
        who.grant_id,
        who.subject,
        elicitation_id,
        expires_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Consumes a link: whoever it was for, if it exists, is unexpired at `now` and its grant is
/// still active. A second use finds nothing.
#[tracing::instrument(name = "db.remote_connections.consume_link", skip_all)]
pub async fn consume_link(
    pool: &PgPool,
    link: &str,
    now: DateTime<Utc>,
) -> Result<Option<ConnectFor>, StoreError> {
    let link_hash = hash::sha256(link.as_bytes());
    Ok(sqlx::query_as!(
        ConnectFor,
        "DELETE FROM remote_connect_links l
         WHERE l.link_hash = $1 AND l.expires_at > $2
           AND EXISTS (SELECT 1 FROM grants g WHERE g.id = l.grant_id AND g.status = 'active')
         RETURNING l.tenant_id, l.mcp_server_id, l.grant_id, l.subject",
        link_hash.as_slice(),
        now,
    )
    .fetch_optional(pool)
    .await?)
}

fn pending_aad(state_hash: &[u8]) -> String {
    format!("remote_pending:{}", hash::hex(state_hash))
}

/// Stores an authorization request sent to a remote AS: `state` (hashed), the PKCE verifier
/// (sealed), the browser binding (hashed) and who it is for.
#[tracing::instrument(name = "db.remote_connections.insert_pending", skip_all)]
pub async fn insert_pending(
    pool: &PgPool,
    sealer: &Sealer,
    state: &str,
    browser_nonce: &str,
    verifier: &str,
    who: &ConnectFor,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let state_hash = hash::sha256(state.as_bytes());
    let sealed = sealer.seal_str(verifier, &pending_aad(&state_hash));
    let browser_hash = hash::sha256(browser_nonce.as_bytes());
    sqlx::query!("DELETE FROM remote_pending WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query!(
        "INSERT INTO remote_pending (state_hash, tenant_id, mcp_server_id, grant_id, subject,
             browser_hash, code_verifier, code_verifier_key_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        state_hash.as_slice(),
        who.tenant_id,
        who.mcp_server_id,
        who.grant_id,
        who.subject,
        browser_hash.as_slice(),
        sealed.blob,
        sealed.key_id,
        expires_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A consumed pending authorization: who it was for, the hash of the browser binding it
/// requires, and the PKCE verifier.
pub struct Pending {
    pub who: ConnectFor,
    pub browser_hash: Vec<u8>,
    pub verifier: String,
}

/// Consumes the pending authorization of `state` (unexpired at `now`).
#[tracing::instrument(name = "db.remote_connections.consume_pending", skip_all)]
pub async fn consume_pending(
    pool: &PgPool,
    sealer: &Sealer,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Option<Pending>, StoreError> {
    let state_hash = hash::sha256(state.as_bytes());
    let row = sqlx::query!(
        "DELETE FROM remote_pending WHERE state_hash = $1 AND expires_at > $2
         RETURNING tenant_id, mcp_server_id, grant_id, subject, browser_hash, code_verifier,
             code_verifier_key_id",
        state_hash.as_slice(),
        now,
    )
    .fetch_optional(pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let sealed = Sealed {
        key_id: r.code_verifier_key_id,
        blob: r.code_verifier,
    };
    let verifier = sealer
        .open_string(&sealed, &pending_aad(&state_hash))
        .map_err(|e| StoreError::Corrupt(format!("remote pending verifier: {e}")))?;
    Ok(Some(Pending {
        who: ConnectFor {
            tenant_id: r.tenant_id,
            mcp_server_id: r.mcp_server_id,
            grant_id: r.grant_id,
            subject: r.subject,
        },
        browser_hash: r.browser_hash,
        verifier,
    }))
}
