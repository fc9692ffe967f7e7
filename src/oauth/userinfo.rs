//! `GET /t/{tenant}/userinfo`: the user behind an MCP access token, as the bridge knows them.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::json;

use crate::{
    error::{ErrorCode, OAuthError},
    oauth::OAuthState,
    store,
    tokens::{
        bearer::bearer,
        validate::{Refused, validate},
    },
};

fn invalid_token(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
        .with_status(StatusCode::UNAUTHORIZED)
        .with_www_authenticate(format!(
            "Bearer error=\"invalid_token\", error_description=\"{description}\""
        ))
}

pub async fn userinfo(
    State(state): State<OAuthState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let ctx = state.tenancy.resolve(&raw).await?;
    let token = bearer(&headers).ok_or_else(|| {
        OAuthError::new(ErrorCode::InvalidRequest, "a bearer token is required")
            .with_status(StatusCode::UNAUTHORIZED)
            .with_www_authenticate("Bearer".into())
    })?;
    let leeway = state.config.auth.clock_skew.get().as_secs();
    let validated = validate(
        &state.keys,
        &state.pool,
        ctx.tenant.id,
        &ctx.issuer,
        token,
        Utc::now(),
        leeway,
    )
    .await
    .map_err(|e| match e {
        Refused::NeedsReauth => invalid_token("the user must authorize again"),
        Refused::Revoked => invalid_token("the token has been revoked"),
        Refused::Token(_) => invalid_token("the token is invalid or expired"),
    })?;
    let grant = store::grants::find(&state.pool, validated.state.grant_id)
        .await?
        .ok_or_else(|| invalid_token("the token has been revoked"))?;
    let u = &grant.user_context;
    let mut body = json!({
        "sub": grant.subject,
        "email": u.get("email"),
        "name": u.get("name"),
        "preferred_username": u.get("username"),
        "provider": u.get("provider"),
    });
    // The provider's mapped claims (groups, roles, …), beside the standard ones; a mapping
    // cannot name one of those (`domain::claims` reserves them).
    if let (Some(body), Some(serde_json::Value::Object(mapped))) =
        (body.as_object_mut(), u.get("mapped"))
    {
        for (name, value) in mapped {
            body.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    Ok(Json(body).into_response())
}
