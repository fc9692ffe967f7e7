//! `/admin/v1/tenants/{slug}/clients`: the OAuth clients of a tenant (list with a cursor, get,
//! delete). Deleting a client revokes everything issued to it: its grants, codes, refresh
//! families and access tokens go by cascade, and its upstream tokens are revoked best effort.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    auth::Admin,
    cursor::{self, CreatedKey},
    extract::{AdminPath, AdminQuery},
    grants::revoke_upstream_tokens,
    problem::{AdminError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    services::Services,
    store::{
        clients::{self, ClientRecord},
        grant_records,
    },
};

/// A registered client. Its secret and registration token exist only as hashes and are
/// never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    /// `dynamic` (RFC 7591), `metadata_document` or `static`.
    pub kind: String,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: String,
    pub application_type: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ClientRecord> for ClientView {
    fn from(c: &ClientRecord) -> Self {
        Self {
            client_id: c.client_id.clone(),
            kind: c.kind.clone(),
            client_name: c.client_name.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
            application_type: c.application_type.clone(),
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            scope: c.scope.clone(),
            created_at: c.created_at,
            last_used_at: c.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientPage {
    pub items: Vec<ClientView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/clients", operation_id = "list_clients", tag = "clients",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ClientQuery),
    responses((status = 200, description = "A page of clients", body = ClientPage), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminQuery(q): AdminQuery<ClientQuery>,
) -> Result<Json<ClientPage>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let limit = cursor::limit(q.limit)?;
    let after = cursor::decode::<CreatedKey>(q.cursor.as_deref())?;
    let rows = clients::list_records(
        &state.pool,
        tenant.id,
        after.map(|k| (k.created_at, k.id)),
        limit + 1,
    )
    .await?;
    let (rows, next_cursor) = cursor::page(rows, limit, |c| CreatedKey {
        created_at: c.created_at,
        id: c.id,
    });
    Ok(Json(ClientPage {
        items: rows.iter().map(Into::into).collect(),
        next_cursor,
    }))
}

fn not_found(client_id: &str) -> AdminError {
    AdminError::not_found(format!("no client {client_id:?} in this tenant"))
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/clients/{client_id}", operation_id = "get_client", tag = "clients",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("client_id" = String, Path, description = "The client id (percent-encoded)")),
    responses((status = 200, description = "The client", body = ClientView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, client_id)): AdminPath<(String, String)>,
) -> Result<Json<ClientView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let mut tx = state.pool.begin().await?;
    let c = clients::find_record_for_update(&mut tx, tenant.id, &client_id)
        .await?
        .ok_or_else(|| not_found(&client_id))?;
    Ok(Json((&c).into()))
}

/// Deletes a client and revokes everything issued to it.
#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}/clients/{client_id}", operation_id = "delete_client", tag = "clients",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("client_id" = String, Path, description = "The client id (percent-encoded)")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub async fn delete(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, client_id)): AdminPath<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    let c = clients::find_record_for_update(&mut w, tenant.id, &client_id)
        .await?
        .ok_or_else(|| not_found(&client_id))?;
    let grants = grant_records::ids_of_client(&mut w, c.id).await?;
    // Upstream tokens are read before the cascade deletes them; revoked after the commit.
    let mut upstream = Vec::new();
    for &id in &grants {
        if let Some(t) = grant_records::open_tokens(&mut *w, &state.sealer, id).await? {
            upstream.push(t);
        }
    }
    clients::delete_by_pk(&mut w, c.id).await?;
    let entry = Entry::new(Action::ClientDelete, &c.client_id).before(&ClientView::from(&c));
    let events: Vec<_> = grants
        .iter()
        .map(|&grant| CacheEvent::GrantChanged { grant })
        .chain([CacheEvent::ClientChanged { client: c.id }])
        .collect();
    w.finish(entry, events).await?;
    let (state, slug, tenant_id) = (state.clone(), tenant.slug.to_string(), tenant.id);
    tokio::spawn(async move {
        for t in upstream {
            revoke_upstream_tokens(&state, tenant_id, &slug, t).await;
        }
    });
    Ok(StatusCode::NO_CONTENT)
}
