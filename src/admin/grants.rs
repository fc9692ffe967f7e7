//! Grants of a tenant: list (filters, cursor), get, revoke one, revoke everything of one user.
//!
//! A revocation commits first (grant, refresh families and access tokens marked revoked, with
//! the audit entry), then drops this replica's cached user context and token states so the
//! user's next gateway request is refused at once; other replicas re-read token states within
//! a second. The upstream tokens are revoked at the provider afterwards, in the background and
//! best effort: the bridge has forgotten them either way.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Admin,
    cursor::{self, CreatedKey},
    extract::{AdminPath, AdminQuery, uuid},
    problem::{AdminError, FieldError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    domain::tenant::Tenant,
    services::Services,
    store::{
        self,
        grant_records::{self, GrantFilter, GrantRecord},
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    /// The upstream refused the refresh token: the user must log in again.
    NeedsReauth,
    Revoked,
}

impl GrantStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            "active" => Self::Active,
            "needs_reauth" => Self::NeedsReauth,
            _ => Self::Revoked,
        }
    }
}

/// A grant: one user's upstream login through one client. Its upstream tokens are never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub id: Uuid,
    /// The upstream user id.
    pub subject: String,
    pub client_id: String,
    /// The upstream provider's name.
    pub provider: String,
    pub status: GrantStatus,
    /// The last normalised user context (no secrets).
    #[schema(value_type = Object)]
    pub user_context: serde_json::Value,
    pub upstream_scopes: Vec<String>,
    pub upstream_access_expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<GrantRecord> for GrantView {
    fn from(r: GrantRecord) -> Self {
        Self {
            id: r.id,
            status: GrantStatus::parse(&r.status),
            subject: r.subject,
            client_id: r.client_id,
            provider: r.provider,
            user_context: r.user_context,
            upstream_scopes: r.upstream_scopes,
            upstream_access_expires_at: r.upstream_access_expires_at,
            last_refreshed_at: r.last_refreshed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantPage {
    pub items: Vec<GrantView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    /// Only this user's grants.
    pub subject: Option<String>,
    /// Only grants through this OAuth client.
    pub client_id: Option<String>,
    pub status: Option<GrantStatus>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserRevocation {
    /// How many grants this call revoked (already revoked ones are not counted).
    pub revoked: usize,
    pub grant_ids: Vec<Uuid>,
}

/// The grants of a tenant, oldest first; stable while grants are added between pages.
#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/grants", operation_id = "list_grants", tag = "grants",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), GrantQuery),
    responses((status = 200, description = "A page of grants", body = GrantPage), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminQuery(q): AdminQuery<GrantQuery>,
) -> Result<Json<GrantPage>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let limit = cursor::limit(q.limit)?;
    let after = cursor::decode::<CreatedKey>(q.cursor.as_deref())?;
    let filter = GrantFilter {
        subject: q.subject.as_deref(),
        client_id: q.client_id.as_deref(),
        status: q.status.map(GrantStatus::as_str),
        after: after.map(|k| (k.created_at, k.id)),
    };
    let rows = grant_records::list(&state.pool, tenant.id, &filter, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(rows, limit, |r| CreatedKey {
        created_at: r.created_at,
        id: r.id,
    });
    Ok(Json(GrantPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

async fn find(state: &Services, tenant: &Tenant, raw: &str) -> Result<GrantRecord, AdminError> {
    let id = uuid(raw, "grant")?;
    grant_records::get(&state.pool, tenant.id, id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no grant {id} in this tenant")))
}

/// One grant.
#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/grants/{id}", operation_id = "get_grant", tag = "grants",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("id" = Uuid, Path, description = "Grant id")),
    responses((status = 200, description = "The grant", body = GrantView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<GrantView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    Ok(Json(find(&state, &tenant, &id).await?.into()))
}

/// Revokes a grant and every token issued from it; the user's next request is refused.
#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/grants/{id}/revoke", operation_id = "revoke_grant", tag = "grants",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("id" = Uuid, Path, description = "Grant id")),
    responses((status = 200, description = "The revoked grant", body = GrantView), WriteErrors))]
pub async fn revoke(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<GrantView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let before = find(&state, &tenant, &id).await?;
    revoke_all(&state, &admin, &tenant, &[before.id]).await?;
    Ok(Json(find(&state, &tenant, &id).await?.into()))
}

#[derive(Debug, Deserialize)]
pub struct UserPath {
    slug: String,
    subject: String,
}

/// Revokes every grant of one user in the tenant (all clients, all providers).
#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/users/{subject}/revoke", operation_id = "revoke_user", tag = "grants",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("subject" = String, Path, description = "Upstream user id (percent-encoded)")),
    responses((status = 200, description = "What was revoked", body = UserRevocation), WriteErrors))]
pub async fn revoke_user(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(p): AdminPath<UserPath>,
) -> Result<Json<UserRevocation>, AdminError> {
    let tenant = admin.tenant(&state, &p.slug).await?;
    if p.subject.is_empty() {
        return Err(AdminError::bad_request(
            "empty subject",
            vec![FieldError::new("subject", "must not be empty")],
        ));
    }
    let mut conn = state.pool.acquire().await?;
    let ids = grant_records::live_ids_of_subject(&mut conn, tenant.id, &p.subject).await?;
    drop(conn);
    let revoked = revoke_all(&state, &admin, &tenant, &ids).await?;
    // The user's connections to remote-OAuth servers end with them (issue 18): revoked at the
    // remote, deleted here.
    let actor = format!("admin:{}", admin.name);
    if let Err(e) =
        crate::remote::revoke::disconnect_subject(&state, tenant.id, &p.subject, &actor).await
    {
        tracing::warn!(error = %e, "could not disconnect the user's remote servers");
    }
    Ok(Json(UserRevocation {
        revoked: revoked.len(),
        grant_ids: revoked,
    }))
}

/// Revokes `ids` in one transaction with one audit entry each; returns those that were live.
/// The one revocation of grants: the admin API and the account page (acting as the user) both
/// come here.
pub async fn revoke_all(
    state: &Services,
    admin: &Admin,
    tenant: &Tenant,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, AdminError> {
    let now = Utc::now();
    let mut w = admin.begin(state, Some(tenant.id)).await?;
    let mut revoked = Vec::new();
    for &id in ids {
        if store::grants::revoke(&mut w, id, now).await? {
            revoked.push(id);
            let after = serde_json::json!({ "status": "revoked" });
            w.audit(Entry::new(Action::GrantRevoke, id).after(&after))
                .await?;
        }
    }
    let events: Vec<_> = revoked
        .iter()
        .map(|&grant| CacheEvent::GrantChanged { grant })
        .collect();
    w.commit(events).await?;
    let (state, slug, ids) = (state.clone(), tenant.slug.to_string(), revoked.clone());
    let tenant_id = tenant.id;
    tokio::spawn(async move {
        for id in ids {
            revoke_upstream(&state, tenant_id, &slug, id).await;
        }
    });
    Ok(revoked)
}

/// Best effort: a failure is logged (without the token) and otherwise ignored.
pub async fn revoke_upstream(state: &Services, tenant_id: Uuid, slug: &str, grant: Uuid) {
    match grant_records::open_tokens(&state.pool, &state.sealer, grant).await {
        Ok(Some(tokens)) => revoke_upstream_tokens(state, tenant_id, slug, tokens).await,
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%grant, %error, "cannot read the grant's upstream tokens to revoke them")
        }
    }
}

/// Revokes already-opened upstream tokens at their provider; failures are logged, not raised.
pub async fn revoke_upstream_tokens(
    state: &Services,
    tenant_id: Uuid,
    slug: &str,
    tokens: grant_records::GrantTokens,
) {
    let providers = match store::providers::list(&state.pool, tenant_id).await {
        Ok(p) => p,
        Err(error) => {
            tracing::warn!(%error, "cannot load providers to revoke upstream tokens");
            return;
        }
    };
    let Some(p) = providers.iter().find(|p| p.id == tokens.provider_id) else {
        return;
    };
    let revoked = state
        .upstream
        .revoke_grant_tokens(slug, p, tokens.access.as_deref(), tokens.refresh.as_deref())
        .await;
    if let Err(error) = revoked {
        tracing::warn!(provider = %p.name, %error, "upstream revocation failed; revoked here regardless");
    }
}
