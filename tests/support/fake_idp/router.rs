//! The routes of one mode, at that provider's real paths.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    routing::{any, get, post},
};
use serde_json::json;

use super::{ProviderMode, authorize, jwks, modes, revoke, state::Shared, token, userinfo};

/// Request bodies beyond this are refused (413) before any handler runs.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(shared: Arc<Shared>) -> Router {
    let mode = shared.mode;
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        modes::issuer_path(mode).trim_end_matches('/')
    );
    let revoke_path = match mode {
        ProviderMode::Github { .. } => "/applications/{client_id}/token".to_owned(),
        _ => modes::revoke_path(mode, &shared.client_id),
    };
    let mut router = Router::new()
        .route(&modes::authorize_path(mode), get(authorize::authorize))
        .route(&modes::token_path(mode), post(token::token))
        .route(
            &modes::userinfo_path(mode),
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(&modes::jwks_path(mode), get(jwks::jwks))
        .route(&revoke_path, post(revoke::revoke).delete(revoke::revoke))
        .route(&discovery, get(jwks::discovery))
        .route(modes::API_PATH, any(userinfo::api));
    router = match mode {
        ProviderMode::Atlassian => router.route(
            modes::ACCESSIBLE_RESOURCES_PATH,
            get(userinfo::accessible_resources),
        ),
        ProviderMode::Github { .. } => {
            router.route(modes::GITHUB_EMAILS_PATH, get(userinfo::github_emails))
        }
        ProviderMode::Salesforce => {
            router.route("/id/{org}/{user}", get(userinfo::salesforce_identity))
        }
        ProviderMode::Entra => router.route(
            &format!(
                "{}/.well-known/openid-configuration",
                modes::ENTRA_COMMON_PATH
            ),
            get(jwks::entra_common_discovery),
        ),
        _ => router,
    };
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found" }))) })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}
