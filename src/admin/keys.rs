//! `/admin/v1/tenants/{slug}/keys`: the tenant's JWT signing keys (public information only)
//! and rotation. A rotated-out key stays published for one access-token lifetime (plus the
//! clock leeway), so every token it signed keeps verifying until it expires.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    auth::Admin,
    extract::AdminPath,
    problem::{AdminError, ReadErrors, WriteErrors},
    write::{Action, Entry},
};
use crate::{coherence::CacheEvent, services::Services, store::signing_keys};

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    /// `active` (signs new tokens) or `retired` (still verifies until `publish_until`).
    pub status: String,
    /// The public JWK as served in the tenant's JWKS.
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub publish_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rotation {
    /// The new active key.
    pub kid: String,
    /// When the previous key leaves the JWKS.
    pub previous_published_until: DateTime<Utc>,
}

async fn keys(state: &Services, tenant_id: uuid::Uuid) -> Result<Vec<KeyView>, AdminError> {
    let rows = signing_keys::list_records(&state.pool, tenant_id).await?;
    Ok(rows
        .into_iter()
        .map(|k| KeyView {
            kid: k.kid,
            algorithm: k.algorithm,
            status: k.status,
            public_jwk: k.public_jwk,
            created_at: k.created_at,
            retired_at: k.retired_at,
            publish_until: k.publish_until,
        })
        .collect())
}

#[utoipa::path(get, path = "/admin/v1/tenants/{slug}/keys", operation_id = "list_keys", tag = "keys",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, description = "Signing keys, newest first", body = KeyList), ReadErrors))]
pub async fn list(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<KeyList>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    Ok(Json(KeyList {
        items: keys(&state, tenant.id).await?,
    }))
}

/// Makes a new active key; the previous one stays published for an access-token lifetime.
#[utoipa::path(post, path = "/admin/v1/tenants/{slug}/keys/rotate", operation_id = "rotate_key", tag = "keys",
    params(("slug" = String, Path, description = "Tenant slug", example = "demo")),
    responses((status = 200, description = "Rotated", body = Rotation), WriteErrors))]
pub async fn rotate(
    State(state): State<Services>,
    admin: Admin,
    AdminPath(slug): AdminPath<String>,
) -> Result<Json<Rotation>, AdminError> {
    let tenant = admin.tenant(&state, &slug).await?;
    let ttl = tenant
        .access_token_ttl_seconds
        .map(chrono::Duration::seconds)
        .unwrap_or_else(|| state.config.auth.access_token_ttl.to_chrono());
    let until = Utc::now() + ttl + state.config.auth.clock_skew.to_chrono();
    let mut w = admin.begin(&state, Some(tenant.id)).await?;
    let kid = crate::tokens::keys::rotate(&mut w, tenant.id, &state.sealer, until).await?;
    let rotation = Rotation {
        kid,
        previous_published_until: until,
    };
    let entry = Entry::new(Action::KeyRotate, &rotation.kid).after(&rotation);
    w.finish(entry, [CacheEvent::KeysRotated { tenant: tenant.id }])
        .await?;
    Ok(Json(rotation))
}
