//! Consents users gave clients, recorded after login.

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
pub async fn record(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    c: &Consent<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO consents (id, tenant_id, client_pk, subject, mcp_server_id, scopes, redirect_uri)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (client_pk, subject, mcp_server_id) DO UPDATE SET
             scopes = ARRAY(SELECT DISTINCT unnest(CASE WHEN consents.revoked_at IS NULL
                                                        THEN consents.scopes ELSE '{}' END || EXCLUDED.scopes) ORDER BY 1),
             redirect_uri = EXCLUDED.redirect_uri, granted_at = now(), revoked_at = NULL",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(c.client_pk)
    .bind(c.subject)
    .bind(c.mcp_server_id)
    .bind(c.scopes)
    .bind(c.redirect_uri)
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
pub async fn covers(
    pool: &PgPool,
    c: &Consent<'_>,
    redirect: RedirectMatch,
) -> Result<bool, StoreError> {
    let exact = (redirect == RedirectMatch::Exact).then_some(c.redirect_uri);
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM consents WHERE client_pk = $1 AND subject = $2
             AND mcp_server_id = $3 AND revoked_at IS NULL AND scopes @> $4
             AND ($5::text IS NULL OR redirect_uri = $5))",
    )
    .bind(c.client_pk)
    .bind(c.subject)
    .bind(c.mcp_server_id)
    .bind(c.scopes)
    .bind(exact)
    .fetch_one(pool)
    .await?)
}
