//! The audit trail of admin changes, read back with filters and a cursor. Entries are written
//! in the same transaction as the change they describe ([`super::write`]).

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    auth::Admin,
    cursor,
    extract::AdminQuery,
    problem::{AdminError, FieldError, ReadErrors},
};
use crate::{
    domain::TenantSlug,
    services::Services,
    store::audit::{self, AuditFilter, AuditRecord},
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries of this tenant (a tenant-bound token always sees only its own).
    pub tenant: Option<String>,
    /// Only entries by this actor (admin token name, `config`, `system`, …).
    pub actor: Option<String>,
    /// Only this action, e.g. `tenant.update`, `grant.revoke`.
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// The row before the change (secrets removed).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The row after the change (secrets removed).
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl From<AuditRecord> for AuditEntryView {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: r.at,
            tenant_id: r.tenant_id,
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/admin/v1/audit", operation_id = "list_audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "A page of audit entries", body = AuditPage), ReadErrors)
)]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminQuery(q): AdminQuery<AuditQuery>,
) -> Result<Json<AuditPage>, AdminError> {
    let tenant = match (&admin.tenant, &q.tenant) {
        (Some(own), None) => Some(own.as_str().to_owned()),
        (_, Some(t)) => Some(t.clone()),
        (None, None) => None,
    };
    let tenant_id = match tenant {
        None => None,
        Some(slug) => {
            admin.may_access(&slug)?;
            let parsed = TenantSlug::parse(&slug).map_err(|e| {
                AdminError::bad_request(
                    "bad tenant filter",
                    vec![FieldError::new("tenant", e.to_string())],
                )
            })?;
            // A deleted tenant's entries outlive it; an unknown slug simply matches nothing.
            let found = crate::store::tenants::find_tenant(&state.pool, &parsed).await?;
            Some(found.map(|t| t.id).unwrap_or_else(Uuid::nil))
        }
    };
    let limit = cursor::limit(q.limit)?;
    let before_id = cursor::decode::<i64>(q.cursor.as_deref())?;
    let filter = AuditFilter {
        tenant_id,
        actor: q.actor.as_deref(),
        action: q.action.as_deref(),
        target_type: q.target_type.as_deref(),
        target_id: q.target_id.as_deref(),
        before_id,
    };
    let rows = audit::list(&state.pool, &filter, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(rows, limit, |r| r.id);
    Ok(Json(AuditPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
