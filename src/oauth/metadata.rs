//! Discovery: RFC 8414 authorization-server metadata (also served at the OIDC discovery
//! paths), RFC 9728 protected-resource metadata of each MCP server, and the tenant's JWKS.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::tenancy::TenantContext;
use crate::{error::OAuthError, oauth::OAuthState, store};

/// RFC 8414 section 2, plus what MCP clients look for: `code_challenge_methods_supported`
/// (clients refuse documents without it), `client_id_metadata_document_supported`, and
/// RFC 9207 `authorization_response_iss_parameter_supported`.
pub fn document(state: &OAuthState, ctx: &TenantContext) -> Value {
    let issuer = &ctx.issuer;
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks.json"),
        "scopes_supported": ctx.tenant.scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": state.config.registration.metadata_documents,
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "resource_indicators_supported": true,
    })
}

fn cached_json(value: Value) -> Response {
    let mut response = Json(value).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

pub async fn authorization_server(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    Ok(cached_json(document(&state, &ctx)))
}

pub async fn protected_resource(
    State(state): State<OAuthState>,
    Path((raw, server)): Path<(String, String)>,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let servers = state.tenancy.servers(&ctx).await?;
    let server = servers
        .iter()
        .find(|s| s.name.as_str() == server)
        .ok_or_else(|| {
            OAuthError::invalid_request("unknown MCP server")
                .with_status(axum::http::StatusCode::NOT_FOUND)
        })?;
    let scopes = server
        .scopes
        .clone()
        .unwrap_or_else(|| ctx.tenant.scopes.clone());
    Ok(cached_json(json!({
        "resource": state.resource_url(ctx.slug(), server.name.as_str()),
        "authorization_servers": [ctx.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": format!("{} / {}", ctx.tenant.display_name, server.name),
    })))
}

pub async fn jwks(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let keys = store::signing_keys::published(&state.pool, ctx.tenant.id).await?;
    Ok(cached_json(json!({ "keys": keys })))
}
