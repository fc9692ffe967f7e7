//! The MCP-facing OAuth 2.1 authorization server: discovery, registration, authorization with
//! consent, the upstream callback, token, revocation, introspection, userinfo.

pub mod authorize;
pub mod body;
pub mod callback;
mod callback_account;
mod callback_checks;
pub mod client_metadata;
pub mod client_metadata_document;
pub mod clients;
pub mod consent;
pub mod introspect;
pub mod metadata;
pub mod params;
pub mod rate_limit;
pub mod redirect;
pub mod register;
pub mod revoke;
mod state;
pub mod token;
pub mod userinfo;

use axum::{
    Router,
    extract::FromRef,
    routing::{get, post},
};

use crate::urls::route;
pub use state::{OAuthShared, OAuthState};

/// Every authorization-server route. CORS is open on the machine-to-machine endpoints that
/// browser-based MCP clients call (discovery, JWKS, register, token); never on `/authorize`.
pub fn routes<S>(max_body_bytes: usize) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    OAuthState: FromRef<S>,
{
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
        .route(route::AS_METADATA, get(metadata::authorization_server))
        .route(
            route::AS_METADATA_APPENDED,
            get(metadata::authorization_server),
        )
        .route(route::OIDC_DISCOVERY, get(metadata::authorization_server))
        .route(
            route::OIDC_DISCOVERY_APPENDED,
            get(metadata::authorization_server),
        )
        .route(route::PROTECTED_RESOURCE, get(metadata::protected_resource))
        .route(route::JWKS, get(metadata::jwks))
        .route(route::REGISTER, post(register::register))
        .route(
            route::REGISTERED_CLIENT,
            get(register::read).delete(register::delete),
        )
        .route(route::TOKEN, post(token::token).fallback(body::post_only))
        .route(
            route::REVOKE,
            post(revoke::revoke).fallback(body::post_only),
        )
        .route(
            route::INTROSPECT,
            post(introspect::introspect).fallback(body::post_only),
        )
        .route(
            route::USERINFO,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .layer(cors)
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes));
    let browser = Router::new()
        .route(route::AUTHORIZE, get(authorize::authorize))
        .route(route::CONSENT, post(consent::submit))
        .route(route::CALLBACK, get(callback::callback))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes));
    Router::new().merge(machine).merge(browser)
}
