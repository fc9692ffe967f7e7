//! Consents (`consents`) users gave clients: recorded after login, checked before the consent
//! page, and listed and revoked by the admin API as [`ConsentRecord`]s.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreError;

/// What a user approved: for whom, which client, MCP server, scopes, and where the result went.
pub struct Consent<'a> {
    pub client_pk: Uuid,
    pub subject: &'a str,
    pub mcp_server_id: Uuid,
    pub scopes: &'a [String],
    /// The redirect URI of the approved request, exactly (port included).
    pub redirect_uri: &'a str,
}

/// Records (or widens) a user's consent for a client and MCP server; the redirect URI is the
/// latest approved one.
#[tracing::instrument(name = "db.consents.record", skip_all)]
pub async fn record(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    c: &Consent<'_>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO consents (id, tenant_id, client_pk, subject, mcp_server_id, scopes, redirect_uri)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (client_pk, subject, mcp_server_id) DO UPDATE SET
             scopes = ARRAY(SELECT DISTINCT unnest(CASE WHEN consents.revoked_at IS NULL
                                                        THEN consents.scopes ELSE '{}' END || EXCLUDED.scopes) ORDER BY 1),
             redirect_uri = EXCLUDED.redirect_uri, granted_at = now(), revoked_at = NULL",
        Uuid::new_v4(),
        tenant_id,
        c.client_pk,
        c.subject,
        c.mcp_server_id,
        c.scopes,
        c.redirect_uri,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How closely an earlier consent must match the request for the page to be skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectMatch {
    /// Confidential clients: the client authenticates at `/token`, any registered URI will do.
    AnyRegistered,
    /// Public clients: only the exact redirect URI approved (port included), since any local
    /// program can use a public client's id with its own loopback port (RFC 8252 section 8.6).
    Exact,
}

/// Whether the user already consented to at least `c.scopes` for this client and server (and,
/// with [`RedirectMatch::Exact`], this very redirect URI).
#[tracing::instrument(name = "db.consents.covers", skip_all)]
pub async fn covers(
    pool: &PgPool,
    c: &Consent<'_>,
    redirect: RedirectMatch,
) -> Result<bool, StoreError> {
    let exact = (redirect == RedirectMatch::Exact).then_some(c.redirect_uri);
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM consents WHERE client_pk = $1 AND subject = $2
             AND mcp_server_id = $3 AND revoked_at IS NULL AND scopes @> $4
             AND ($5::text IS NULL OR redirect_uri = $5)) AS "covers!""#,
        c.client_pk,
        c.subject,
        c.mcp_server_id,
        c.scopes,
        exact,
    )
    .fetch_one(pool)
    .await?)
}

/// A consent with the names an operator knows its client and server by.
#[derive(Clone, Debug)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub subject: String,
    pub client_id: String,
    pub mcp_server: Option<String>,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The consents of a tenant, optionally of one user and/or one client (at most 1000).
#[tracing::instrument(name = "db.consents.list_records", skip_all)]
pub async fn list_records(
    pool: &PgPool,
    tenant_id: Uuid,
    subject: Option<&str>,
    client_id: Option<&str>,
) -> Result<Vec<ConsentRecord>, StoreError> {
    Ok(sqlx::query_as!(
        ConsentRecord,
        r#"SELECT k.id, k.subject, c.client_id, s.name AS "mcp_server?", k.scopes,
             k.granted_at, k.revoked_at
         FROM consents k JOIN oauth_clients c ON c.id = k.client_pk
         LEFT JOIN mcp_servers s ON s.id = k.mcp_server_id
         WHERE k.tenant_id = $1 AND ($2::text IS NULL OR k.subject = $2)
           AND ($3::text IS NULL OR c.client_id = $3)
         ORDER BY k.granted_at, k.id LIMIT 1000"#,
        tenant_id,
        subject,
        client_id,
    )
    .fetch_all(pool)
    .await?)
}

/// Marks a consent revoked (the user is asked again next time); `None` if there is none.
#[tracing::instrument(name = "db.consents.revoke", skip_all)]
pub async fn revoke(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<ConsentRecord>, StoreError> {
    let done = sqlx::query!(
        "UPDATE consents SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id,
        now,
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(
        sqlx::query_as!(
            ConsentRecord,
            r#"SELECT k.id, k.subject, c.client_id, s.name AS "mcp_server?", k.scopes,
                 k.granted_at, k.revoked_at
             FROM consents k JOIN oauth_clients c ON c.id = k.client_pk
             LEFT JOIN mcp_servers s ON s.id = k.mcp_server_id
             WHERE k.id = $1"#,
            id,
        )
        .fetch_one(&mut *conn)
        .await?,
    ))
}
