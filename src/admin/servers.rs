//! `/admin/v1/tenants/{slug}/servers`: the MCP servers of a tenant. The token-exchange secret
//! is write-only and stored as a hash, like the configuration file's.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::Admin,
    extract::{AdminJson, AdminPath},
    problem::{AdminError, ReadErrors, WriteErrors},
    tenants::{Owner, api_owned_tenant},
    validate::{Checks, nullable},
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    crypto::hash,
    domain::{ResourceName, tenant::Tenant},
    net_guard::UpstreamGuard,
    services::Services,
    store::{
        mcp_servers::{self, ServerRow},
        providers,
        upsert::Write,
    },
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerView {
    pub name: String,
    /// Where the gateway forwards requests.
    pub url: String,
    /// The provider users log in with; absent means the tenant's first provider.
    pub provider: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub required_scopes: Vec<String>,
    pub forward_upstream_token: bool,
    /// The RFC 8693 client id of this server, if it may exchange tokens (its secret is never shown).
    pub token_exchange_client_id: Option<String>,
    /// The resource URL clients use (`aud` of its tokens).
    pub resource_url: String,
    pub source: Owner,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServerView {
    fn new(state: &Services, tenant: &Tenant, s: &ServerRow) -> Self {
        Self {
            name: s.name.clone(),
            url: s.upstream_url.clone(),
            provider: s.provider.clone(),
            scopes: s.scopes.clone(),
            required_scopes: s.required_scopes.clone(),
            forward_upstream_token: s.forward_upstream_token,
            token_exchange_client_id: s.exchange_client_id.clone(),
            resource_url: state.resource_url(tenant.slug.as_str(), &s.name),
            source: s.source.into(),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerList {
    pub items: Vec<ServerView>,
}

/// Credentials with which a server may exchange a user's MCP token for the upstream token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchange {
    pub client_id: String,
    /// Write-only: stored as a SHA-256 hash.
    #[schema(write_only)]
    pub client_secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServer {
    #[schema(value_type = String, pattern = "^[a-z0-9_-]{1,63}$")]
    pub name: ResourceName,
    pub url: String,
    pub provider: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub required_scopes: Option<Vec<String>>,
    pub forward_upstream_token: Option<bool>,
    pub token_exchange: Option<TokenExchange>,
}

/// Absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServer {
    pub url: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Option<Vec<String>>>,
    pub required_scopes: Option<Vec<String>>,
    pub forward_upstream_token: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TokenExchange>)]
    pub token_exchange: Option<Option<TokenExchange>>,
}

fn not_found(name: &str) -> AdminError {
    AdminError::not_found(format!("no MCP server {name:?} in this tenant"))
}

/// Validates the row and resolves `provider` (a name) to its id.
async fn resolve(state: &Services, tenant: &Tenant, s: &mut ServerRow) -> Result<(), AdminError> {
    let mut c = Checks::default();
    let guard = UpstreamGuard::new(&state.config.admin.allowed_upstream_hosts);
    c.upstream_url("/url", &s.upstream_url, &guard);
    if let Some(scopes) = &s.scopes {
        c.scopes("/scopes", scopes);
    }
    c.scopes("/required_scopes", &s.required_scopes);
    if s.exchange_client_id
        .as_deref()
        .is_some_and(|id| id.trim().is_empty())
    {
        c.fail("/token_exchange/client_id", "must not be empty");
    }
    let providers = providers::list_rows(&state.pool, tenant.id).await?;
    match &s.provider {
        Some(name) => match providers.iter().find(|p| &p.name == name) {
            Some(p) => s.provider_id = Some(p.id),
            None => c.fail(
                "/provider",
                format!("{name:?} is not a provider of this tenant"),
            ),
        },
        None if providers.is_empty() => c.fail(
            "/provider",
            "the tenant has no provider for its users to log in with",
        ),
        None => s.provider_id = None,
    }
    c.finish()
}

fn exchange(x: Option<TokenExchange>) -> (Option<String>, Option<Vec<u8>>) {
    match x {
        Some(x) => (
            Some(x.client_id),
            Some(hash::sha256(x.client_secret.as_bytes()).to_vec()),
        ),
        None => (None, None),
    }
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/servers", operation_id = "list_servers", tag = "servers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, description = "The tenant's MCP servers", body = ServerList), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<ServerList>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let rows = mcp_servers::list_rows(&state.pool, tenant.id).await?;
    let items = rows
        .iter()
        .map(|s| ServerView::new(&state, &tenant, s))
        .collect();
    Ok(Json(ServerList { items }))
}

