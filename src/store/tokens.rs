//! Refresh-token families and their rotating refresh tokens (the access-token records each
//! issue writes are in `access_tokens`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, access_tokens::NewAccessToken};
use crate::{
    crypto::Sealed,
    domain::{GrantStatus, RefreshStatus},
};

pub struct NewFamily<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub grant_id: Uuid,
    pub client_pk: Uuid,
    pub mcp_server_id: Uuid,
    pub code_hash: Option<&'a [u8]>,
    pub scopes: Vec<String>,
    pub resource: &'a str,
    pub absolute_expires_at: DateTime<Utc>,
}

#[tracing::instrument(name = "db.tokens.insert_family", skip_all)]
pub async fn insert_family(conn: &mut PgConnection, f: &NewFamily<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO refresh_token_families (id, tenant_id, grant_id, client_pk, mcp_server_id,
             code_hash, scopes, resource, absolute_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        f.id,
        f.tenant_id,
        f.grant_id,
        f.client_pk,
        f.mcp_server_id,
        f.code_hash,
        &f.scopes,
        f.resource,
        f.absolute_expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a refresh token minted in the tagged format (it names its family and generation).
#[tracing::instrument(name = "db.tokens.insert_refresh_token", skip_all)]
pub async fn insert_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
    family_id: Uuid,
    tenant_id: Uuid,
    generation: i32,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, generation, expires_at, tagged)
         VALUES ($1, $2, $3, $4, $5, true)",
        token_hash,
        family_id,
        tenant_id,
        generation,
        expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes a family: its refresh tokens, and the access tokens issued from it.
#[tracing::instrument(name = "db.tokens.revoke_family", skip_all)]
pub async fn revoke_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE refresh_token_families SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        family_id,
        now,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET status = 'revoked', grace_until = NULL, grace_response = NULL, grace_response_key_id = NULL WHERE family_id = $1",
        family_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE access_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        now,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes every family a tenant issued from a code (the code was replayed there). Returns how
/// many. Scoped by tenant: a code presented at another tenant revokes nothing.
#[tracing::instrument(name = "db.tokens.revoke_families_from_code", skip_all)]
pub async fn revoke_families_from_code(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let ids = sqlx::query_scalar!(
        "SELECT id FROM refresh_token_families WHERE code_hash = $1 AND tenant_id = $2",
        code_hash,
        tenant_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    for id in &ids {
        revoke_family(conn, *id, "code_replay", now).await?;
    }
    Ok(ids.len())
}

/// A refresh token locked for rotation, with its family.
pub struct LockedRefresh {
    pub family_id: Uuid,
    pub tenant_id: Uuid,
    pub generation: i32,
    pub status: RefreshStatus,
    pub expires_at: DateTime<Utc>,
    pub grace_until: Option<DateTime<Utc>>,
    pub grace_response: Option<Sealed>,
    pub family_revoked: bool,
    pub family_expires_at: DateTime<Utc>,
    pub grant_id: Uuid,
    pub grant_status: GrantStatus,
    pub client_pk: Uuid,
    pub mcp_server_id: Uuid,
    pub scopes: Vec<String>,
    pub resource: String,
    pub subject: String,
}

/// Reads a refresh token and locks its row (`FOR UPDATE`) so concurrent presentations of the
/// same token are served one after the other within their transactions.
#[tracing::instrument(name = "db.tokens.lock_refresh_token", skip_all)]
pub async fn lock_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<LockedRefresh>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT rt.family_id, rt.tenant_id, rt.generation, rt.status, rt.expires_at, rt.grace_until,
                rt.grace_response, rt.grace_response_key_id,
                f.revoked_at IS NOT NULL AS "family_revoked!", f.absolute_expires_at, f.grant_id,
                f.client_pk, f.mcp_server_id, f.scopes, f.resource, g.status AS grant_status, g.subject
         FROM refresh_tokens rt
         JOIN refresh_token_families f ON f.id = rt.family_id
         JOIN grants g ON g.id = f.grant_id
         WHERE rt.token_hash = $1
         FOR UPDATE OF rt"#,
        token_hash,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status = RefreshStatus::parse(&row.status)
        .ok_or_else(|| StoreError::Corrupt(format!("refresh token status {:?}", row.status)))?;
    let grace_response = match (row.grace_response, row.grace_response_key_id) {
        (Some(blob), Some(key_id)) => Some(Sealed { blob, key_id }),
        _ => None,
    };
    Ok(Some(LockedRefresh {
        family_id: row.family_id,
        tenant_id: row.tenant_id,
        generation: row.generation,
        status,
        expires_at: row.expires_at,
        grace_until: row.grace_until,
        grace_response,
        family_revoked: row.family_revoked,
        family_expires_at: row.absolute_expires_at,
        grant_id: row.grant_id,
        grant_status: GrantStatus::parse(&row.grant_status),
        client_pk: row.client_pk,
        mcp_server_id: row.mcp_server_id,
        scopes: row.scopes,
        resource: row.resource,
        subject: row.subject,
    }))
}

/// Everything one rotation writes, computed before the statement (the successor and the access
/// token are minted in Rust; only their records go to the database).
pub struct Rotation<'a> {
    /// The presented token, rotated by this statement.
    pub token_hash: &'a [u8],
    pub now: DateTime<Utc>,
    pub grace_until: DateTime<Utc>,
    pub grace_response: &'a Sealed,
    pub family_id: Uuid,
    /// The presented token's generation; the successor gets the next one.
    pub generation: i32,
    pub successor_hash: &'a [u8],
    pub successor_expires_at: DateTime<Utc>,
    pub access: &'a NewAccessToken<'a>,
}

