//! `/admin/v1/tenants/{slug}/providers`: the upstream IdPs of a tenant. The client secret is
//! write-only: accepted on create and update, sealed at once (same AAD as the bootstrap, so
//! either path can read what the other wrote), never returned or audited, only `client_secret_set`.

use axum::{Json, extract::State, http::StatusCode};
use chrono::Utc;
use uuid::Uuid;

pub use super::provider_bodies::{
    CreateProvider, Kind, ProviderList, ProviderView, UpdateProvider,
};
use super::{
    auth::Admin,
    extract::{AdminJson, AdminPath},
    problem::{AdminError, ReadErrors, WriteErrors},
    tenants::api_owned_tenant,
    validate::Checks,
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    domain::{ProviderKind, tenant::Tenant},
    net_guard::UpstreamGuard,
    services::Services,
    store::{
        RowLock,
        providers::{self, ProviderRow},
        upsert::Write,
    },
};

/// The rules the configuration file applies to providers, with JSON Pointers.
fn check(state: &Services, p: &ProviderRow) -> Result<(), AdminError> {
    let mut c = Checks::default();
    let kind = ProviderKind::parse(&p.kind);
    if kind == Some(ProviderKind::Dev) && !state.config.dev_mode {
        c.fail("/kind", "the dev provider needs dev_mode = true");
    }
    let has_endpoints = p.authorization_url.is_some() && p.token_url.is_some();
    if matches!(
        kind,
        Some(
            ProviderKind::Oidc
                | ProviderKind::Keycloak
                | ProviderKind::Entra
                | ProviderKind::Okta
                | ProviderKind::Auth0
        )
    ) && p.issuer.is_none()
        && !has_endpoints
    {
        c.fail(
            "/issuer",
            "is required (or both authorization_url and token_url)",
        );
    }
    if kind != Some(ProviderKind::Dev) {
        if p.client_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
            c.fail("/client_id", "is required for this provider kind");
        }
        if p.client_secret.is_none() {
            c.fail("/client_secret", "is required for this provider kind");
        }
    }
    let urls = [
        ("/issuer", &p.issuer),
        ("/authorization_url", &p.authorization_url),
        ("/token_url", &p.token_url),
        ("/userinfo_url", &p.userinfo_url),
        ("/jwks_url", &p.jwks_url),
        ("/revocation_url", &p.revocation_url),
    ];
    let guard = UpstreamGuard::new(&state.config.admin.allowed_upstream_hosts);
    for (path, url) in urls {
        if let Some(url) = url {
            c.upstream_url(path, url, &guard);
        }
    }
    if let Some(scopes) = &p.scopes {
        c.scopes("/scopes", scopes);
    }
    if let Some(secs) = p.default_token_lifetime_seconds {
        c.seconds("/default_token_lifetime_seconds", secs);
    }
    if let Err(e) =
        crate::domain::ClaimMapping::parse(&super::provider_bodies::claims_of(&p.settings))
    {
        c.fail("/claims", e.to_string());
    }
    c.finish()
}

fn aad(tenant: &Tenant, name: &str) -> String {
    format!("provider:{}:{name}:client_secret", tenant.id)
}

fn not_found(name: &str) -> AdminError {
    AdminError::not_found(format!("no provider {name:?} in this tenant"))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/providers", operation_id = "list_providers", tag = "providers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, description = "The tenant's providers", body = ProviderList), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<ProviderList>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let rows = providers::list_rows(&state.pool, tenant.id).await?;
    let items = rows
        .iter()
        .map(|p| ProviderView::new(&state, &tenant, p))
        .collect();
    Ok(Json(ProviderList { items }))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/providers/{name}", operation_id = "get_provider", tag = "providers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Provider name")),
    responses((status = 200, description = "The provider", body = ProviderView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<Json<ProviderView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let mut conn = state.pool.acquire().await?;
    let p = providers::find(&mut conn, tenant.id, &name, RowLock::None)
        .await?
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(ProviderView::new(&state, &tenant, &p)))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/providers", operation_id = "create_provider", tag = "providers",
    request_body = CreateProvider, params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 201, description = "Created", body = ProviderView), WriteErrors))]
