//! Step 2 of connecting a user to a remote server (see [`super::connect`]): the remote's
//! redirect back, accepted only from the browser holding the binding of its `state`, then the
//! code exchanged and the tokens stored sealed, replacing (and revoking) an earlier connection.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use chrono::Utc;
use serde::Deserialize;
use url::Url;

use super::{
    RemoteError,
    connect::{binding_cookie, cookie_name, failure, page, read_cookie, refused, server_of},
    registration,
};
use crate::{
    crypto::hash,
    domain::McpServer,
    services::Services,
    store::{
        audit::{self, AuditEntry},
        remote_connections,
    },
    tenancy::TenantContext,
    upstream::{
        UpstreamError,
        provider::ClientAuth,
        token_endpoint::{self, ClientCredentials},
    },
};

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    iss: Option<String>,
}

/// `GET /t/{tenant}/remote/callback?code&state`
pub async fn callback(
    State(state): State<Services>,
    Path(tenant): Path<String>,
    Query(mut q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(ctx) = state.tenancy.resolve(&tenant).await else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "There is no such tenant here.",
        );
    };
    let Some(oauth_state) = q.state.take().filter(|s| !s.is_empty() && s.len() <= 128) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Missing state",
            "The remote server's answer is incomplete.",
        );
    };
    let pending = match remote_connections::consume_pending(
        &state.pool,
        &state.sealer,
        &oauth_state,
        Utc::now(),
    )
    .await
    {
        Ok(Some(p)) if p.who.tenant_id == ctx.tenant.id => p,
        Ok(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Unknown or expired request",
                "This connection attempt is unknown or has expired. Retry from your MCP client.",
            );
        }
        Err(e) => return failure(&state, "", &RemoteError::from_store(&e)),
    };
    let bound = read_cookie(&headers, &cookie_name(&state, &oauth_state)).is_some_and(|nonce| {
        hash::constant_time_eq(&hash::sha256(nonce.as_bytes()), &pending.browser_hash)
    });
    if !bound {
        refused(&state, &ctx, &pending.who, "callback from another browser").await;
        return page(
            StatusCode::FORBIDDEN,
            "Not started here",
            "This connection was started in another browser. Nothing was connected.",
        );
    }
    let Some(server) = server_of(&state, &ctx, &pending.who).await else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown server",
            "This MCP server no longer exists.",
        );
    };
    let clear = binding_cookie(&state, &oauth_state, "", 0);
    let mut response = answer(&state, &ctx, &server, &pending, q).await;
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
}

/// What the remote's answer becomes for the user: a refusal, the connection made, or why not.
async fn answer(
    state: &Services,
    ctx: &TenantContext,
    server: &McpServer,
    pending: &remote_connections::Pending,
    q: CallbackQuery,
) -> Response {
    match (q.error, q.code) {
        (Some(error), _) => {
            super::record(server.name.as_str(), "connect", "denied");
            let error: String = error
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(40)
                .collect();
            page(
                StatusCode::BAD_REQUEST,
                "Not connected",
                &format!(
                    "The server '{}' did not grant access ({error}).",
                    server.name
                ),
            )
        }
        (None, Some(code)) => {
            match finish(state, ctx, server, pending, &code, q.iss.as_deref()).await {
                Ok(()) => page(
                    StatusCode::OK,
                    "Connected",
                    &format!(
                        "Your account at '{}' is connected. You can close this page and return to your MCP client.",
                        server.name
                    ),
                ),
                Err(e) => failure(state, server.name.as_str(), &e),
            }
        }
        (None, None) => page(
            StatusCode::BAD_REQUEST,
            "Missing code",
            "The remote server's answer is incomplete.",
        ),
    }
}

/// Exchanges the code (with the PKCE verifier and `resource`), stores the tokens, audits, and
/// revokes whatever connection this one replaces.
async fn finish(
    state: &Services,
    ctx: &TenantContext,
    server: &McpServer,
    pending: &remote_connections::Pending,
    code: &str,
    iss: Option<&str>,
) -> Result<(), RemoteError> {
    let registration = registration::ensure(state, ctx.slug(), server).await?;
    if iss.is_some_and(|iss| iss.trim_end_matches('/') != registration.issuer.trim_end_matches('/'))
    {
        return Err(RemoteError::Refused(
            "the answer came from another issuer".into(),
        ));
    }
    let creds = ClientCredentials {
        client_id: &registration.client_id,
        client_secret: registration.client_secret.as_deref(),
        auth: ClientAuth::Basic,
    };
    let redirect_uri = registration::callback_url(state, ctx.slug());
    let form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("resource", registration.resource.as_str()),
    ];
    let url = Url::parse(&registration.token_endpoint)
        .map_err(|_| RemoteError::Internal("stored token endpoint is not a URL".into()))?;
    let answered =
        token_endpoint::request(state.upstream.http(), &url, &creds, form, Utc::now(), None).await;
    let answer = match answered {
        Ok(answer) => answer,
        // A 401 at the token endpoint: the remote refused the bridge's registration.
        Err(UpstreamError::Config(reason)) => {
            registration::forget(state, server.id).await;
            return Err(RemoteError::Refused(reason));
        }
        Err(UpstreamError::Rejected(reason)) => return Err(RemoteError::Refused(reason)),
        Err(other) => return Err(RemoteError::from_upstream(&other)),
    };
    let (id, replaced) =
        remote_connections::connect(&state.pool, &state.sealer, &pending.who, &answer.tokens)
            .await
            .map_err(|e| RemoteError::from_store(&e))?;
    let entry = AuditEntry {
        tenant_id: Some(ctx.tenant.id),
        actor: "user",
        action: "remote.connect",
        target_type: Some("remote_connection"),
        target_id: Some(id.to_string()),
        before: None,
        after: Some(
            serde_json::json!({"server": server.name, "subject": pending.who.subject,
            "scopes": answer.tokens.scopes, "refreshable": answer.tokens.refresh_token.is_some()}),
        ),
        request_id: None,
    };
    if let Ok(mut conn) = state.pool.acquire().await
        && let Err(e) = audit::record(&mut conn, &entry).await
    {
        tracing::warn!(error = %e, "could not audit a remote connect");
    }
    if let Some(old) = replaced {
        super::revoke::at_remote(state, &registration, &old).await;
    }
    super::record(server.name.as_str(), "connect", "ok");
    Ok(())
}
