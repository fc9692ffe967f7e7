//! The gateway's user-context cache: its size, and flushing it for a tenant or a grant (after
//! changing something upstream that the cached context reflects). Caches are per replica: a
//! flush empties this replica's; others expire their entries within `auth.cache_ttl`.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    auth::Admin,
    extract::{AdminPath, uuid},
    problem::{AdminError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{coherence::CacheEvent, services::Services, store::grant_records};

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStats {
    /// User contexts cached on this replica (approximate: moka counts lazily).
    pub user_contexts: u64,
    /// How long a user context stays cached, in seconds.
    pub ttl_seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Flushed {
    /// How many grants' cached contexts were dropped (whether or not one was cached).
    pub grants: usize,
}

#[utoipa::path(get, path = "/admin/v1/cache", operation_id = "cache_stats", tag = "cache",
    responses((status = 200, description = "This replica's cache", body = CacheStats), ReadErrors))]
pub async fn stats(
    State(state): State<Services>,
    admin: Admin,
) -> Result<Json<CacheStats>, AdminError> {
    admin.require_global()?;
    Ok(Json(CacheStats {
        user_contexts: state.caches.user_contexts(),
        ttl_seconds: state.config.auth.cache_ttl.get().as_secs(),
    }))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/cache/flush", operation_id = "flush_tenant_cache", tag = "cache",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, description = "Flushed", body = Flushed), WriteErrors))]
pub async fn flush_tenant(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<Flushed>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let grants = grant_records::ids_of_tenant(&state.pool, tenant.id).await?;
    // What a flush publishes is the change; the entry records who asked for it.
    let events: Vec<_> = grants
        .iter()
        .map(|&grant| CacheEvent::GrantChanged { grant })
        .chain([CacheEvent::TenantChanged { tenant: tenant.id }])
        .collect();
    let entry = Entry::new(Action::TenantCacheFlush, tenant.id);
    admin.record(&state, Some(tenant.id), entry, events).await?;
    Ok(Json(Flushed {
        grants: grants.len(),
    }))
}

#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/grants/{id}/cache/flush", operation_id = "flush_grant_cache", tag = "cache",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo"), ("id" = Uuid, Path, description = "Grant id")),
    responses((status = 200, description = "Flushed", body = Flushed), WriteErrors))]
pub async fn flush_grant(
    State(state): State<Services>,
    admin: Admin,
    AdminPath((slug, id)): AdminPath<(String, String)>,
) -> Result<Json<Flushed>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let id = uuid(&id, "grant")?;
    grant_records::get(&state.pool, tenant.id, id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no grant {id} in this tenant")))?;
    let entry = Entry::new(Action::GrantCacheFlush, id);
    let events = [CacheEvent::GrantChanged { grant: id }];
    admin.record(&state, Some(tenant.id), entry, events).await?;
    Ok(Json(Flushed { grants: 1 }))
}
