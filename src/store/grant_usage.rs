//! Grants as their user sees them on the account page (which client, sending codes where, for
//! which MCP servers and scopes, first authorized, last used), and the last-use mark the
//! gateway sets at most once per grant per interval.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

/// One live grant of a user, with what the account page shows of it.
#[derive(Clone, Debug)]
pub struct UserGrant {
    pub id: Uuid,
    pub status: String,
    pub client_id: String,
    pub client_name: Option<String>,
    /// `dynamic`, `metadata_document` or `static`.
    pub client_kind: String,
    /// The redirect URI of the user's latest consent for this client, else the client's first.
    pub redirect_uri: Option<String>,
    pub provider: String,
    /// MCP servers that tokens of this grant were issued for.
    pub servers: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The not-yet-revoked grants of `subject` in a tenant, newest first (at most 200).
#[tracing::instrument(name = "db.grant_usage.of_subject", skip_all)]
pub async fn of_subject(
    pool: &PgPool,
    tenant_id: Uuid,
    subject: &str,
) -> Result<Vec<UserGrant>, StoreError> {
    Ok(sqlx::query_as!(
        UserGrant,
        r#"SELECT g.id, g.status, c.client_id, c.client_name, c.kind AS client_kind,
                coalesce((SELECT k.redirect_uri FROM consents k
                          WHERE k.client_pk = g.client_pk AND k.subject = g.subject
                            AND k.redirect_uri IS NOT NULL
                          ORDER BY k.granted_at DESC LIMIT 1),
                         c.redirect_uris[1]) AS "redirect_uri?",
                p.name AS provider,
                coalesce((SELECT array_agg(DISTINCT s.name ORDER BY s.name) FROM mcp_servers s
                          WHERE s.id IN (SELECT f.mcp_server_id FROM refresh_token_families f WHERE f.grant_id = g.id
                                         UNION SELECT a.mcp_server_id FROM access_tokens a WHERE a.grant_id = g.id)),
                         '{}') AS "servers!",
                coalesce((SELECT array_agg(DISTINCT sc ORDER BY sc)
                          FROM (SELECT unnest(f.scopes) AS sc FROM refresh_token_families f WHERE f.grant_id = g.id
                                UNION SELECT unnest(a.scopes) FROM access_tokens a WHERE a.grant_id = g.id) u),
                         '{}') AS "scopes!",
                g.created_at, g.last_used_at
         FROM grants g JOIN oauth_clients c ON c.id = g.client_pk
         JOIN upstream_providers p ON p.id = g.provider_id
         WHERE g.tenant_id = $1 AND g.subject = $2 AND g.status <> 'revoked'
         ORDER BY g.created_at DESC, g.id LIMIT 200"#,
        tenant_id,
        subject,
    )
    .fetch_all(pool)
    .await?)
}

/// Marks the grant used at `now` unless it was marked less than `interval_secs` ago: every
/// replica may call this once per interval and the row is still written at most once per
/// interval. Returns whether it was written.
#[tracing::instrument(name = "db.grant_usage.mark_used", skip_all)]
pub async fn mark_used(
    pool: &PgPool,
    grant_id: Uuid,
    now: DateTime<Utc>,
    interval_secs: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE grants SET last_used_at = $2 WHERE id = $1
           AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - make_interval(secs => $3::bigint))",
        grant_id,
        now,
        interval_secs,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// [`mark_used`] for many grants in one statement: the gateway collects the grants it sees
/// for a moment and marks them together, so a population of users who each call now and then
/// costs one write per batch, not one per request (issue 13). Returns the rows written.
#[tracing::instrument(name = "db.grant_usage.mark_many_used", skip_all, fields(grants = grant_ids.len()))]
pub async fn mark_many_used(
    pool: &PgPool,
    grant_ids: &[Uuid],
    now: DateTime<Utc>,
    interval_secs: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query!(
        "UPDATE grants SET last_used_at = $2 WHERE id = ANY($1)
           AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - make_interval(secs => $3::bigint))",
        grant_ids,
        now,
        interval_secs,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// One upstream provider of a tenant as the status page shows it: its grants by state and when
/// a refresh last succeeded.
#[derive(Clone, Debug)]
pub struct ProviderHealth {
    pub tenant: String,
    pub provider: String,
    pub kind: String,
    pub active_grants: i64,
    pub needs_reauth: i64,
    pub failing_refreshes: i64,
    pub last_refreshed_at: Option<DateTime<Utc>>,
}

/// Every provider of every tenant with its grant counts (the status page filters by the
/// tenants the operator's token may see).
#[tracing::instrument(name = "db.grant_usage.provider_health", skip_all)]
pub async fn provider_health(pool: &PgPool) -> Result<Vec<ProviderHealth>, StoreError> {
    Ok(sqlx::query_as!(
        ProviderHealth,
        r#"SELECT t.slug AS tenant, p.name AS provider, p.kind,
                count(g.id) FILTER (WHERE g.status = 'active') AS "active_grants!",
                count(g.id) FILTER (WHERE g.status = 'needs_reauth') AS "needs_reauth!",
                count(g.id) FILTER (WHERE g.status = 'active' AND g.refresh_failures > 0) AS "failing_refreshes!",
                max(g.last_refreshed_at) AS last_refreshed_at
         FROM upstream_providers p JOIN tenants t ON t.id = p.tenant_id
         LEFT JOIN grants g ON g.provider_id = p.id
         GROUP BY t.slug, p.name, p.kind ORDER BY t.slug, p.name"#,
    )
    .fetch_all(pool)
    .await?)
}