pub async fn create(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminJson(b): AdminJson<CreateProvider>,
) -> Result<(StatusCode, Json<ProviderView>), AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    api_owned_tenant(&tenant)?;
    let now = Utc::now();
    let row = ProviderRow {
        id: Uuid::new_v4(),
        name: b.name.to_string(),
        kind: b.kind.domain().as_str().to_owned(),
        position: b.position.unwrap_or(0),
        issuer: b.issuer.map(|i| i.trim_end_matches('/').to_owned()),
        client_id: b.client_id,
        client_secret: b
            .client_secret
            .map(|s| state.sealer.seal_str(&s, &aad(&tenant, b.name.as_str()))),
        scopes: b.scopes,
        authorization_url: b.authorization_url,
        token_url: b.token_url,
        userinfo_url: b.userinfo_url,
        jwks_url: b.jwks_url,
        revocation_url: b.revocation_url,
        default_token_lifetime_seconds: b.default_token_lifetime_seconds,
        settings: super::provider_bodies::with_claims(serde_json::json!({}), b.claims),
        source: crate::domain::tenant::Source::Api,
        created_at: now,
        updated_at: now,
    };
    check(&state, &row)?;
    let view = save(&state, &admin, &tenant, row, None).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{slug}/providers/{name}", operation_id = "update_provider", tag = "providers",
    request_body = UpdateProvider,
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Provider name")),
    responses((status = 200, description = "Updated", body = ProviderView), WriteErrors))]
pub async fn update(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<UpdateProvider>,
) -> Result<Json<ProviderView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    api_owned_tenant(&tenant)?;
    let mut conn = state.pool.acquire().await?;
    let before = providers::find(&mut conn, tenant.id, &name, RowLock::None)
        .await?
        .ok_or_else(|| not_found(&name))?;
    drop(conn);
    let mut p = before.clone();
    p.position = b.position.unwrap_or(p.position);
    let set = |field: Option<Option<String>>, current: &mut Option<String>| {
        if let Some(v) = field {
            *current = v;
        }
    };
    set(
        b.issuer
            .map(|i| i.map(|i| i.trim_end_matches('/').to_owned())),
        &mut p.issuer,
    );
    set(b.client_id, &mut p.client_id);
    set(b.authorization_url, &mut p.authorization_url);
    set(b.token_url, &mut p.token_url);
    set(b.userinfo_url, &mut p.userinfo_url);
    set(b.jwks_url, &mut p.jwks_url);
    set(b.revocation_url, &mut p.revocation_url);
    if let Some(scopes) = b.scopes {
        p.scopes = scopes;
    }
    if let Some(secs) = b.default_token_lifetime_seconds {
        p.default_token_lifetime_seconds = secs;
    }
    if let Some(secret) = b.client_secret {
        p.client_secret = secret.map(|s| state.sealer.seal_str(&s, &aad(&tenant, &name)));
    }
    if let Some(claims) = b.claims {
        p.settings = super::provider_bodies::with_claims(p.settings, claims);
    }
    check(&state, &p)?;
    Ok(Json(save(&state, &admin, &tenant, p, Some(&before)).await?))
}

/// Writes the row with its audit entry; `before` is `None` for a creation.
async fn save(
    state: &Services,
    admin: &Admin,
    tenant: &Tenant,
    row: ProviderRow,
    before: Option<&ProviderRow>,
) -> Result<ProviderView, AdminError> {
    let mut w = admin.begin(state, Some(tenant.id)).await?;
    let Write::Done(saved) = providers::save(&mut w, tenant.id, &row).await? else {
        return Err(AdminError::conflict(format!(
            "provider {:?} already exists",
            row.name
        )));
    };
    let view = ProviderView::new(state, tenant, &saved);
    let entry = match before {
        Some(b) => Entry::new(Action::ProviderUpdate, saved.id)
            .before(&ProviderView::new(state, tenant, b)),
        None => Entry::new(Action::ProviderCreate, saved.id),
    };
    w.finish(
        entry.after(&view),
        [CacheEvent::TenantChanged { tenant: tenant.id }],
    )
    .await?;
    Ok(view)
}

/// Deletes a provider. Its grants go with it (their users log in again); MCP servers that
/// named it fall back to the tenant's first provider.
#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}/providers/{name}", operation_id = "delete_provider", tag = "providers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Provider name")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub async fn delete(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    api_owned_tenant(&tenant)?;
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    let before = providers::find(&mut w, tenant.id, &name, RowLock::ForUpdate)
        .await?
        .ok_or_else(|| not_found(&name))?;
    providers::delete(&mut w, before.id).await?;
    let entry = Entry::new(Action::ProviderDelete, before.id)
        .before(&ProviderView::new(&state, &tenant, &before));
    // Its grants are gone: nothing cached may outlive them.
    w.finish(entry, [CacheEvent::FlushAll]).await?;
    Ok(StatusCode::NO_CONTENT)
}
