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

/// A refresh token's row with its family and grant, as both reads below return it.
struct RefreshRow {
    family_id: Uuid,
    tenant_id: Uuid,
    generation: i32,
    status: String,
    expires_at: DateTime<Utc>,
    grace_until: Option<DateTime<Utc>>,
    grace_response: Option<Vec<u8>>,
    grace_response_key_id: Option<String>,
    family_revoked: bool,
    absolute_expires_at: DateTime<Utc>,
    grant_id: Uuid,
    client_pk: Uuid,
    mcp_server_id: Uuid,
    scopes: Vec<String>,
    resource: String,
    grant_status: String,
    subject: String,
}

impl RefreshRow {
    fn into_domain(self) -> Result<LockedRefresh, StoreError> {
        let status = RefreshStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!("refresh token status {:?}", self.status))
        })?;
        let grace_response = match (self.grace_response, self.grace_response_key_id) {
            (Some(blob), Some(key_id)) => Some(Sealed { blob, key_id }),
            _ => None,
        };
        Ok(LockedRefresh {
            family_id: self.family_id,
            tenant_id: self.tenant_id,
            generation: self.generation,
            status,
            expires_at: self.expires_at,
            grace_until: self.grace_until,
            grace_response,
            family_revoked: self.family_revoked,
            family_expires_at: self.absolute_expires_at,
            grant_id: self.grant_id,
            grant_status: GrantStatus::parse(&self.grant_status),
            client_pk: self.client_pk,
            mcp_server_id: self.mcp_server_id,
            scopes: self.scopes,
            resource: self.resource,
            subject: self.subject,
        })
    }
}

/// Reads a refresh token without locking it: the rotation's first round trip (the rotation
/// statement itself only rotates a token that is still active, see [`rotate`]).
#[tracing::instrument(name = "db.tokens.find_refresh_token", skip_all)]
pub async fn find_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<LockedRefresh>, StoreError> {
    sqlx::query_as!(
        RefreshRow,
        r#"SELECT rt.family_id, rt.tenant_id, rt.generation, rt.status, rt.expires_at, rt.grace_until,
                rt.grace_response, rt.grace_response_key_id,
                f.revoked_at IS NOT NULL AS "family_revoked!", f.absolute_expires_at, f.grant_id,
                f.client_pk, f.mcp_server_id, f.scopes, f.resource, g.status AS grant_status, g.subject
         FROM refresh_tokens rt
         JOIN refresh_token_families f ON f.id = rt.family_id
         JOIN grants g ON g.id = f.grant_id
         WHERE rt.token_hash = $1"#,
        token_hash,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(RefreshRow::into_domain)
    .transpose()
}

/// Reads a refresh token and locks its row (`FOR UPDATE`) so concurrent presentations of the
/// same token are served one after the other within their transactions: the path of a token
/// that is no longer active (grace, reuse) or whose rotation lost a race.
#[tracing::instrument(name = "db.tokens.lock_refresh_token", skip_all)]
pub async fn lock_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<LockedRefresh>, StoreError> {
    sqlx::query_as!(
        RefreshRow,
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
    .await?
    .map(RefreshRow::into_domain)
    .transpose()
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

/// Rotates a refresh token in one statement (issue 13), if it is still active: marks it
/// rotated with its sealed grace response, clears the previous generation's grace response once
/// its grace period is over (a point update on `(family_id, generation)`: nothing that walks the
/// family, so a family's 10,000th refresh costs what its 10th does; later ones are left to the
/// sweeper, which deletes rotated tagged rows after their grace), inserts the successor,
/// records the access token and marks the grant in use (at most once a minute: `updated_at`
/// is indexed, so that update is never HOT and the grant row is wide).
///
/// Every part hangs on the first: when the token is no longer active — a concurrent
/// presentation rotated it, a revocation revoked it, both committed after the caller read it —
/// the row lock makes this statement wait for that transaction, re-checks `status` and
/// writes nothing. Returns whether it rotated.
#[tracing::instrument(name = "db.tokens.rotate", skip_all)]
pub async fn rotate(conn: &mut PgConnection, r: &Rotation<'_>) -> Result<bool, StoreError> {
    let a = r.access;
    let rotated = sqlx::query_scalar!(
        r#"WITH rotated AS (
             UPDATE refresh_tokens SET status = 'rotated', rotated_at = $2, grace_until = $3,
                 grace_response = $4, grace_response_key_id = $5
             WHERE token_hash = $1 AND status = 'active'
             RETURNING family_id
         ), previous AS (
             UPDATE refresh_tokens SET grace_response = NULL, grace_response_key_id = NULL
             WHERE family_id = $6 AND generation = $7 - 1
               AND grace_response IS NOT NULL AND grace_until <= $2
               AND EXISTS (SELECT 1 FROM rotated)
         ), successor AS (
             INSERT INTO refresh_tokens (token_hash, family_id, tenant_id, generation, expires_at, tagged)
             SELECT $8::bytea, family_id, $10::uuid, $7::int4 + 1, $9::timestamptz, true FROM rotated
         ), in_use AS (
             UPDATE grants SET updated_at = $13
             WHERE id = $11 AND updated_at < $13::timestamptz - interval '1 minute'
               AND EXISTS (SELECT 1 FROM rotated)
         ), access AS (
             INSERT INTO access_tokens (jti, tenant_id, grant_id, client_pk, family_id, mcp_server_id,
                 subject, audience, scopes, issued_at, expires_at)
             SELECT $12::uuid, $10::uuid, $11::uuid, $14::uuid, family_id, $15::uuid, $16::text,
                 $17::text, $18::text[], $13::timestamptz, $19::timestamptz
             FROM rotated
         )
         SELECT count(*) AS "rotated!" FROM rotated"#,
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
    .fetch_one(&mut *conn)
    .await?;
    Ok(rotated == 1)
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
