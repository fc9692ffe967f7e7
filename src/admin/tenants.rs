//! `/admin/v1/tenants`: create, list, get, update (display name, scopes, token lifetime,
//! active/disabled), delete. Tenants declared in the configuration file belong to the file:
//! changing them here is refused with 409, since the next start-up would undo the change.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    auth::Admin,
    extract::{AdminJson, AdminPath},
    problem::{AdminError, ReadErrors, WriteErrors},
    validate::{Checks, nullable},
    write::{Action, Entry},
};
use crate::{
    coherence::CacheEvent,
    domain::{
        TenantSlug,
        tenant::{Source, Tenant, TenantStatus},
    },
    services::Services,
    store::{
        RowLock,
        tenants::{self, TenantRecord, TenantValues},
    },
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// Every endpoint of a disabled tenant answers as if it did not exist; its data is kept.
    Disabled,
}

impl From<Status> for TenantStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Active => TenantStatus::Active,
            Status::Disabled => TenantStatus::Disabled,
        }
    }
}

/// Who owns a row: the configuration file (read-only here) or this API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Config,
    Api,
}

impl From<Source> for Owner {
    fn from(s: Source) -> Self {
        match s {
            Source::Config => Owner::Config,
            Source::Api => Owner::Api,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub status: Status,
    pub source: Owner,
    /// Scopes MCP clients may request.
    pub scopes: Vec<String>,
    /// Overrides `auth.access_token_ttl`; absent means the global default.
    pub access_token_ttl_seconds: Option<i64>,
    /// The tenant's issuer identifier.
    pub issuer: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TenantView {
    pub fn new(state: &Services, r: &TenantRecord) -> Self {
        let t = &r.tenant;
        Self {
            id: t.id,
            slug: t.slug.to_string(),
            display_name: t.display_name.clone(),
            status: match t.status {
                TenantStatus::Active => Status::Active,
                TenantStatus::Disabled => Status::Disabled,
            },
            source: t.source.into(),
            scopes: t.scopes.clone(),
            access_token_ttl_seconds: t.access_token_ttl_seconds,
            issuer: state.issuer(t.slug.as_str()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    pub items: Vec<TenantView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 1 to 63 of `a-z`, `0-9`, `-`, not starting or ending with `-`; the URL segment.
    #[schema(value_type = String, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub slug: TenantSlug,
    /// Shown on consent pages; defaults to the slug.
    pub display_name: Option<String>,
    /// Defaults to `["mcp"]`.
    pub scopes: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 315360000)]
    pub access_token_ttl_seconds: Option<i64>,
    /// Defaults to `active`.
    pub status: Option<Status>,
}

/// Absent fields stay as they are; `access_token_ttl_seconds: null` returns to the default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub display_name: Option<String>,
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 315360000)]
    pub access_token_ttl_seconds: Option<Option<i64>>,
    pub status: Option<Status>,
}

fn check(display_name: &str, scopes: &[String], ttl: Option<i64>) -> Result<(), AdminError> {
    let mut c = Checks::default();
    c.name("/display_name", display_name);
    c.scopes("/scopes", scopes);
    if let Some(ttl) = ttl {
        c.seconds("/access_token_ttl_seconds", ttl);
    }
    c.finish()
}

/// Refuses changes to a tenant the configuration file owns.
pub fn api_owned(r: &TenantRecord) -> Result<(), AdminError> {
    api_owned_tenant(&r.tenant)
}

/// Refuses changes to a tenant the configuration file owns, or to its providers and servers:
/// the next start-up would undo them.
pub fn api_owned_tenant(t: &Tenant) -> Result<(), AdminError> {
    match t.source {
        Source::Api => Ok(()),
        Source::Config => Err(AdminError::conflict(format!(
            "tenant {:?} is declared in the configuration file; change it there (changes made here \
             would be undone at the next start-up)",
            t.slug.as_str()
        ))),
    }
}

/// Every tenant this token may see.
#[utoipa::path(get, path = "/admin/v1/tenants", operation_id = "list_tenants", tag = "tenants",
    responses((status = 200, body = TenantList), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
) -> Result<Json<TenantList>, AdminError> {
    let only = admin.tenant.as_ref().map(|t| t.as_str());
    let rows = tenants::list(&state.pool, only).await?;
    let items = rows.iter().map(|r| TenantView::new(&state, r)).collect();
    Ok(Json(TenantList { items }))
}

/// Creates a tenant (with its first signing key). Needs a global token.
#[utoipa::path(post, path = "/admin/v1/tenants", operation_id = "create_tenant", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = TenantView), WriteErrors))]
pub async fn create(
    State(state): State<Services>,
    admin: Admin,
    AdminJson(body): AdminJson<CreateTenant>,
) -> Result<Response, AdminError> {
    admin.require_global()?;
    let display_name = body
        .display_name
        .unwrap_or_else(|| body.slug.as_str().to_owned());
    let scopes = body.scopes.unwrap_or_else(|| vec!["mcp".into()]);
    check(&display_name, &scopes, body.access_token_ttl_seconds)?;
    let values = TenantValues {
        display_name: &display_name,
        status: body.status.unwrap_or(Status::Active).into(),
        scopes: &scopes,
        access_token_ttl_seconds: body.access_token_ttl_seconds,
    };
    let mut w = admin.begin(&state, None).await?;
    let record = tenants::insert(&mut w, &body.slug, &values)
        .await?
        .ok_or_else(|| {
            AdminError::conflict(format!("tenant {:?} already exists", body.slug.as_str()))
        })?;
    crate::tokens::keys::ensure_key(&mut w, record.tenant.id, &state.sealer).await?;
    w.set_tenant(record.tenant.id);
    let view = TenantView::new(&state, &record);
    let entry = Entry::new(Action::TenantCreate, record.tenant.id).after(&view);
    w.finish(entry, []).await?;
    let location = format!("/admin/v1/tenants/{}", view.slug);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// One tenant.
#[utoipa::path(get, path = "/admin/v1/tenants/{slug}", operation_id = "get_tenant", tag = "tenants",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, body = TenantView), ReadErrors))]
pub async fn get(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<TenantView>, AdminError> {
    let record = locked(&state, &admin, &slug, None).await?;
    Ok(Json(TenantView::new(&state, &record)))
}

/// Loads the tenant (locking its row when `tx` is given), after the access check.
async fn locked(
    state: &Services,
    admin: &Admin,
    slug: &str,
    tx: Option<&mut sqlx::PgConnection>,
) -> Result<TenantRecord, AdminError> {
    admin.may_access(slug)?;
    let unknown = || AdminError::not_found(format!("no tenant {slug:?}"));
    let parsed = TenantSlug::parse(slug).map_err(|_| unknown())?;
    let found = match tx {
        Some(conn) => tenants::find(conn, &parsed, RowLock::ForUpdate).await?,
        None => {
            let mut conn = state.pool.acquire().await?;
            tenants::find(&mut conn, &parsed, RowLock::None).await?
        }
    };
    found.ok_or_else(unknown)
}

/// Changes a tenant's display name, scopes, token lifetime or status.
#[utoipa::path(patch, path = "/admin/v1/tenants/{slug}", operation_id = "update_tenant", tag = "tenants", request_body = UpdateTenant,
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, body = TenantView), WriteErrors))]
pub async fn update(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
    AdminJson(body): AdminJson<UpdateTenant>,
) -> Result<Json<TenantView>, AdminError> {
    let mut w = admin.begin(&state, None).await?;
    let before = locked(&state, &admin, &slug, Some(&mut *w)).await?;
    api_owned(&before)?;
    let t = &before.tenant;
    w.set_tenant(t.id);
    let display_name = body.display_name.unwrap_or_else(|| t.display_name.clone());
    let scopes = body.scopes.unwrap_or_else(|| t.scopes.clone());
    let ttl = body
        .access_token_ttl_seconds
        .unwrap_or(t.access_token_ttl_seconds);
    check(&display_name, &scopes, ttl)?;
    let values = TenantValues {
        display_name: &display_name,
        status: body.status.map(Into::into).unwrap_or(t.status),
        scopes: &scopes,
        access_token_ttl_seconds: ttl,
    };
    let after = tenants::update(&mut w, t.id, &values).await?;
    let view = TenantView::new(&state, &after);
    let entry = Entry::new(Action::TenantUpdate, t.id)
        .before(&TenantView::new(&state, &before))
        .after(&view);
    // A disabled tenant stops serving at once, here and (LISTEN/NOTIFY) on every replica.
    w.finish(entry, [CacheEvent::TenantChanged { tenant: t.id }])
        .await?;
    Ok(Json(view))
}

/// Deletes a tenant and everything it owns (providers, servers, clients, grants, tokens,
/// keys). Needs a global token.
#[utoipa::path(delete, path = "/admin/v1/tenants/{slug}", operation_id = "delete_tenant", tag = "tenants",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 204, description = "Deleted"), WriteErrors))]
pub async fn delete(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<StatusCode, AdminError> {
    let mut w = admin.begin(&state, None).await?;
    let before = locked(&state, &admin, &slug, Some(&mut *w)).await?;
    admin.require_global()?;
    api_owned(&before)?;
    let id = before.tenant.id;
    w.set_tenant(id);
    tenants::delete(&mut w, id).await?;
    let entry = Entry::new(Action::TenantDelete, id).before(&TenantView::new(&state, &before));
    w.finish(entry, [CacheEvent::FlushAll]).await?;
    Ok(StatusCode::NO_CONTENT)
}
