//! `POST /t/{tenant}/introspect` (RFC 7662) for resource servers: MCP servers authenticate with
//! the credentials configured for them (or a confidential client with its secret). Expired,
//! revoked, malformed and other tenants' tokens are all just `{"active": false}`; so are other
//! clients' tokens when a client asks (RFC 7662 section 4: the server decides who may see a
//! token's details, and one client has no business reading another's subject and scopes).

use crate::tenancy::TenantContext;
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::json;

use super::{
    body::Body,
    token::{client_auth, form},
};
use crate::{
    crypto::hash, domain::AuthMethod, error::OAuthError, oauth::OAuthState, oauth::params::Params,
    store, tokens::validate::validate,
};

/// Who asks to introspect.
#[derive(Debug, PartialEq, Eq)]
pub enum Caller {
    /// One of the tenant's MCP servers, with its token-exchange credentials: a resource server
    /// sees every token of the tenant.
    ResourceServer(String),
    /// A confidential client: sees only its own tokens.
    Client(String),
}

impl Caller {
    fn may_see(&self, token_client_id: &str) -> bool {
        match self {
            Caller::ResourceServer(_) => true,
            Caller::Client(id) => id == token_client_id,
        }
    }
}

/// Authenticates the caller as one of the tenant's MCP servers or a confidential client.
pub async fn authenticate_resource_server(
    state: &OAuthState,
    ctx: &TenantContext,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Caller, OAuthError> {
    let presented = client_auth::presented(headers, params)?;
    let secret = presented
        .secret
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_client("credentials are required"))?;
    if let Some((_, name, stored)) = store::mcp_servers::find_by_exchange_client(
        &state.pool,
        ctx.tenant.id,
        &presented.client_id,
    )
    .await?
    {
        if hash::constant_time_eq(&hash::sha256(secret.as_bytes()), &stored) {
            return Ok(Caller::ResourceServer(name));
        }
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    let client = client_auth::authenticate(state, ctx, headers, params).await?;
    if client.auth_method == AuthMethod::None {
        return Err(OAuthError::invalid_client(
            "public clients may not introspect",
        ));
    }
    Ok(Caller::Client(client.client_id))
}

pub async fn introspect(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let params = form(&headers, &body)?;
    let caller = authenticate_resource_server(&state, &ctx, &headers, &params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let leeway = state.config.auth.clock_skew.get().as_secs();
    let body = match validate(
        &state.keys,
        &state.pool,
        ctx.tenant.id,
        &ctx.issuer,
        token,
        Utc::now(),
        leeway,
    )
    .await
    {
        Ok(v) if caller.may_see(&v.claims.client_id) => json!({
            "active": true,
            "scope": v.claims.scope,
            "client_id": v.claims.client_id,
            "sub": v.claims.sub,
            "aud": v.claims.aud,
            "iss": v.claims.iss,
            "exp": v.claims.exp,
            "iat": v.claims.iat,
            "jti": v.claims.jti,
            "token_type": "Bearer",
        }),
        _ => json!({"active": false}),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
