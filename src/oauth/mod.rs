//! The MCP-facing OAuth 2.1 authorization server: discovery, registration, authorization with
//! consent, the upstream callback, token, revocation, introspection, userinfo.

pub mod client_metadata;
pub mod client_metadata_document;
pub mod clients;
pub mod metadata;
pub mod rate_limit;
pub mod register;
pub mod tenant;

use axum::{
    Router,
    routing::{get, post},
};

use crate::state::AppState;

/// Every authorization-server route. CORS is open on the machine-to-machine endpoints that
/// browser-based MCP clients call (discovery, JWKS, register, token); never on `/authorize`.
pub fn routes() -> Router<AppState> {
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([
            http::Method::GET,
            http::Method::POST,
            http::Method::DELETE,
            http::Method::OPTIONS,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            http::HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(std::time::Duration::from_secs(3600));
    let machine = Router::new()
        .route(
            "/.well-known/oauth-authorization-server/t/{tenant}",
            get(metadata::authorization_server),
        )
        .route(
            "/t/{tenant}/.well-known/oauth-authorization-server",
            get(metadata::authorization_server),
        )
        .route(
            "/.well-known/openid-configuration/t/{tenant}",
            get(metadata::authorization_server),
        )
        .route(
            "/t/{tenant}/.well-known/openid-configuration",
            get(metadata::authorization_server),
        )
        .route(
            "/.well-known/oauth-protected-resource/t/{tenant}/mcp/{server}",
            get(metadata::protected_resource),
        )
        .route("/t/{tenant}/jwks.json", get(metadata::jwks))
        .route("/t/{tenant}/register", post(register::register))
        .route(
            "/t/{tenant}/register/{client_id}",
            get(register::read).delete(register::delete),
        )
        .layer(cors);
    Router::new().merge(machine)
}