async fn find(state: &Services, tenant: &Tenant, name: &str) -> Result<ServerRow, AdminError> {
    let mut conn = state.pool.acquire().await?;
    mcp_servers::find(&mut conn, tenant.id, name)
        .await?
        .ok_or_else(|| not_found(name))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/servers/{name}", operation_id = "get_server", tag = "servers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "The MCP server", body = ServerView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<Json<ServerView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let s = find(&state, &tenant, &name).await?;
    Ok(Json(ServerView::new(&state, &tenant, &s)))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/servers", operation_id = "create_server", tag = "servers",
    request_body = CreateServer, params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 201, description = "Created", body = ServerView), WriteErrors))]
pub async fn create(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminJson(b): AdminJson<CreateServer>,
) -> Result<(StatusCode, Json<ServerView>), AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    api_owned_tenant(&tenant)?;
    let (exchange_client_id, exchange_secret_hash) = exchange(b.token_exchange);
    let now = Utc::now();
    let mut row = ServerRow {
        id: Uuid::new_v4(),
        name: b.name.to_string(),
        upstream_url: b.url,
        provider_id: None,
        provider: b.provider,
        scopes: b.scopes,
        required_scopes: b.required_scopes.unwrap_or_default(),
        forward_upstream_token: b.forward_upstream_token.unwrap_or(false),
        exchange_client_id,
        exchange_secret_hash,
        remote_oauth: false,
        source: crate::domain::tenant::Source::Api,
        created_at: now,
        updated_at: now,
    };
    resolve(&state, &tenant, &mut row).await?;
    let view = save(&state, &admin, &tenant, row, None).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(patch, path = "/admin/v1/tenants/{slug}/servers/{name}", operation_id = "update_server", tag = "servers",
    request_body = UpdateServer,
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "Updated", body = ServerView), WriteErrors))]
pub async fn update(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<UpdateServer>,
) -> Result<Json<ServerView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    api_owned_tenant(&tenant)?;
    let before = find(&state, &tenant, &name).await?;
    let mut row = before.clone();
    row.upstream_url = b.url.unwrap_or(row.upstream_url);
    if let Some(provider) = b.provider {
        row.provider = provider;
    }
    if let Some(scopes) = b.scopes {
        row.scopes = scopes;
    }
    row.required_scopes = b.required_scopes.unwrap_or(row.required_scopes);
    row.forward_upstream_token = b
        .forward_upstream_token
        .unwrap_or(row.forward_upstream_token);
    if let Some(x) = b.token_exchange {
        (row.exchange_client_id, row.exchange_secret_hash) = exchange(x);
    }
    resolve(&state, &tenant, &mut row).await?;
    Ok(Json(
        save(&state, &admin, &tenant, row, Some(&before)).await?,
    ))
}

/// Writes the row with its audit entry; `before` is `None` for a creation.
async fn save(
    state: &Services,
    admin: &Admin,
    tenant: &Tenant,
    row: ServerRow,
    before: Option<&ServerRow>,
) -> Result<ServerView, AdminError> {
    let mut w = admin.begin(state, Some(tenant.id)).await?;
    let Write::Done(saved) = mcp_servers::save(&mut w, tenant.id, &row).await? else {
        return Err(AdminError::conflict(
            "an MCP server with this name or token-exchange client id already exists",
        ));
    };
    let view = ServerView::new(state, tenant, &saved);
    let entry = match before {
        Some(b) => {
            Entry::new(Action::ServerUpdate, saved.id).before(&ServerView::new(state, tenant, b))
        }
        None => Entry::new(Action::ServerCreate, saved.id),
    };
    w.finish(
        entry.after(&view),
        [CacheEvent::TenantChanged { tenant: tenant.id }],
    )
    .await?;
    Ok(view)
}

/// Deletes an MCP server; the tokens issued for it go with it.
#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}/servers/{name}", operation_id = "delete_server", tag = "servers",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub async fn delete(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    api_owned_tenant(&tenant)?;
    let before = find(&state, &tenant, &name).await?;
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    if !mcp_servers::delete(&mut w, before.id).await? {
        return Err(not_found(&name));
    }
    let entry = Entry::new(Action::ServerDelete, before.id)
        .before(&ServerView::new(&state, &tenant, &before));
    let events = [
        CacheEvent::TenantChanged { tenant: tenant.id },
        CacheEvent::TokensRevoked,
    ];
    w.finish(entry, events).await?;
    Ok(StatusCode::NO_CONTENT)
}
