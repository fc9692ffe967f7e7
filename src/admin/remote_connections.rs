//! Remote MCP servers with their own OAuth (issue 18), for operators:
//!
//! * `PUT|GET|DELETE /admin/v1/tenants/{slug}/servers/{name}/remote-oauth` — make an MCP server
//!   a remote-OAuth one (scopes, an optional pre-configured client; the secret is write-only),
//!   read its settings and the registration the bridge obtained, or make it plain again (its
//!   users' connections go with it).
//! * `GET /admin/v1/tenants/{slug}/remote-connections?subject=&server=` — users' connections
//!   (never a token), and `DELETE …/remote-connections/{id}` to disconnect one: its tokens are
//!   revoked at the remote (RFC 7009, when advertised) and deleted.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Admin,
    extract::{AdminJson, AdminPath, AdminQuery, uuid},
    problem::{AdminError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    domain::tenant::{Source, Tenant},
    services::Services,
    store::{
        mcp_servers::{self, ServerRow},
        remote_connections::{self, ConnectionRow},
        remote_registrations::{self, RemoteSettings},
    },
};

/// A user's connection to a remote server. No token, ever.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: Uuid,
    pub subject: String,
    pub server: String,
    /// `active`, or `needs_reconnect` (the remote refused the refresh token).
    pub status: String,
    pub scopes: Vec<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refreshable: bool,
    pub connected_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
}