/// Rotates a refresh token in one statement (issue 13): marks the presented token rotated with
/// its sealed grace response, clears the previous generation's grace response once its grace
/// period is over (a point update on `(family_id, generation)`: nothing that walks the family,
/// so a family's 10,000th refresh costs what its 10th does; later ones are left to the sweeper,
/// which deletes rotated tagged rows after their grace), inserts the successor, records the
/// access token and marks the grant in use. The caller holds the presented token's row lock.
#[tracing::instrument(name = "db.tokens.rotate", skip_all)]
pub async fn rotate(conn: &mut PgConnection, r: &Rotation<'_>) -> Result<(), StoreError> {
    let a = r.access;
    sqlx::query!(
        "WITH rotated AS (
             UPDATE refresh_tokens SET status = 'rotated', rotated_at = $2, grace_until = $3,
                 grace_response = $4, grace_response_key_id = $5
             WHERE token_hash = $1
         ), previous AS (
             UPDATE refresh_tokens SET grace_response = NULL, grace_response_key_id = NULL
             WHERE family_id = $6 AND generation = $7 - 1
               AND grace_response IS NOT NULL AND grace_until <= $2
         ), successor AS (
             INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, generation, expires_at, tagged)
             VALUES ($8, $6, $10, $7 + 1, $9, true)
         ), in_use AS (
             UPDATE grants SET updated_at = GREATEST(updated_at, $13) WHERE id = $11
         )
         INSERT INTO access_tokens (jti, tenant_id, grant_id, client_pk, family_id, mcp_server_id,
             subject, audience, scopes, issued_at, expires_at)
         VALUES ($12, $10, $11, $14, $6, $15, $16, $17, $18, $13, $19)",
        r.token_hash,
        r.now,
        r.grace_until,
        r.grace_response.blob,
        r.grace_response.key_id,
        r.family_id,
        r.generation,
        r.successor_hash,
        r.successor_expires_at,
        a.tenant_id,
        a.grant_id,
        a.jti,
        a.issued_at,
        a.client_pk,
        a.mcp_server_id,
        a.subject,
        a.audience,
        &a.scopes,
        a.expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A family as seen by a replay of one of its tokens whose row the sweeper already deleted.
pub struct FamilyHead {
    pub tenant_id: Uuid,
    pub client_pk: Uuid,
    pub revoked: bool,
    /// The newest generation recorded (the active token's, while the family lives).
    pub generation: Option<i32>,
}

/// The family's owner and newest generation: the compact record reuse detection needs once
/// rotated rows are gone. One index probe on `(family_id, generation)`, whatever the history.
#[tracing::instrument(name = "db.tokens.family_head", skip_all)]
pub async fn family_head(
    conn: &mut PgConnection,
    family_id: Uuid,
) -> Result<Option<FamilyHead>, StoreError> {
    let row = sqlx::query!(
        r#"SELECT f.tenant_id, f.client_pk, f.revoked_at IS NOT NULL AS "revoked!",
                (SELECT max(t.generation) FROM refresh_tokens t WHERE t.family_id = f.id) AS generation
         FROM refresh_token_families f WHERE f.id = $1"#,
        family_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|row| FamilyHead {
        tenant_id: row.tenant_id,
        client_pk: row.client_pk,
        revoked: row.revoked,
        generation: row.generation,
    }))
}

/// The family a refresh token belongs to, for revocation (RFC 7009).
#[tracing::instrument(name = "db.tokens.family_of_refresh_token", skip_all)]
pub async fn family_of_refresh_token(
    pool: &PgPool,
    token_hash: &[u8],
) -> Result<Option<(Uuid, Uuid, Uuid)>, StoreError> {
    let row = sqlx::query!(
        "SELECT f.id, f.tenant_id, f.client_pk FROM refresh_tokens rt
         JOIN refresh_token_families f ON f.id = rt.family_id WHERE rt.token_hash = $1",
        token_hash,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| (r.id, r.tenant_id, r.client_pk)))
}
