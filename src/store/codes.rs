//! The bridge's authorization codes: stored hashed, redeemed once, atomically.

use sqlx::PgConnection;

use super::StoreError;
use crate::domain::{AuthorizationCode, PkceChallenge, Scopes};

#[tracing::instrument(name = "db.codes.insert", skip_all)]
pub async fn insert(conn: &mut PgConnection, c: &AuthorizationCode) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO authorization_codes (code_hash, tenant_id, client_pk, grant_id, mcp_server_id,
             redirect_uri, code_challenge, scopes, resource, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        c.code_hash,
        c.tenant_id,
        c.client_pk,
        c.grant_id,
        c.mcp_server_id,
        c.redirect_uri,
        c.code_challenge.as_str(),
        &c.scopes.to_vec(),
        c.resource,
        c.expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The outcome of presenting a code.
pub enum Redemption {
    /// First use: the code is now spent.
    Redeemed(AuthorizationCode),
    /// The code was already used at this tenant: a replay.
    Replayed,
    /// No such code at this tenant (whether or not another tenant issued it: codes are scoped
    /// by tenant, so another tenant's spent code neither revokes anything nor tells it exists).
    Unknown,
}

/// Marks the code used in the same statement that reads it (`UPDATE … WHERE used_at IS NULL
/// RETURNING`): of any number of concurrent redemptions exactly one wins. Losers wait on the
/// row lock until the winner's transaction commits, so by the time they see `Replayed` the
/// tokens the winner issued are visible and can be revoked.
#[tracing::instrument(name = "db.codes.redeem", skip_all)]
pub async fn redeem(
    conn: &mut PgConnection,
    tenant_id: uuid::Uuid,
    code_hash: &[u8],
) -> Result<Redemption, StoreError> {
    let row = sqlx::query!(
        "UPDATE authorization_codes SET used_at = now() WHERE code_hash = $1 AND tenant_id = $2 AND used_at IS NULL
         RETURNING code_hash, tenant_id, client_pk, grant_id, mcp_server_id, redirect_uri,
                   code_challenge, scopes, resource, expires_at",
        code_hash,
        tenant_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        return Ok(Redemption::Redeemed(AuthorizationCode {
            code_hash: row.code_hash,
            tenant_id: row.tenant_id,
            client_pk: row.client_pk,
            grant_id: row.grant_id,
            mcp_server_id: row.mcp_server_id,
            redirect_uri: row.redirect_uri,
            code_challenge: PkceChallenge::from_trusted(row.code_challenge),
            scopes: Scopes::from_trusted(row.scopes),
            resource: row.resource,
            expires_at: row.expires_at,
        }));
    }
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM authorization_codes WHERE code_hash = $1 AND tenant_id = $2) AS "exists!""#,
        code_hash,
        tenant_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(if exists {
        Redemption::Replayed
    } else {
        Redemption::Unknown
    })
}