impl From<ConnectionRow> for ConnectionView {
    fn from(c: ConnectionRow) -> Self {
        Self {
            id: c.id,
            subject: c.subject,
            server: c.server,
            status: c.status.as_str().to_owned(),
            scopes: c.scopes,
            access_expires_at: c.access_expires_at,
            refreshable: c.has_refresh_token,
            connected_at: c.connected_at,
            refreshed_at: c.refreshed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    pub items: Vec<ConnectionView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectionQuery {
    /// Only this user's connections.
    pub subject: Option<String>,
    /// Only connections to this MCP server (by name).
    pub server: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/remote-connections", operation_id = "list_remote_connections", tag = "remote",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ConnectionQuery),
    responses((status = 200, description = "Connections by user and server (at most 1000)", body = ConnectionList), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminQuery(q): AdminQuery<ConnectionQuery>,
) -> Result<Json<ConnectionList>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let rows = remote_connections::list(
        &state.pool,
        tenant.id,
        q.subject.as_deref(),
        q.server.as_deref(),
    )
    .await?;
    Ok(Json(ConnectionList {
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}/remote-connections/{id}", operation_id = "disconnect_remote", tag = "remote",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("id" = Uuid, Path, description = "Connection id")),
    responses((status = 204, description = "Disconnected: revoked at the remote when it offers revocation, and deleted"), WriteErrors))]
pub async fn disconnect(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let id = uuid(&id, "remote connection")?;
    let deleted = remote_connections::delete(&state.pool, &state.sealer, tenant.id, id)
        .await?
        .ok_or_else(|| {
            AdminError::not_found(format!("no remote connection {id} in this tenant"))
        })?;
    let actor = format!("admin:{}", admin.name);
    crate::remote::revoke::ended(&state, tenant.id, &deleted, &actor).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A server's remote-OAuth settings as written. The secret is write-only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteOAuthInput {
    /// Scopes requested at the remote; absent: its metadata's `scopes_supported`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// A client registered at the remote authorization server by hand.
    #[serde(default)]
    pub client_id: Option<String>,
    /// That client's secret (write-only, sealed).
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// A server's remote-OAuth settings and what the bridge obtained at the remote.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoteOAuthView {
    pub server: String,
    pub scopes: Option<Vec<String>>,
    pub client_id: Option<String>,
    pub client_secret_set: bool,
    /// How the bridge is registered there (`preconfigured`, `metadata_document`, `dynamic`);
    /// absent until the first user connects.
    pub registration: Option<String>,
    /// The remote authorization server found by discovery.
    pub issuer: Option<String>,
}

async fn server(state: &Services, tenant: &Tenant, name: &str) -> Result<ServerRow, AdminError> {
    let mut conn = state.pool.acquire().await?;
    mcp_servers::find(&mut conn, tenant.id, name)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no MCP server {name:?}")))
}

async fn view(state: &Services, s: &ServerRow) -> Result<RemoteOAuthView, AdminError> {
    let settings = remote_registrations::settings(&state.pool, &state.sealer, s.id)
        .await?
        .ok_or_else(|| {
            AdminError::not_found(format!(
                "MCP server {:?} is not a remote-OAuth server",
                s.name
            ))
        })?;
    let registration = remote_registrations::find(&state.pool, &state.sealer, s.id).await?;
    Ok(RemoteOAuthView {
        server: s.name.clone(),
        scopes: settings.scopes,
        client_id: settings.client_id,
        client_secret_set: settings.client_secret.is_some(),
        registration: registration.as_ref().map(|r| r.method.as_str().to_owned()),
        issuer: registration.map(|r| r.issuer),
    })
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/servers/{name}/remote-oauth", operation_id = "get_remote_oauth", tag = "remote",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "The server's remote-OAuth settings", body = RemoteOAuthView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<Json<RemoteOAuthView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let s = server(&state, &tenant, &name).await?;
    Ok(Json(view(&state, &s).await?))
}

#[utoipa::path(put, path = "/admin/v1/tenants/{slug}/servers/{name}/remote-oauth", operation_id = "set_remote_oauth", tag = "remote",
    request_body = RemoteOAuthInput,
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 200, description = "The server is a remote-OAuth server with these settings", body = RemoteOAuthView), WriteErrors))]
pub async fn set(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<RemoteOAuthInput>,
) -> Result<Json<RemoteOAuthView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let s = server(&state, &tenant, &name).await?;
    if s.source == Source::Config {
        return Err(AdminError::conflict(
            "this MCP server belongs to the configuration file: set remote_oauth there",
        ));
    }
    if s.forward_upstream_token {
        return Err(AdminError::invalid_field(
            "/forward_upstream_token",
            "a remote-OAuth server gets its own token, not the upstream one",
        ));
    }
    let settings = RemoteSettings {
        mcp_server_id: s.id,
        scopes: b.scopes,
        client_id: b.client_id.filter(|c| !c.is_empty()),
        client_secret: b.client_secret.filter(|c| !c.is_empty()),
    };
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    remote_registrations::upsert_settings(&mut w, &state.sealer, &settings).await?;
    let summary = serde_json::json!({"server": s.name, "scopes": settings.scopes,
        "client_id": settings.client_id, "client_secret_set": settings.client_secret.is_some()});
    w.finish(
        Entry::new(Action::RemoteOAuthSet, s.id).after(&summary),
        [CacheEvent::TenantChanged { tenant: tenant.id }],
    )
    .await?;
    Ok(Json(view(&state, &s).await?))
}

#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}/servers/{name}/remote-oauth", operation_id = "delete_remote_oauth", tag = "remote",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("name" = String, Path, description = "Server name")),
    responses((status = 204, description = "A plain MCP server again; its users' connections are deleted"), WriteErrors))]
pub async fn delete(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, name)): AdminPath<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let s = server(&state, &tenant, &name).await?;
    if s.source == Source::Config {
        return Err(AdminError::conflict(
            "this MCP server belongs to the configuration file: remove remote_oauth there",
        ));
    }
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    if !remote_registrations::delete_settings(&mut w, s.id).await? {
        return Err(AdminError::not_found(format!(
            "MCP server {name:?} is not a remote-OAuth server"
        )));
    }
    w.finish(
        Entry::new(Action::RemoteOAuthDelete, s.id),
        [CacheEvent::TenantChanged { tenant: tenant.id }],
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
