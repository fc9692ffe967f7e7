//! Mounting the gateway: `/t/{tenant}/mcp/{server}` and everything below it, any method, each
//! request authenticated by the handler before anything else. CORS (for browser-based MCP
//! clients) sits outside the handler so that preflights, which carry no token, are answered,
//! and `WWW-Authenticate` is exposed.

use axum::{Router, extract::FromRef, routing::any};
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::handler;
use crate::{config::GatewayConfig, gateway::GatewayState, urls::route};

pub fn routes<S>(state: &GatewayState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    GatewayState: FromRef<S>,
{
    // The handler authenticates first thing (`auth::authenticate_request`): a middleware
    // layer would box the route once more per request.
    let protected = Router::new()
        .route(route::MCP, any(handler::proxy))
        .route(route::MCP_BELOW, any(handler::proxy));
    match cors(&state.config.gateway) {
        Some(cors) => protected.layer(cors),
        None => protected,
    }
}

fn cors(config: &GatewayConfig) -> Option<CorsLayer> {
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origin = if config.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .cors_allowed_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok()),
        )
    };
    let mcp = |n: &'static str| HeaderName::from_static(n);
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                mcp("mcp-session-id"),
                mcp("mcp-protocol-version"),
                mcp("last-event-id"),
            ])
            .expose_headers([header::WWW_AUTHENTICATE, mcp("mcp-session-id")]),
    )
}
