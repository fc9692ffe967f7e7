//! `/admin/v1/tenants/{slug}/consents`: what users approved for which clients; revoking one
//! makes the consent page ask again at the user's next authorization (grants already issued
//! are revoked through the grants endpoints).

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Admin,
    extract::{AdminPath, AdminQuery, uuid},
    problem::{AdminError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{
    services::Services,
    store::consents::{self, ConsentRecord},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: Uuid,
    pub subject: String,
    pub client_id: String,
    pub mcp_server: Option<String>,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ConsentRecord> for ConsentView {
    fn from(c: ConsentRecord) -> Self {
        Self {
            id: c.id,
            subject: c.subject,
            client_id: c.client_id,
            mcp_server: c.mcp_server,
            scopes: c.scopes,
            granted_at: c.granted_at,
            revoked_at: c.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    pub items: Vec<ConsentView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentQuery {
    /// Only this user's consents.
    pub subject: Option<String>,
    /// Only consents given to this client.
    pub client_id: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/consents", operation_id = "list_consents", tag = "consents",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ConsentQuery),
    responses((status = 200, description = "Consents, oldest first (at most 1000)", body = ConsentList), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminQuery(q): AdminQuery<ConsentQuery>,
) -> Result<Json<ConsentList>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let rows = consents::list_records(
        &state.pool,
        tenant.id,
        q.subject.as_deref(),
        q.client_id.as_deref(),
    )
    .await?;
    Ok(Json(ConsentList {
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/consents/{id}/revoke", operation_id = "revoke_consent", tag = "consents",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("id" = Uuid, Path, description = "Consent id")),
    responses((status = 200, description = "The revoked consent", body = ConsentView), WriteErrors))]
pub async fn revoke(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<ConsentView>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let id = uuid(&id, "consent")?;
    Ok(Json(revoke_consent(&state, &admin, &tenant, id).await?))
}

/// Revokes one consent of `tenant`, audited with `admin` as the actor: the admin API and the
/// account page (acting as the user) both come here.
pub async fn revoke_consent(
    state: &Services,
    admin: &Admin,
    tenant: &crate::domain::tenant::Tenant,
    id: Uuid,
) -> Result<ConsentView, AdminError> {
    let mut w = admin.begin(state, Some(tenant.id)).await?;
    let consent: ConsentView = consents::revoke(&mut w, tenant.id, id, Utc::now())
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no consent {id} in this tenant")))?
        .into();
    w.finish(Entry::new(Action::ConsentRevoke, id).after(&consent), [])
        .await?;
    Ok(consent)
}
