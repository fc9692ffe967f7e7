//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): an MCP server,
//! authenticated with the credentials configured for it, presents a user's MCP access token as
//! `subject_token` and receives that user's current upstream access token (refreshed when
//! needed). With `rejected_token` (a bridge extension) it reports the upstream token the upstream
//! API just refused: the bridge then refreshes once, however many callers report the same token.
//! Each exchange is written to the audit log.

use crate::tenancy::TenantContext;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    crypto::hash,
    error::OAuthError,
    oauth::OAuthState,
    oauth::{params::Params, token::client_auth},
    store::{self, audit::AuditEntry},
    tokens::validate::{Refused, validate},
    upstream::refresh::RefreshError,
};

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub async fn exchange(
    state: &OAuthState,
    ctx: &TenantContext,
    headers: &axum::http::HeaderMap,
    params: &Params,
) -> Result<Value, OAuthError> {
    let (server_id, server_name) = authenticate_server(state, ctx, headers, params).await?;
    let subject_token = subject_token(params)?;
    let leeway = state.config.auth.clock_skew.get().as_secs();
    let now = Utc::now();
    let validated = validate(
        &state.keys,
        &state.pool,
        ctx.tenant.id,
        &ctx.issuer,
        subject_token,
        now,
        leeway,
    )
    .await
    .map_err(|e| match e {
        Refused::NeedsReauth => OAuthError::invalid_grant("the user must authorize again"),
        _ => OAuthError::invalid_grant("subject_token is invalid, expired or revoked"),
    })?;
    // The token must have been issued for the server asking: no server can obtain the upstream
    // token of a user who never authorized *it*.
    if validated.claims.aud != state.resource_url(ctx.slug(), &server_name) {
        return Err(OAuthError::invalid_grant(
            "subject_token was not issued for this MCP server",
        ));
    }
    let grant = validated.state.grant_id;
    let result = match params.get("rejected_token") {
        Some(rejected) => state.refresher.after_rejection(grant, rejected, now).await,
        None => state.refresher.access_token(grant, now).await,
    };
    let access = result.map_err(refresh_failure)?;
    audit(
        state,
        ctx,
        &server_name,
        server_id,
        grant,
        params,
        access.version,
    )
    .await?;
    let expires_in = access.expires_at.map(|at| (at - now).num_seconds().max(0));
    let mut body = json!({
        "access_token": access.token.expose(),
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
    });
    if let (Some(secs), Some(fields)) = (expires_in, body.as_object_mut()) {
        fields.insert("expires_in".into(), json!(secs));
    }
    Ok(body)
}

/// The MCP server presenting its token-exchange credentials: its id and name.
async fn authenticate_server(
    state: &OAuthState,
    ctx: &TenantContext,
    headers: &axum::http::HeaderMap,
    params: &Params,
) -> Result<(Uuid, String), OAuthError> {
    let presented = client_auth::presented(headers, params)?;
    let secret = presented
        .secret
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_client("MCP server credentials are required"))?;
    let (server_id, server_name, stored) = store::mcp_servers::find_by_exchange_client(
        &state.pool,
        ctx.tenant.id,
        &presented.client_id,
    )
    .await?
    .ok_or_else(|| OAuthError::invalid_client("unknown MCP server credentials"))?;
    if !hash::constant_time_eq(&hash::sha256(secret.as_bytes()), &stored) {
        return Err(OAuthError::invalid_client("unknown MCP server credentials"));
    }
    Ok((server_id, server_name))
}

/// The `subject_token`, an access token (RFC 8693 section 2.1), asking for an access token.
fn subject_token(params: &Params) -> Result<&str, OAuthError> {
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    if params.get("subject_token_type") != Some(ACCESS_TOKEN_TYPE) {
        return Err(OAuthError::invalid_request(
            "subject_token_type must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    if params
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(
            "only access tokens can be requested",
        ));
    }
    Ok(subject_token)
}

/// Why no upstream token could be handed out, in RFC 6749 terms.
fn refresh_failure(e: RefreshError) -> OAuthError {
    match e {
        RefreshError::NeedsReauth | RefreshError::Revoked | RefreshError::NotRefreshable => {
            OAuthError::invalid_grant("the user must authorize again")
        }
        RefreshError::Unavailable { retry_after } => OAuthError::unavailable(
            "the identity provider is unavailable",
            retry_after.unwrap_or(1),
        ),
        // Still refreshing, backing off, or `rejected_token` reported within the grant's
        // minimum refresh interval (issue 11): come back later.
        RefreshError::Busy { why, retry_after } => {
            OAuthError::unavailable(why.message(), retry_after)
        }
        RefreshError::DatabaseUnavailable => {
            use crate::store::unavailable;
            unavailable::record("oauth", "token exchange", &e);
            OAuthError::unavailable(unavailable::MESSAGE, unavailable::RETRY_AFTER_SECS)
        }
        RefreshError::Internal(reason) => OAuthError::internal("token exchange", &reason),
    }
}

/// Every exchange is audited: which server obtained which grant's upstream token.
async fn audit(
    state: &OAuthState,
    ctx: &TenantContext,
    server_name: &str,
    server_id: Uuid,
    grant: Uuid,
    params: &Params,
    upstream_token_version: i64,
) -> Result<(), OAuthError> {
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| OAuthError::database("audit", e))?;
    store::audit::record(
        &mut conn,
        &AuditEntry {
            tenant_id: Some(ctx.tenant.id),
            actor: &format!("mcp_server:{server_name}"),
            action: "token.exchange",
            target_type: Some("grant"),
            target_id: Some(grant.to_string()),
            before: None,
            after: Some(json!({"mcp_server_id": server_id, "rejected_token_reported": params.contains("rejected_token"), "upstream_token_version": upstream_token_version})),
            request_id: None,
        },
    )
    .await?;
    Ok(())
}
